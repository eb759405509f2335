package flight

import (
	"context"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql/schema_ref"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/pocketbase/dbx"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Keys and type metadata. Every lookup reads SQLite's pragma
// table-valued functions with the table name as a bound parameter; no
// client string is ever assembled into SQL. Internal tables are reported
// as if they did not exist.

// xdbcType is one row of GetXdbcTypeInfo.
type xdbcType struct {
	name      string
	dataType  int32 // java.sql.Types code
	size      int32
	prefix    string
	suffix    string
	caseSens  bool
	fixedPrec bool
}

// xdbcTypes are the types results use (see colKind), sorted by data type
// as JDBC expects.
var xdbcTypes = []xdbcType{
	{name: "BLOB", dataType: -4, size: 1 << 30, prefix: "X'", suffix: "'"},
	{name: "INTEGER", dataType: -5, size: 19},
	{name: "NUMERIC", dataType: 2, size: 15},
	{name: "REAL", dataType: 8, size: 15},
	{name: "TEXT", dataType: 12, size: 1 << 30, prefix: "'", suffix: "'", caseSens: true},
	{name: "BOOLEAN", dataType: 16, size: 1},
	{name: "TIMESTAMP", dataType: 93, size: 24, prefix: "'", suffix: "'"},
}

// GetFlightInfoXdbcTypeInfo announces the type list.
func (s *Server) GetFlightInfoXdbcTypeInfo(_ context.Context, _ flightsql.GetXdbcTypeInfo, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	return catalogInfo(desc, schema_ref.XdbcTypeInfo), nil
}

// DoGetXdbcTypeInfo streams the types, filtered by data type if asked.
func (s *Server) DoGetXdbcTypeInfo(_ context.Context, cmd flightsql.GetXdbcTypeInfo) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema_ref.XdbcTypeInfo)
	defer b.Release()

	for _, t := range xdbcTypes {
		if dt := cmd.GetDataType(); dt != nil && *dt != t.dataType {
			continue
		}

		b.Field(0).(*array.StringBuilder).Append(t.name)
		b.Field(1).(*array.Int32Builder).Append(t.dataType)
		b.Field(2).(*array.Int32Builder).Append(t.size)
		appendOptString(b.Field(3), t.prefix)
		appendOptString(b.Field(4), t.suffix)
		b.Field(5).AppendNull()
		b.Field(6).(*array.Int32Builder).Append(1) // nullable
		b.Field(7).(*array.BooleanBuilder).Append(t.caseSens)
		b.Field(8).(*array.Int32Builder).Append(3) // searchable
		b.Field(9).(*array.BooleanBuilder).Append(false)
		b.Field(10).(*array.BooleanBuilder).Append(t.fixedPrec)
		b.Field(11).(*array.BooleanBuilder).Append(t.dataType == -5)
		b.Field(12).(*array.StringBuilder).Append(t.name)
		b.Field(13).AppendNull()
		b.Field(14).AppendNull()
		b.Field(15).(*array.Int32Builder).Append(t.dataType)
		b.Field(16).AppendNull()
		if t.dataType == -5 || t.dataType == 2 || t.dataType == 8 {
			b.Field(17).(*array.Int32Builder).Append(10)
		} else {
			b.Field(17).AppendNull()
		}
		b.Field(18).AppendNull()
	}

	return schema_ref.XdbcTypeInfo, oneBatch(b.NewRecordBatch()), nil
}

func appendOptString(b array.Builder, v string) {
	if v == "" {
		b.AppendNull()
		return
	}
	b.(*array.StringBuilder).Append(v)
}

// tableRefOK reports whether a TableRef names a visible table.
func tableRefOK(ref flightsql.TableRef) bool {
	return catalogMatches(ref.Catalog) && (ref.DBSchema == nil || *ref.DBSchema == "" || *ref.DBSchema == dbSchemaName) &&
		ref.Table != "" && !isInternalTable(ref.Table)
}

// GetFlightInfoPrimaryKeys announces a table's primary key.
func (s *Server) GetFlightInfoPrimaryKeys(_ context.Context, _ flightsql.TableRef, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	return catalogInfo(desc, schema_ref.PrimaryKeys), nil
}

// DoGetPrimaryKeys streams the primary key columns in key order.
func (s *Server) DoGetPrimaryKeys(ctx context.Context, ref flightsql.TableRef) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema_ref.PrimaryKeys)
	defer b.Release()

	if tableRefOK(ref) {
		var cols []struct {
			Name string `db:"name"`
			PK   int32  `db:"pk"`
		}
		err := s.app.ConcurrentDB().NewQuery("SELECT name, pk FROM pragma_table_info({:t}) WHERE pk > 0 ORDER BY pk").
			WithContext(ctx).Bind(dbx.Params{"t": ref.Table}).All(&cols)
		if err != nil {
			return nil, nil, status.Errorf(codes.Internal, "reading primary key of %q: %v", ref.Table, err)
		}

		for _, c := range cols {
			b.Field(0).AppendNull()
			b.Field(1).(*array.StringBuilder).Append(dbSchemaName)
			b.Field(2).(*array.StringBuilder).Append(ref.Table)
			b.Field(3).(*array.StringBuilder).Append(c.Name)
			b.Field(4).(*array.Int32Builder).Append(c.PK)
			b.Field(5).AppendNull()
		}
	}

	return schema_ref.PrimaryKeys, oneBatch(b.NewRecordBatch()), nil
}

// foreignKey is one column pair of a foreign key.
type foreignKey struct {
	fkTable, fkColumn string
	pkTable, pkColumn string
	seq               int32
	onUpdate          uint8
	onDelete          uint8
}

// foreignKeys reads the foreign keys declared by table (its imported keys).
func (s *Server) foreignKeys(ctx context.Context, table string) ([]foreignKey, error) {
	var rows []struct {
		ID       int     `db:"id"`
		Seq      int32   `db:"seq"`
		Table    string  `db:"table"`
		From     string  `db:"from"`
		To       *string `db:"to"`
		OnUpdate string  `db:"on_update"`
		OnDelete string  `db:"on_delete"`
	}
	err := s.app.ConcurrentDB().NewQuery(`SELECT id, seq, "table", "from", "to", on_update, on_delete FROM pragma_foreign_key_list({:t}) ORDER BY id, seq`).
		WithContext(ctx).Bind(dbx.Params{"t": table}).All(&rows)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "reading foreign keys of %q: %v", table, err)
	}

	keys := make([]foreignKey, 0, len(rows))
	for _, r := range rows {
		if isInternalTable(r.Table) {
			continue
		}
		to := ""
		if r.To != nil {
			to = *r.To
		}
		if to == "" {
			// REFERENCES t without columns means t's primary key.
			to = s.pkColumn(ctx, r.Table, int(r.Seq))
		}
		keys = append(keys, foreignKey{
			fkTable: table, fkColumn: r.From, pkTable: r.Table, pkColumn: to,
			seq: r.Seq + 1, onUpdate: fkRule(r.OnUpdate), onDelete: fkRule(r.OnDelete),
		})
	}
	return keys, nil
}

// pkColumn returns the seq-th primary key column of table.
func (s *Server) pkColumn(ctx context.Context, table string, seq int) string {
	var names []string
	_ = s.app.ConcurrentDB().NewQuery("SELECT name FROM pragma_table_info({:t}) WHERE pk > 0 ORDER BY pk").
		WithContext(ctx).Bind(dbx.Params{"t": table}).Column(&names)
	if seq < len(names) {
		return names[seq]
	}
	return "rowid"
}

// fkRule maps SQLite's action names to Flight SQL's UpdateDeleteRules.
func fkRule(action string) uint8 {
	switch strings.ToUpper(action) {
	case "CASCADE":
		return 0
	case "RESTRICT":
		return 1
	case "SET NULL":
		return 2
	case "SET DEFAULT":
		return 4
	default:
		return 3 // NO ACTION
	}
}

// keysBatch streams foreign keys in the shared keys schema.
func keysBatch(keys []foreignKey) <-chan flight.StreamChunk {
	sort.SliceStable(keys, func(i, j int) bool {
		if keys[i].pkTable != keys[j].pkTable {
			return keys[i].pkTable < keys[j].pkTable
		}
		return keys[i].fkTable < keys[j].fkTable
	})

	b := array.NewRecordBuilder(memory.DefaultAllocator, schema_ref.ImportedExportedKeysAndCrossReference)
	defer b.Release()

	for _, k := range keys {
		b.Field(0).AppendNull()
		b.Field(1).(*array.StringBuilder).Append(dbSchemaName)
		b.Field(2).(*array.StringBuilder).Append(k.pkTable)
		b.Field(3).(*array.StringBuilder).Append(k.pkColumn)
		b.Field(4).AppendNull()
		b.Field(5).(*array.StringBuilder).Append(dbSchemaName)
		b.Field(6).(*array.StringBuilder).Append(k.fkTable)
		b.Field(7).(*array.StringBuilder).Append(k.fkColumn)
		b.Field(8).(*array.Int32Builder).Append(k.seq)
		b.Field(9).AppendNull()
		b.Field(10).AppendNull()
		b.Field(11).(*array.Uint8Builder).Append(k.onUpdate)
		b.Field(12).(*array.Uint8Builder).Append(k.onDelete)
	}
	return oneBatch(b.NewRecordBatch())
}

// GetFlightInfoImportedKeys announces the keys a table references.
func (s *Server) GetFlightInfoImportedKeys(_ context.Context, _ flightsql.TableRef, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	return catalogInfo(desc, schema_ref.ImportedKeys), nil
}

// DoGetImportedKeys streams the foreign keys declared by the table.
func (s *Server) DoGetImportedKeys(ctx context.Context, ref flightsql.TableRef) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	var keys []foreignKey
	if tableRefOK(ref) {
		var err error
		if keys, err = s.foreignKeys(ctx, ref.Table); err != nil {
			return nil, nil, err
		}
	}
	return schema_ref.ImportedKeys, keysBatch(keys), nil
}

// GetFlightInfoExportedKeys announces the keys referencing a table.
func (s *Server) GetFlightInfoExportedKeys(_ context.Context, _ flightsql.TableRef, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	return catalogInfo(desc, schema_ref.ExportedKeys), nil
}

// DoGetExportedKeys streams the foreign keys of every table that
// reference the given one.
func (s *Server) DoGetExportedKeys(ctx context.Context, ref flightsql.TableRef) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	keys, err := s.referencing(ctx, ref, "")
	if err != nil {
		return nil, nil, err
	}
	return schema_ref.ExportedKeys, keysBatch(keys), nil
}

// referencing collects keys pointing at ref's table, from fkTable only
// when it is not empty.
func (s *Server) referencing(ctx context.Context, ref flightsql.TableRef, fkTable string) ([]foreignKey, error) {
	if !tableRefOK(ref) {
		return nil, nil
	}

	tables, err := s.listTables(ctx)
	if err != nil {
		return nil, err
	}

	var keys []foreignKey
	for _, t := range tables {
		if t.kind != tableTypeTable || (fkTable != "" && t.name != fkTable) {
			continue
		}
		fks, err := s.foreignKeys(ctx, t.name)
		if err != nil {
			return nil, err
		}
		for _, k := range fks {
			if strings.EqualFold(k.pkTable, ref.Table) {
				keys = append(keys, k)
			}
		}
	}
	return keys, nil
}

// GetFlightInfoCrossReference announces the keys between two tables.
func (s *Server) GetFlightInfoCrossReference(_ context.Context, _ flightsql.CrossTableRef, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	return catalogInfo(desc, schema_ref.CrossReference), nil
}

// DoGetCrossReference streams the foreign keys of the fk table that
// reference the pk table.
func (s *Server) DoGetCrossReference(ctx context.Context, cmd flightsql.CrossTableRef) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	var keys []foreignKey
	if tableRefOK(cmd.FKRef) {
		var err error
		if keys, err = s.referencing(ctx, cmd.PKRef, cmd.FKRef.Table); err != nil {
			return nil, nil, err
		}
	}
	return schema_ref.CrossReference, keysBatch(keys), nil
}
