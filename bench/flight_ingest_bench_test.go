package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	pb "github.com/apache/arrow-go/v18/arrow/flight/gen/flight"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tests"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/arrow-mino/arrow-mino/flight"
)

// ingestBenchRows is how many records each side writes.
const ingestBenchRows = 20_000

// BenchmarkFlightIngest writes the same records into a PocketBase
// collection twice: through PocketBase itself (app.Save for each, in one
// transaction: the baseline) and through Flight SQL bulk ingest, whose
// rows are validated, stamped and announced to realtime like saves.
func BenchmarkFlightIngest(b *testing.B) {
	app, err := tests.NewTestApp(b.TempDir())
	if err != nil {
		b.Fatalf("bootstrapping pocketbase: %v", err)
	}
	defer app.Cleanup()
	if err := addBenchSuperuser(app); err != nil {
		b.Fatal(err)
	}

	for _, name := range []string{"readings_saved", "readings_ingested"} {
		c := core.NewBaseCollection(name)
		c.Fields.Add(&core.TextField{Name: "sensor", Required: true, Max: 64})
		c.Fields.Add(&core.NumberField{Name: "value"})
		c.Fields.Add(&core.NumberField{Name: "count", OnlyInt: true})
		c.Fields.Add(&core.BoolField{Name: "ok"})
		c.Fields.Add(&core.AutodateField{Name: "created", OnCreate: true})
		c.Fields.Add(&core.AutodateField{Name: "updated", OnCreate: true, OnUpdate: true})
		if err := app.Save(c); err != nil {
			b.Fatalf("creating %s: %v", name, err)
		}
	}

	srv := flight.New(app, flight.Options{Addr: "127.0.0.1:0"})
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	defer srv.Stop()

	b.ResetTimer()

	savedSecs := saveThroughPocketBase(b, app, "readings_saved")
	ingestedSecs := ingestThroughFlight(b, srv.Addr(), "readings_ingested")

	fmt.Printf("writing %d records into a collection (text, number, int, bool, two autodates):\n", ingestBenchRows)
	fmt.Printf("  PocketBase app.Save, one transaction: %.2fs, %.0f records/s\n", savedSecs, ingestBenchRows/savedSecs)
	fmt.Printf("  Flight SQL bulk ingest (validated):   %.2fs, %.0f records/s\n", ingestedSecs, ingestBenchRows/ingestedSecs)
	fmt.Printf("  ingest vs app.Save: %.2fx\n", savedSecs/ingestedSecs)

	for _, name := range []string{"readings_saved", "readings_ingested"} {
		n, err := app.CountRecords(name)
		if err != nil || n != ingestBenchRows {
			b.Fatalf("%s holds %d records (%v), want %d", name, n, err, ingestBenchRows)
		}
	}
}

// saveThroughPocketBase saves every record with app.Save in one
// transaction and returns the seconds taken.
func saveThroughPocketBase(b *testing.B, app core.App, collection string) float64 {
	c, err := app.FindCollectionByNameOrId(collection)
	if err != nil {
		b.Fatal(err)
	}

	start := time.Now()
	err = app.RunInTransaction(func(tx core.App) error {
		for i := range ingestBenchRows {
			r := core.NewRecord(c)
			r.Set("sensor", fmt.Sprintf("sensor-%d", i%100))
			r.Set("value", float64(i)/3)
			r.Set("count", i)
			r.Set("ok", i%2 == 0)
			if err := tx.Save(r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatalf("saving records: %v", err)
	}
	return time.Since(start).Seconds()
}

// ingestThroughFlight sends the same records as one Arrow batch with
// CommandStatementIngest and returns the seconds taken.
func ingestThroughFlight(b *testing.B, addr, collection string) float64 {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "sensor", Type: arrow.BinaryTypes.String},
		{Name: "value", Type: arrow.PrimitiveTypes.Float64},
		{Name: "count", Type: arrow.PrimitiveTypes.Int64},
		{Name: "ok", Type: arrow.FixedWidthTypes.Boolean},
	}, nil)
	builder := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer builder.Release()
	for i := range ingestBenchRows {
		builder.Field(0).(*array.StringBuilder).Append(fmt.Sprintf("sensor-%d", i%100))
		builder.Field(1).(*array.Float64Builder).Append(float64(i) / 3)
		builder.Field(2).(*array.Int64Builder).Append(int64(i))
		builder.Field(3).(*array.BooleanBuilder).Append(i%2 == 0)
	}
	batch := builder.NewRecordBatch()
	defer batch.Release()
	reader, err := array.NewRecordReader(schema, []arrow.RecordBatch{batch})
	if err != nil {
		b.Fatal(err)
	}

	cl, err := flightsql.NewClient(addr, nil, nil, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()

	opts := &flightsql.ExecuteIngestOpts{
		Table: collection,
		TableDefinitionOptions: &flightsql.TableDefinitionOptions{
			IfNotExist: pb.CommandStatementIngest_TableDefinitionOptions_TABLE_NOT_EXIST_OPTION_FAIL,
			IfExists:   pb.CommandStatementIngest_TableDefinitionOptions_TABLE_EXISTS_OPTION_APPEND,
		},
	}
	start := time.Now()
	n, err := cl.ExecuteIngest(basicAuth(context.Background()), reader, opts)
	if err != nil || n != ingestBenchRows {
		b.Fatalf("ingest: %d rows, %v", n, err)
	}
	return time.Since(start).Seconds()
}
