package flight_test

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	pb "github.com/apache/arrow-go/v18/arrow/flight/gen/flight"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func readingsBatch(t *testing.T) array.RecordReader {
	t.Helper()

	schema := arrow.NewSchema([]arrow.Field{
		{Name: "sensor", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "value", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "count", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "ok", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	b.Field(0).(*array.StringBuilder).AppendValues([]string{"s1", "s2", "s3"}, nil)
	b.Field(1).(*array.Float64Builder).AppendValues([]float64{1.5, 2.5, 3.5}, nil)
	b.Field(2).(*array.Int64Builder).AppendValues([]int64{1, 2, 3}, nil)
	b.Field(3).(*array.BooleanBuilder).AppendValues([]bool{true, false, true}, nil)
	rec := b.NewRecordBatch()
	defer rec.Release()

	rdr, err := array.NewRecordReader(schema, []arrow.RecordBatch{rec})
	if err != nil {
		t.Fatal(err)
	}
	return rdr
}

func TestIngestCreatesCollectionAndAppends(t *testing.T) {
	e := newEnv(t)
	cl := e.client(t)
	ctx := basicCtx(suEmail, suPassword)

	opts := &flightsql.ExecuteIngestOpts{
		Table: "readings",
		TableDefinitionOptions: &flightsql.TableDefinitionOptions{
			IfNotExist: pb.CommandStatementIngest_TableDefinitionOptions_TABLE_NOT_EXIST_OPTION_CREATE,
			IfExists:   pb.CommandStatementIngest_TableDefinitionOptions_TABLE_EXISTS_OPTION_APPEND,
		},
	}
	for round := 1; round <= 2; round++ {
		n, err := cl.ExecuteIngest(ctx, readingsBatch(t), opts)
		if err != nil || n != 3 {
			t.Fatalf("ingest round %d: n=%d err=%v", round, n, err)
		}
	}

	col, err := e.app.FindCollectionByNameOrId("readings")
	if err != nil {
		t.Fatalf("ingest did not create a collection: %v", err)
	}
	if col.Fields.GetByName("value") == nil || col.Fields.GetByName("ok") == nil {
		t.Fatalf("collection fields %v", col.Fields.FieldNames())
	}
	recs, err := e.app.FindAllRecords("readings")
	if err != nil || len(recs) != 6 {
		t.Fatalf("records: %d err %v", len(recs), err)
	}
	if len(recs[0].Id) == 0 || recs[0].GetFloat("value") == 0 {
		t.Fatalf("record %v", recs[0])
	}

	// Failing on an existing table, and never into internal tables.
	opts.TableDefinitionOptions.IfExists = pb.CommandStatementIngest_TableDefinitionOptions_TABLE_EXISTS_OPTION_FAIL
	if _, err := cl.ExecuteIngest(ctx, readingsBatch(t), opts); status.Code(err) != codes.AlreadyExists {
		t.Fatalf("ingest into existing with fail: %v", err)
	}
	opts.Table = "_superusers"
	if _, err := cl.ExecuteIngest(ctx, readingsBatch(t), opts); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("ingest into _superusers: %v", err)
	}
}
