package flight

import (
	"context"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// maxIngestBytes caps one bulk ingest held in memory. The whole upload is
// read before PocketBase's writer is taken, so a slow client can never
// hold the writer while its data trickles in.
const maxIngestBytes = 256 << 20

// DoPutCommandStatementIngest appends the uploaded batches to a table in
// one transaction. A missing table is created, when the client asks, as a
// PocketBase base collection (so the dashboard and REST API see it) with
// one field per column.
func (s *Server) DoPutCommandStatementIngest(ctx context.Context, cmd flightsql.StatementIngest, rdr flight.MessageReader) (int64, error) {
	ident, ok := identityFrom(ctx)
	if !ok {
		return 0, status.Error(codes.Unauthenticated, "not authenticated")
	}
	if err := s.requireWriter(ident); err != nil {
		return 0, err
	}

	table := cmd.GetTable()
	switch {
	case table == "" || isInternalTable(table):
		return 0, status.Errorf(codes.PermissionDenied, "cannot ingest into %q", table)
	case cmd.GetTemporary():
		return 0, status.Error(codes.InvalidArgument, "temporary tables are not supported")
	case cmd.GetCatalog() != "" || (cmd.GetSchema() != "" && cmd.GetSchema() != dbSchemaName):
		return 0, status.Error(codes.InvalidArgument, "only the main schema exists")
	}

	batches, schema, err := readIngest(rdr)
	defer releaseAll(batches)
	if err != nil {
		return 0, err
	}

	opts := cmd.GetTableDefinitionOptions()
	columns, err := s.tableColumns(ctx, table)
	if err != nil {
		return 0, err
	}

	replace := false
	if len(columns) == 0 {
		if opts.GetIfNotExist() != flightsql.TableDefinitionOptionsTableNotExistOption(1) { // CREATE
			return 0, status.Errorf(codes.NotFound, "table %q does not exist", table)
		}
		if err := s.createCollection(table, schema); err != nil {
			return 0, err
		}
		if columns, err = s.tableColumns(ctx, table); err != nil {
			return 0, err
		}
	} else {
		switch opts.GetIfExists() {
		case flightsql.TableDefinitionOptionsTableExistsOption(2): // APPEND
		case flightsql.TableDefinitionOptionsTableExistsOption(3): // REPLACE
			replace = true
		default:
			return 0, status.Errorf(codes.AlreadyExists, "table %q exists; ingest with append or replace", table)
		}
	}

	// Every uploaded column must be a column of the table; the names are
	// then known identifiers and are quoted.
	names := make([]string, schema.NumFields())
	marks := make([]string, schema.NumFields())
	for i, f := range schema.Fields() {
		if !columns[strings.ToLower(f.Name)] {
			return 0, status.Errorf(codes.InvalidArgument, "table %q has no column %q", table, f.Name)
		}
		names[i] = quoteIdent(f.Name)
		marks[i] = "?"
	}
	insert := "INSERT INTO " + quoteIdent(table) + " (" + strings.Join(names, ", ") + ") VALUES (" + strings.Join(marks, ", ") + ")"

	var rows [][]any
	for _, b := range batches {
		r, err := argRows(b)
		if err != nil {
			return 0, status.Errorf(codes.InvalidArgument, "converting ingest data: %v", err)
		}
		rows = append(rows, r...)
	}

	if txID := cmd.GetTransactionId(); len(txID) > 0 {
		tx, err := s.txns.get(txID, ident.owner())
		if err != nil {
			return 0, err
		}
		if replace {
			if _, err := tx.write(ctx, s, "DELETE FROM "+quoteIdent(table), nil); err != nil {
				return 0, err
			}
		}
		return tx.write(ctx, s, insert, rows)
	}

	return s.ingestRows(ctx, table, insert, rows, replace)
}

// ingestRows inserts all rows in one transaction on PocketBase's writer.
func (s *Server) ingestRows(ctx context.Context, table, insert string, rows [][]any, replace bool) (int64, error) {
	return s.writeInTransaction(ctx, func(w *writer) (int64, error) {
		if replace {
			if _, err := w.exec(ctx, "DELETE FROM "+quoteIdent(table), nil); err != nil {
				return 0, err
			}
		}
		return w.exec(ctx, insert, rows)
	})
}

// readIngest reads the whole upload, bounded by maxIngestBytes.
func readIngest(rdr flight.MessageReader) ([]arrow.RecordBatch, *arrow.Schema, error) {
	var batches []arrow.RecordBatch
	size := 0
	for rdr.Next() {
		b := rdr.RecordBatch()
		b.Retain()
		batches = append(batches, b)

		for _, col := range b.Columns() {
			for _, buf := range col.Data().Buffers() {
				if buf != nil {
					size += buf.Len()
				}
			}
		}
		if size > maxIngestBytes {
			return batches, nil, status.Errorf(codes.ResourceExhausted, "ingest larger than %d MiB; split it", maxIngestBytes>>20)
		}
	}
	if err := rdr.Err(); err != nil {
		return batches, nil, status.Errorf(codes.InvalidArgument, "reading ingest stream: %v", err)
	}
	return batches, rdr.Schema(), nil
}

// tableColumns returns the lower-cased column names of table, none when
// it does not exist.
func (s *Server) tableColumns(ctx context.Context, table string) (map[string]bool, error) {
	var names []string
	err := s.app.ConcurrentDB().NewQuery("SELECT name FROM pragma_table_info({:t})").
		WithContext(ctx).Bind(dbx.Params{"t": table}).Column(&names)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "reading columns of %q: %v", table, err)
	}

	cols := make(map[string]bool, len(names))
	for _, n := range names {
		cols[strings.ToLower(n)] = true
	}
	return cols, nil
}

// createCollection saves a base collection with a field per column. An
// "id" column maps onto the collection's own id field.
func (s *Server) createCollection(name string, schema *arrow.Schema) error {
	c := core.NewBaseCollection(name)

	for _, f := range schema.Fields() {
		if strings.EqualFold(f.Name, core.FieldNameId) {
			continue
		}

		var field core.Field
		switch f.Type.ID() {
		case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
			field = &core.NumberField{Name: f.Name, OnlyInt: true}
		case arrow.FLOAT16, arrow.FLOAT32, arrow.FLOAT64, arrow.DECIMAL128, arrow.DECIMAL256:
			field = &core.NumberField{Name: f.Name}
		case arrow.BOOL:
			field = &core.BoolField{Name: f.Name}
		case arrow.TIMESTAMP, arrow.DATE32, arrow.DATE64:
			field = &core.DateField{Name: f.Name}
		case arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW:
			field = &core.TextField{Name: f.Name}
		default:
			return status.Errorf(codes.InvalidArgument, "column %q: type %s has no PocketBase field", f.Name, f.Type)
		}
		c.Fields.Add(field)
	}

	if err := s.app.Save(c); err != nil {
		return status.Errorf(codes.InvalidArgument, "creating collection %q: %v", name, err)
	}
	s.logger.Info("flight ingest created collection", "collection", name)
	return nil
}
