package flight

import (
	"bytes"
	"unicode/utf8"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	sqlite3 "modernc.org/sqlite/lib"
)

// appendRawRow converts the current row of stmt into bb. It gives exactly
// what appendRow gives for the values the modernc driver would have
// produced (see rows.Next in modernc.org/sqlite): INTEGER as int64, REAL
// as float64, TEXT as string and BLOB as []byte (an empty blob as a nil
// []byte, which is still not NULL). Columns declared DATE, DATETIME or TIMESTAMP, which the driver
// parses itself, never come here (rawEligible refuses them).
//
// The common cases append straight from SQLite's memory; the rare ones
// (text in a number column, invalid UTF-8, ...) build the driver's Go
// value and go through appendValue, so both paths share one rule book.
func appendRawRow(c *rawConn, stmt uintptr, bb *batchBuilder) {
	for i, kind := range bb.shape.kinds {
		if !appendRawValue(c, stmt, int32(i), bb.b.Field(i), kind, &bb.bytes) {
			bb.bad++
		}
	}

	// Validity bits and offsets, as appendRow counts them.
	bb.bytes += 2 * len(bb.shape.kinds)
	bb.rows++
}

// appendRawValue appends column col of the current row; it returns false
// when the value became null because it did not fit kind.
func appendRawValue(c *rawConn, stmt uintptr, col int32, b array.Builder, kind colKind, size *int) bool {
	switch sqlite3.Xsqlite3_column_type(c.tls, stmt, col) {
	case sqlite3.SQLITE_NULL:
		b.AppendNull()
		return true

	case sqlite3.SQLITE_INTEGER:
		n := sqlite3.Xsqlite3_column_int64(c.tls, stmt, col)
		switch kind {
		case kindInt64:
			*size += 8
			b.(*array.Int64Builder).Append(n)
			return true
		case kindFloat64:
			*size += 8
			b.(*array.Float64Builder).Append(float64(n))
			return true
		case kindBool:
			*size++
			b.(*array.BooleanBuilder).Append(n != 0)
			return true
		}
		return appendValue(b, kind, n, size)

	case sqlite3.SQLITE_FLOAT:
		f := sqlite3.Xsqlite3_column_double(c.tls, stmt, col)
		if kind == kindFloat64 {
			*size += 8
			b.(*array.Float64Builder).Append(f)
			return true
		}
		return appendValue(b, kind, f, size)

	case sqlite3.SQLITE_TEXT:
		// column_text before column_bytes: the order SQLite documents.
		p := sqlite3.Xsqlite3_column_text(c.tls, stmt, col)
		raw := cBytes(p, sqlite3.Xsqlite3_column_bytes(c.tls, stmt, col))
		return appendRawText(b, kind, raw, size)

	case sqlite3.SQLITE_BLOB:
		p := sqlite3.Xsqlite3_column_blob(c.tls, stmt, col)
		raw := cBytes(p, sqlite3.Xsqlite3_column_bytes(c.tls, stmt, col))
		if kind == kindBinary {
			*size += len(raw)
			b.(*array.BinaryBuilder).Append(raw)
			return true
		}
		return appendValue(b, kind, bytes.Clone(raw), size)
	}

	b.AppendNull()
	return false
}

// appendRawText appends a TEXT value viewed in SQLite's memory.
func appendRawText(b array.Builder, kind colKind, raw []byte, size *int) bool {
	switch kind {
	case kindUTF8, kindUntyped:
		// toText and renderLossless both keep valid UTF-8 text as is: one
		// copy, from SQLite's memory into the builder's buffer.
		if utf8.Valid(raw) {
			*size += len(raw)
			b.(*array.StringBuilder).BinaryBuilder.Append(raw)
			return true
		}

	case kindTimestamp:
		// PocketBase's own layout is parsed in place; the view is not kept.
		if t, ok := parsePBDate(unsafe.String(unsafe.SliceData(raw), len(raw))); ok {
			*size += 8
			b.(*array.TimestampBuilder).Append(arrow.Timestamp(t.UnixMilli()))
			return true
		}

	case kindBinary:
		*size += len(raw)
		b.(*array.BinaryBuilder).Append(raw)
		return true
	}

	return appendValue(b, kind, string(raw), size)
}
