package flight_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/apache/arrow-adbc/go/adbc"
	adbcflightsql "github.com/apache/arrow-adbc/go/adbc/driver/flightsql"
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// paramBatch builds a one-row (float64, utf8) parameter batch; nil is NULL.
func paramBatch(schema *arrow.Schema, n *float64, title string) arrow.RecordBatch {
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()

	if n == nil {
		b.Field(0).AppendNull()
	} else {
		b.Field(0).(*array.Float64Builder).Append(*n)
	}
	b.Field(1).(*array.StringBuilder).Append(title)
	return b.NewRecordBatch()
}

func TestPreparedQueryWithParameters(t *testing.T) {
	e := newEnv(t)
	createPosts(t, e.app)
	cl := e.client(t)
	ctx := e.bearerCtx(t, cl)

	ps, err := cl.Prepare(ctx, "SELECT id FROM posts WHERE n = ? OR title = ?")
	if err != nil {
		t.Fatalf("prepare: %v", err)
	}
	defer ps.Close(ctx)

	params := ps.ParameterSchema()
	want := arrow.NewSchema([]arrow.Field{
		{Name: "n", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "title", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	if !params.Equal(want) {
		t.Fatalf("parameter schema %v, want %v", params, want)
	}
	if got := ps.DatasetSchema(); got.NumFields() != 1 || got.Field(0).Name != "id" {
		t.Fatalf("dataset schema %v", got)
	}

	one := 1.0
	cases := []struct {
		n    *float64
		want []any
	}{
		{&one, []any{"a", "b"}},
		{nil, []any{"b"}},
	}
	for _, c := range cases {
		rec := paramBatch(params, c.n, "world")
		ps.SetParameters(rec)
		rec.Release()

		info, err := ps.Execute(ctx)
		if err != nil {
			t.Fatalf("execute: %v", err)
		}
		if got := fetch(t, ctx, cl, info).column(0); !reflect.DeepEqual(got, c.want) {
			t.Fatalf("n=%v: got %v, want %v", c.n, got, c.want)
		}
	}

	if err := ps.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
}

// adbcConn opens an ADBC connection to the test server.
func adbcConn(t *testing.T, e *env) adbc.Connection {
	t.Helper()

	drv := adbcflightsql.NewDriver(memory.DefaultAllocator)
	db, err := drv.NewDatabase(map[string]string{
		adbc.OptionKeyURI:      "grpc+tcp://" + e.server.Addr(),
		adbc.OptionKeyUsername: suEmail,
		adbc.OptionKeyPassword: suPassword,
	})
	if err != nil {
		t.Fatalf("new database: %v", err)
	}
	t.Cleanup(func() { db.Close() })

	cnxn, err := db.Open(context.Background())
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { cnxn.Close() })
	return cnxn
}

// prepareAndQuery runs sql the way Python DB-API does: prepare, then the
// query path, reading every batch.
func prepareAndQuery(t *testing.T, cnxn adbc.Connection, sql string) {
	t.Helper()
	ctx := context.Background()

	stmt, err := cnxn.NewStatement()
	if err != nil {
		t.Fatal(err)
	}
	defer stmt.Close()

	if err := stmt.SetSqlQuery(sql); err != nil {
		t.Fatal(err)
	}
	if err := stmt.Prepare(ctx); err != nil {
		t.Fatalf("prepare %q: %v", sql, err)
	}
	rdr, _, err := stmt.ExecuteQuery(ctx)
	if err != nil {
		t.Fatalf("execute %q: %v", sql, err)
	}
	for rdr.Next() {
	}
	if err := rdr.Err(); err != nil {
		t.Fatalf("reading %q: %v", sql, err)
	}
	rdr.Release()
}

func TestPreparedWritesThroughQueryPath(t *testing.T) {
	e := newEnv(t)
	createPosts(t, e.app)
	cnxn := adbcConn(t, e)

	prepareAndQuery(t, cnxn, "UPDATE posts SET title='x' WHERE id='a'")
	// Not idempotent: a second execution would show as 3.
	prepareAndQuery(t, cnxn, "UPDATE posts SET n = n + 1 WHERE id='a'")
	prepareAndQuery(t, cnxn, "CREATE TABLE made_by_flight(k TEXT PRIMARY KEY, v INTEGER)")
	prepareAndQuery(t, cnxn, "INSERT INTO made_by_flight VALUES ('one', 1)")

	var row struct {
		Title string  `db:"title"`
		N     float64 `db:"n"`
	}
	if err := e.app.DB().NewQuery("SELECT title, n FROM posts WHERE id='a'").One(&row); err != nil {
		t.Fatal(err)
	}
	if row.Title != "x" || row.N != 2 {
		t.Fatalf("after prepared updates: title %q n %v, want x and 2 (each ran exactly once)", row.Title, row.N)
	}

	var v int
	if err := e.app.DB().NewQuery("SELECT v FROM made_by_flight WHERE k='one'").Row(&v); err != nil || v != 1 {
		t.Fatalf("created table: v=%d err=%v", v, err)
	}
}

func TestPreparedUpdateReportsIsUpdate(t *testing.T) {
	e := newEnv(t)
	createPosts(t, e.app)
	cl := e.client(t)
	ctx := basicCtx(suEmail, suPassword)

	ps, err := cl.Prepare(ctx, "UPDATE posts SET n = ? WHERE id = ?")
	if err != nil {
		t.Fatalf("prepare: %v", err)
	}
	defer ps.Close(ctx)

	if ps.DatasetSchema().NumFields() != 0 {
		t.Fatalf("update has dataset schema %v", ps.DatasetSchema())
	}
	params := ps.ParameterSchema()
	if params.NumFields() != 2 || !arrow.TypeEqual(params.Field(0).Type, arrow.PrimitiveTypes.Float64) || !arrow.TypeEqual(params.Field(1).Type, arrow.BinaryTypes.String) {
		t.Fatalf("parameter schema %v", params)
	}

	b := array.NewRecordBuilder(memory.DefaultAllocator, params)
	b.Field(0).(*array.Float64Builder).AppendValues([]float64{7, 8}, nil)
	b.Field(1).(*array.StringBuilder).AppendValues([]string{"a", "b"}, nil)
	rec := b.NewRecordBatch()
	b.Release()
	ps.SetParameters(rec)
	rec.Release()

	n, err := ps.ExecuteUpdate(ctx)
	if err != nil || n != 2 {
		t.Fatalf("execute update: n=%d err=%v", n, err)
	}
	res := query(t, ctx, cl, "SELECT n FROM posts ORDER BY id")
	if got := res.column(0); !reflect.DeepEqual(got, []any{7.0, 8.0}) {
		t.Fatalf("n after update: %v", got)
	}
}

func TestPreparedHandlesBelongToSessionAndExpire(t *testing.T) {
	e := newEnvWith(t, flightOptsIdle(time.Second))
	createPosts(t, e.app)
	addSuperuser(t, e, "other@example.com", "other-password-123")
	cl := e.client(t)
	ctx := basicCtx(suEmail, suPassword)

	// Both users authenticate once first, so the slow bcrypt checks happen
	// before the idle clock starts.
	other := basicCtx("other@example.com", "other-password-123")
	for _, c := range []context.Context{ctx, other} {
		if _, err := cl.GetTableTypes(c); err != nil {
			t.Fatal(err)
		}
	}

	ps, err := cl.Prepare(ctx, "SELECT id FROM posts")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ps.Execute(other); status.Code(err) != codes.NotFound {
		t.Fatalf("other user's execute: got %v, want NotFound", err)
	}

	if _, err := ps.Execute(ctx); err != nil {
		t.Fatalf("owner's execute: %v", err)
	}
	time.Sleep(2 * time.Second)
	if _, err := ps.Execute(ctx); status.Code(err) != codes.NotFound {
		t.Fatalf("execute after idle expiry: got %v, want NotFound", err)
	}
}

var _ = flightsql.NewClient
