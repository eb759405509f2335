package flight

import (
	"database/sql"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/pocketbase/pocketbase/core"
	"modernc.org/sqlite"
)

// colKind is the Arrow type of one result column together with the rule
// used to convert SQLite values into it.
type colKind int

const (
	kindUTF8 colKind = iota
	kindInt64
	kindFloat64
	kindBool
	kindTimestamp
	kindBinary
	// kindUntyped is an expression with no declared type (count(*), 1+1,
	// NULL, CAST(...), a subquery). SQLite decides the storage class per
	// row, so any numeric Arrow type would depend on the data. Such columns
	// are always utf8 and every value is rendered losslessly: integers in
	// base 10, reals in the shortest form that parses back to the same
	// float64, text as is, blobs as SQLite's X'hex' literal. The rule is
	// stable for a given query whether the result is empty or not.
	kindUntyped
)

// timestampUTC is the Arrow type of PocketBase date/autodate fields and of
// columns declared DATE, DATETIME or TIMESTAMP.
var timestampUTC = &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}

// arrowType returns the Arrow data type of a column kind.
func (k colKind) arrowType() arrow.DataType {
	switch k {
	case kindInt64:
		return arrow.PrimitiveTypes.Int64
	case kindFloat64:
		return arrow.PrimitiveTypes.Float64
	case kindBool:
		return arrow.FixedWidthTypes.Boolean
	case kindTimestamp:
		return timestampUTC
	case kindBinary:
		return arrow.BinaryTypes.Binary
	default:
		return arrow.BinaryTypes.String
	}
}

// resultShape is the announced schema of a statement and the conversion
// kind of each of its columns.
type resultShape struct {
	schema *arrow.Schema
	kinds  []colKind

	// cols and cache record what the shape was derived from, so a later
	// run can tell cheaply whether it still holds (see stillHolds).
	cols  []sqlite.ColumnInfo
	cache **core.Collection

	// serialized is the IPC form of schema when the shape came through
	// the shape cache; nil otherwise.
	serialized []byte
}

// cacheIdentity identifies the current PocketBase collection cache: every
// collection change stores a new slice, so a different first-element
// address means field types may have changed.
func cacheIdentity(app core.App) **core.Collection {
	cached, _ := app.Store().Get(core.StoreKeyCachedCollections).([]*core.Collection)
	if len(cached) == 0 {
		return nil
	}
	return &cached[0]
}

// stillHolds reports whether a running statement yields the announced
// shape: same collection cache (field types), same column names and same
// declared types. Where a column comes from is not rechecked; a view
// redefined to read another column of the same declared type keeps the
// announced conversion, which never fails (misfits become null).
func (sh resultShape) stillHolds(app core.App, rows interface {
	ColumnTypes() ([]*sql.ColumnType, error)
}) bool {
	if sh.cache == nil || cacheIdentity(app) != sh.cache {
		return false
	}

	types, err := rows.ColumnTypes()
	if err != nil || len(types) != len(sh.cols) {
		return false
	}
	for i, t := range types {
		if t.Name() != sh.cols[i].Name || !strings.EqualFold(t.DatabaseTypeName(), strings.TrimSpace(sh.cols[i].DeclType)) {
			return false
		}
	}
	return true
}

// shapeOf derives a result schema from prepared-statement metadata only,
// so it never depends on the rows a query returns. Every field is
// nullable: SQLite enforces NOT NULL only on writes, and outer joins or
// hidden columns can produce NULL from a NOT NULL column.
func shapeOf(app core.App, cols []sqlite.ColumnInfo) resultShape {
	fields := make([]arrow.Field, len(cols))
	kinds := make([]colKind, len(cols))

	for i, c := range cols {
		kinds[i] = kindOf(app, c)
		fields[i] = arrow.Field{Name: c.Name, Type: kinds[i].arrowType(), Nullable: true, Metadata: columnMetadata(c, kinds[i])}
	}

	return resultShape{schema: arrow.NewSchema(fields, nil), kinds: kinds, cols: cols, cache: cacheIdentity(app)}
}

// kindOf picks the kind of one column: from the PocketBase field when the
// column comes straight from a collection's table, else from its declared
// SQLite type.
func kindOf(app core.App, c sqlite.ColumnInfo) colKind {
	if c.TableName != "" && c.OriginName != "" {
		if k, ok := kindOfField(app, c.TableName, c.OriginName); ok {
			return k
		}
	}

	return kindOfDecl(c.DeclType)
}

// kindOfField maps a collection field. Collections are looked up in
// PocketBase's in-memory cache, so this costs no query.
func kindOfField(app core.App, table, column string) (colKind, bool) {
	collection, err := app.FindCachedCollectionByNameOrId(table)
	if err != nil || collection == nil || collection.Name != table {
		return 0, false
	}

	field := collection.Fields.GetByName(column)
	if field == nil {
		return 0, false
	}

	switch f := field.(type) {
	case *core.NumberField:
		if f.OnlyInt {
			return kindInt64, true
		}
		return kindFloat64, true
	case *core.BoolField:
		return kindBool, true
	case *core.DateField, *core.AutodateField:
		return kindTimestamp, true
	default:
		// text, email, url, editor, password, json, geo point, select,
		// relation and file: all TEXT or JSON text (multi-value fields are
		// JSON arrays).
		return kindUTF8, true
	}
}

// kindOfDecl follows SQLite's column affinity rules (section 3.1 of
// https://www.sqlite.org/datatype3.html), with three refinements for
// declared types SQLite treats as NUMERIC: BOOL* is boolean, JSON is text,
// and DATE/DATETIME/TIMESTAMP are UTC timestamps (the modernc driver
// already returns those as time values).
func kindOfDecl(decl string) colKind {
	d := strings.ToUpper(strings.TrimSpace(decl))

	switch {
	case d == "":
		return kindUntyped
	case strings.Contains(d, "INT"):
		return kindInt64
	case strings.Contains(d, "CHAR"), strings.Contains(d, "CLOB"), strings.Contains(d, "TEXT"), strings.Contains(d, "JSON"):
		return kindUTF8
	case strings.Contains(d, "BLOB"):
		return kindBinary
	case strings.Contains(d, "REAL"), strings.Contains(d, "FLOA"), strings.Contains(d, "DOUB"):
		return kindFloat64
	case strings.Contains(d, "BOOL"):
		return kindBool
	case d == "DATE", d == "DATETIME", d == "TIMESTAMP":
		return kindTimestamp
	default:
		// NUMERIC, DECIMAL(p,s) and any other name: NUMERIC affinity.
		return kindFloat64
	}
}

// columnMetadata describes a result column the way JDBC's
// ResultSetMetaData asks: source table, SQL type name, precision and
// whether it can be written (expressions cannot).
func columnMetadata(c sqlite.ColumnInfo, k colKind) arrow.Metadata {
	b := flightsql.NewColumnMetadataBuilder()
	if c.TableName != "" {
		b.TableName(c.TableName).SchemaName(dbSchemaName)
	}

	typeName := strings.ToUpper(strings.TrimSpace(c.DeclType))
	if typeName == "" {
		typeName = k.sqlTypeName()
	}
	b.TypeName(typeName)

	switch k {
	case kindInt64:
		b.Precision(19).Scale(0)
	case kindFloat64:
		b.Precision(15)
	}

	return b.IsAutoIncrement(false).
		IsCaseSensitive(k == kindUTF8 || k == kindUntyped).
		IsReadOnly(c.OriginName == "").
		IsSearchable(true).
		Metadata()
}

// sqlTypeName is the GetXdbcTypeInfo name of a kind.
func (k colKind) sqlTypeName() string {
	switch k {
	case kindInt64:
		return "INTEGER"
	case kindFloat64:
		return "REAL"
	case kindBool:
		return "BOOLEAN"
	case kindTimestamp:
		return "TIMESTAMP"
	case kindBinary:
		return "BLOB"
	default:
		return "TEXT"
	}
}
