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
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// SQLite has no catalogs and one schema that matters, "main". Tables are
// reported with a null catalog and db schema "main".
const dbSchemaName = "main"

// Table types as reported by GetTableTypes and GetTables.
const (
	tableTypeTable = "TABLE"
	tableTypeView  = "VIEW"
)

// catalogInfo returns a FlightInfo whose ticket is the command itself:
// catalog calls carry no client SQL, so there is nothing to keep server
// side, and DoGet re-reads the (authenticated) command.
func catalogInfo(desc *flight.FlightDescriptor, schema *arrow.Schema) *flight.FlightInfo {
	return &flight.FlightInfo{
		Schema:           flight.SerializeSchema(schema, memory.DefaultAllocator),
		FlightDescriptor: desc,
		Endpoint:         []*flight.FlightEndpoint{{Ticket: &flight.Ticket{Ticket: desc.Cmd}}},
		TotalRecords:     -1,
		TotalBytes:       -1,
	}
}

// oneBatch sends rec (if it has rows) and closes the channel.
func oneBatch(rec arrow.RecordBatch) <-chan flight.StreamChunk {
	ch := make(chan flight.StreamChunk, 1)
	if rec.NumRows() > 0 {
		ch <- flight.StreamChunk{Data: rec}
	} else {
		rec.Release()
	}
	close(ch)
	return ch
}

// GetFlightInfoCatalogs announces the (empty) catalog list.
func (s *Server) GetFlightInfoCatalogs(_ context.Context, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	return catalogInfo(desc, schema_ref.Catalogs), nil
}

// DoGetCatalogs streams no rows: SQLite has no catalogs.
func (s *Server) DoGetCatalogs(context.Context) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema_ref.Catalogs)
	defer b.Release()

	return schema_ref.Catalogs, oneBatch(b.NewRecordBatch()), nil
}

// GetFlightInfoSchemas announces the db schema list.
func (s *Server) GetFlightInfoSchemas(_ context.Context, _ flightsql.GetDBSchemas, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	return catalogInfo(desc, schema_ref.DBSchemas), nil
}

// DoGetDBSchemas streams "main" when it matches the filters.
func (s *Server) DoGetDBSchemas(_ context.Context, cmd flightsql.GetDBSchemas) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema_ref.DBSchemas)
	defer b.Release()

	if catalogMatches(cmd.GetCatalog()) && patternMatches(cmd.GetDBSchemaFilterPattern(), dbSchemaName) {
		b.Field(0).AppendNull()
		b.Field(1).(*array.StringBuilder).Append(dbSchemaName)
	}

	return schema_ref.DBSchemas, oneBatch(b.NewRecordBatch()), nil
}

// GetFlightInfoTableTypes announces the table type list.
func (s *Server) GetFlightInfoTableTypes(_ context.Context, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	return catalogInfo(desc, schema_ref.TableTypes), nil
}

// DoGetTableTypes streams TABLE and VIEW.
func (s *Server) DoGetTableTypes(context.Context) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema_ref.TableTypes)
	defer b.Release()

	b.Field(0).(*array.StringBuilder).AppendValues([]string{tableTypeTable, tableTypeView}, nil)

	return schema_ref.TableTypes, oneBatch(b.NewRecordBatch()), nil
}

// GetFlightInfoTables announces the table list, with the schema column
// when include_schema is set.
func (s *Server) GetFlightInfoTables(_ context.Context, cmd flightsql.GetTables, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	return catalogInfo(desc, tablesSchema(cmd.GetIncludeSchema())), nil
}

func tablesSchema(includeSchema bool) *arrow.Schema {
	if includeSchema {
		return schema_ref.TablesWithIncludedSchema
	}
	return schema_ref.Tables
}

// userTable is one table or view a client may see.
type userTable struct {
	name, kind string
}

// listTables reads sqlite_master with a fixed query; every client filter
// is applied in Go afterwards, so no client string ever reaches SQL.
func (s *Server) listTables(ctx context.Context) ([]userTable, error) {
	var rows []struct {
		Name string `db:"name"`
		Type string `db:"type"`
	}

	err := s.app.ConcurrentDB().NewQuery("SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view')").
		WithContext(ctx).All(&rows)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "listing tables: %v", err)
	}

	tables := make([]userTable, 0, len(rows))
	for _, r := range rows {
		if isInternalTable(r.Name) {
			continue
		}
		kind := tableTypeTable
		if r.Type == "view" {
			kind = tableTypeView
		}
		tables = append(tables, userTable{name: r.Name, kind: kind})
	}

	sort.Slice(tables, func(i, j int) bool { return tables[i].name < tables[j].name })
	return tables, nil
}

// DoGetTables streams the tables and views that match the filters.
func (s *Server) DoGetTables(ctx context.Context, cmd flightsql.GetTables) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	schema := tablesSchema(cmd.GetIncludeSchema())

	tables, err := s.listTables(ctx)
	if err != nil {
		return nil, nil, err
	}

	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()

	if !catalogMatches(cmd.GetCatalog()) || !patternMatches(cmd.GetDBSchemaFilterPattern(), dbSchemaName) {
		return schema, oneBatch(b.NewRecordBatch()), nil
	}

	for _, t := range tables {
		if !patternMatches(cmd.GetTableNameFilterPattern(), t.name) || !typeMatches(cmd.GetTableTypes(), t.kind) {
			continue
		}

		var serialized []byte
		if cmd.GetIncludeSchema() {
			// The same derivation as a query, so the schema equals what
			// SELECT * FROM t streams. The name comes from sqlite_master.
			shape, err := s.describe(ctx, "SELECT * FROM "+quoteIdent(t.name))
			if err != nil {
				return nil, nil, status.Errorf(status.Code(err), "describing table %q: %v", t.name, status.Convert(err).Message())
			}
			serialized = flight.SerializeSchema(shape.schema, memory.DefaultAllocator)
		}

		b.Field(0).AppendNull()
		b.Field(1).(*array.StringBuilder).Append(dbSchemaName)
		b.Field(2).(*array.StringBuilder).Append(t.name)
		b.Field(3).(*array.StringBuilder).Append(t.kind)
		if cmd.GetIncludeSchema() {
			b.Field(4).(*array.BinaryBuilder).Append(serialized)
		}
	}

	return schema, oneBatch(b.NewRecordBatch()), nil
}

// quoteIdent quotes an SQLite identifier.
func quoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// catalogMatches: only "no catalog filter" or the empty catalog match.
func catalogMatches(catalog *string) bool {
	return catalog == nil || *catalog == ""
}

// typeMatches compares table types case-insensitively; no filter matches all.
func typeMatches(types []string, kind string) bool {
	if len(types) == 0 {
		return true
	}
	for _, t := range types {
		if strings.EqualFold(strings.TrimSpace(t), kind) {
			return true
		}
	}
	return false
}

// patternMatches applies a Flight SQL filter pattern (SQL LIKE: % is any
// run, _ any one character, \ escapes) in Go. It is case-sensitive, as
// table names are compared exactly elsewhere in Flight SQL.
func patternMatches(pattern *string, name string) bool {
	if pattern == nil {
		return true
	}
	return likeMatch([]rune(*pattern), []rune(name))
}

// likeMatch is an iterative LIKE matcher with backtracking to the last
// %, so hostile patterns cost O(len(p)*len(s)) rather than exponential time.
func likeMatch(p, s []rune) bool {
	pi, si := 0, 0
	starP, starS := -1, 0

	for si < len(s) {
		switch {
		case pi < len(p) && p[pi] == '%':
			starP, starS = pi, si
			pi++
		case pi < len(p) && (p[pi] == '_' || literalAt(p, pi) == s[si]):
			pi += literalWidth(p, pi)
			si++
		case starP >= 0:
			// Let the last % swallow one more character.
			starS++
			pi, si = starP+1, starS
		default:
			return false
		}
	}

	for pi < len(p) && p[pi] == '%' {
		pi++
	}
	return pi == len(p)
}

// literalAt is the character p[i] stands for, honouring a \ escape.
func literalAt(p []rune, i int) rune {
	if p[i] == '\\' && i+1 < len(p) {
		return p[i+1]
	}
	return p[i]
}

func literalWidth(p []rune, i int) int {
	if p[i] == '\\' && i+1 < len(p) {
		return 2
	}
	return 1
}
