package flight

import (
	"encoding/hex"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// batchBuilder accumulates rows of one result shape into Arrow record
// batches and tracks their approximate encoded size.
type batchBuilder struct {
	shape resultShape
	b     *array.RecordBuilder

	rows  int
	bytes int
	// bad counts values that could not be converted and became null.
	bad int
}

func newBatchBuilder(mem memory.Allocator, shape resultShape) *batchBuilder {
	return &batchBuilder{shape: shape, b: array.NewRecordBuilder(mem, shape.schema)}
}

// release frees the builder's buffers.
func (bb *batchBuilder) release() { bb.b.Release() }

// appendRow converts one scanned row. A value that does not fit its
// column becomes null (counted in bad) instead of failing the query: a
// NUMERIC column may hold text written by an external writer.
func (bb *batchBuilder) appendRow(values []any) {
	for i, v := range values {
		if !appendValue(bb.b.Field(i), bb.shape.kinds[i], v, &bb.bytes) {
			bb.bad++
		}
	}

	// Validity bits and offsets: a few bytes per column and row.
	bb.bytes += 2 * len(values)
	bb.rows++
}

// flush returns the accumulated rows as a record and resets the counters.
func (bb *batchBuilder) flush() arrow.RecordBatch {
	rec := bb.b.NewRecordBatch()
	bb.rows, bb.bytes = 0, 0
	return rec
}

// appendValue appends v converted to kind; it returns false when v had to
// be replaced by null. size grows by the approximate bytes appended.
func appendValue(b array.Builder, kind colKind, v any, size *int) bool {
	if v == nil {
		b.AppendNull()
		return true
	}

	switch kind {
	case kindInt64:
		*size += 8
		n, ok := toInt64(v)
		return appendOr(b, ok, func() { b.(*array.Int64Builder).Append(n) })

	case kindFloat64:
		*size += 8
		f, ok := toFloat64(v)
		return appendOr(b, ok, func() { b.(*array.Float64Builder).Append(f) })

	case kindBool:
		*size++
		t, ok := toBool(v)
		return appendOr(b, ok, func() { b.(*array.BooleanBuilder).Append(t) })

	case kindTimestamp:
		*size += 8
		ts, ok, empty := toTime(v)
		if empty {
			// PocketBase stores an unset date as ''.
			b.AppendNull()
			return true
		}
		return appendOr(b, ok, func() { b.(*array.TimestampBuilder).Append(arrow.Timestamp(ts.UnixMilli())) })

	case kindBinary:
		raw := toBytes(v)
		*size += len(raw)
		b.(*array.BinaryBuilder).Append(raw)
		return true

	case kindUntyped:
		s := renderLossless(v)
		*size += len(s)
		b.(*array.StringBuilder).Append(s)
		return true

	default:
		s := toText(v)
		*size += len(s)
		b.(*array.StringBuilder).Append(s)
		return true
	}
}

func appendOr(b array.Builder, ok bool, appendFn func()) bool {
	if !ok {
		b.AppendNull()
		return false
	}
	appendFn()
	return true
}

// toInt64 accepts integers, integral floats and numeric text.
func toInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case float64:
		return floatToInt(x)
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	case string:
		return parseInt(x)
	case []byte:
		return parseInt(string(x))
	default:
		return 0, false
	}
}

func parseInt(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, true
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return floatToInt(f)
	}
	return 0, false
}

// floatToInt refuses fractions and out-of-range values rather than
// silently truncating them.
func floatToInt(f float64) (int64, bool) {
	if f != math.Trunc(f) || f < math.MinInt64 || f >= math.MaxInt64 {
		return 0, false
	}
	return int64(f), true
}

// toFloat64 accepts numbers and numeric text.
func toFloat64(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int64:
		return float64(x), true
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f, err == nil
	case []byte:
		f, err := strconv.ParseFloat(strings.TrimSpace(string(x)), 64)
		return f, err == nil
	default:
		return 0, false
	}
}

// toBool follows SQLite: a number is true when non-zero; text must be a
// boolean or numeric literal.
func toBool(v any) (bool, bool) {
	switch x := v.(type) {
	case bool:
		return x, true
	case int64:
		return x != 0, true
	case float64:
		return x != 0, true
	case string, []byte:
		s := strings.ToLower(strings.TrimSpace(toText(x)))
		switch s {
		case "true", "t", "yes", "on":
			return true, true
		case "false", "f", "no", "off":
			return false, true
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return f != 0, true
		}
		return false, false
	default:
		return false, false
	}
}

// timeLayouts are tried in order for text dates; PocketBase's own format
// comes first.
var timeLayouts = []string{
	"2006-01-02 15:04:05.000Z",
	"2006-01-02 15:04:05.999999999Z07:00",
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02",
}

// toTime converts a date value; empty reports PocketBase's ” (unset).
func toTime(v any) (t time.Time, ok, empty bool) {
	switch x := v.(type) {
	case time.Time:
		return x.UTC(), true, false
	case string:
		if t, ok := parsePBDate(x); ok {
			return t, true, false
		}
		s := strings.TrimSpace(x)
		if s == "" {
			return time.Time{}, false, true
		}
		for _, layout := range timeLayouts {
			if t, err := time.Parse(layout, s); err == nil {
				return t.UTC(), true, false
			}
		}
		return time.Time{}, false, false
	default:
		return time.Time{}, false, false
	}
}

// toText renders a value of a text column.
func toText(v any) string {
	switch x := v.(type) {
	case string:
		return validUTF8(x)
	case []byte:
		if utf8.Valid(x) {
			return string(x)
		}
		return blobLiteral(x)
	case time.Time:
		// The driver parsed a date; give back PocketBase's layout.
		return x.UTC().Format("2006-01-02 15:04:05.000Z")
	default:
		return renderLossless(v)
	}
}

// renderLossless is the kindUntyped rendering documented on kindUntyped.
func renderLossless(v any) string {
	switch x := v.(type) {
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		if x {
			return "1"
		}
		return "0"
	case string:
		return validUTF8(x)
	case []byte:
		return blobLiteral(x)
	case time.Time:
		return x.UTC().Format("2006-01-02 15:04:05.000Z")
	default:
		return ""
	}
}

func blobLiteral(b []byte) string {
	return "X'" + strings.ToUpper(hex.EncodeToString(b)) + "'"
}

// toBytes renders a value of a BLOB column.
func toBytes(v any) []byte {
	switch x := v.(type) {
	case []byte:
		return x
	case string:
		return []byte(x)
	default:
		return []byte(renderLossless(v))
	}
}

// validUTF8 keeps Arrow utf8 columns valid: SQLite TEXT may hold invalid
// UTF-8 written by external tools; bad bytes become U+FFFD.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// parsePBDate parses PocketBase's own "2006-01-02 15:04:05.000Z" layout
// by hand: it is what nearly every date column holds, and time.Parse was
// a visible share of a full-table scan.
func parsePBDate(s string) (time.Time, bool) {
	if len(s) != 24 || s[4] != '-' || s[7] != '-' || s[10] != ' ' || s[13] != ':' || s[16] != ':' || s[19] != '.' || s[23] != 'Z' {
		return time.Time{}, false
	}

	num := func(from, to int) (int, bool) {
		n := 0
		for i := from; i < to; i++ {
			c := s[i]
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}

	year, ok1 := num(0, 4)
	month, ok2 := num(5, 7)
	day, ok3 := num(8, 10)
	hour, ok4 := num(11, 13)
	minute, ok5 := num(14, 16)
	sec, ok6 := num(17, 19)
	milli, ok7 := num(20, 23)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7) ||
		month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}

	t := time.Date(year, time.Month(month), day, hour, minute, sec, milli*int(time.Millisecond), time.UTC)
	// time.Date normalises 2024-02-31 into March; such text is not a date.
	if t.Day() != day {
		return time.Time{}, false
	}
	return t, true
}
