package flight_test

import (
	"context"
	"encoding/base64"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	aflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tests"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/arrow-mino/arrow-mino/flight"
	_ "github.com/arrow-mino/arrow-mino/migrations"
)

const (
	suEmail    = "root@example.com"
	suPassword = "correct-horse-battery"
)

// env is a test app with a superuser and a running Flight SQL server.
type env struct {
	app    *tests.TestApp
	server *flight.Server
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, flight.Options{})
}

// newEnvWith is newEnv with server options (Addr is always loopback).
func newEnvWith(t *testing.T, opts flight.Options) *env {
	t.Helper()

	app, err := tests.NewTestApp(t.TempDir())
	if err != nil {
		t.Fatalf("creating test app: %v", err)
	}
	t.Cleanup(app.Cleanup)

	superusers, err := app.FindCollectionByNameOrId(core.CollectionNameSuperusers)
	if err != nil {
		t.Fatalf("finding superusers: %v", err)
	}
	su := core.NewRecord(superusers)
	su.SetEmail(suEmail)
	su.SetPassword(suPassword)
	if err := app.Save(su); err != nil {
		t.Fatalf("saving superuser: %v", err)
	}

	opts.Addr = "127.0.0.1:0"
	srv := flight.New(app, opts)
	if err := srv.Start(); err != nil {
		t.Fatalf("starting server: %v", err)
	}
	// Registered after app.Cleanup, so it runs first: stop before the DB closes.
	t.Cleanup(srv.Stop)

	return &env{app: app, server: srv}
}

// client returns an arrow-go Flight SQL client with no credentials.
func (e *env) client(t *testing.T) *flightsql.Client {
	t.Helper()

	cl, err := flightsql.NewClient(e.server.Addr(), nil, nil, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("creating client: %v", err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// basicCtx carries Basic credentials on every call, like the database/sql driver.
func basicCtx(email, password string) context.Context {
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(email+":"+password))
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", auth)
}

// bearerCtx authenticates with a Handshake and returns a context with the token.
func (e *env) bearerCtx(t *testing.T, cl *flightsql.Client) context.Context {
	t.Helper()

	ctx, err := cl.Client.AuthenticateBasicToken(context.Background(), suEmail, suPassword)
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	return ctx
}

// result is everything one query streamed.
type result struct {
	infoSchema *arrow.Schema
	schema     *arrow.Schema
	batches    []arrow.RecordBatch
}

func (r *result) rows() int64 {
	var n int64
	for _, b := range r.batches {
		n += b.NumRows()
	}
	return n
}

// column concatenates column i over all batches as Go values.
func (r *result) column(i int) []any {
	var out []any
	for _, b := range r.batches {
		col := b.Column(i)
		for j := 0; j < col.Len(); j++ {
			if col.IsNull(j) {
				out = append(out, nil)
				continue
			}
			switch c := col.(type) {
			case *array.Int64:
				out = append(out, c.Value(j))
			case *array.Float64:
				out = append(out, c.Value(j))
			case *array.Boolean:
				out = append(out, c.Value(j))
			case *array.String:
				out = append(out, c.Value(j))
			case *array.Timestamp:
				out = append(out, c.Value(j).ToTime(arrow.Millisecond).UTC())
			default:
				out = append(out, c.ValueStr(j))
			}
		}
	}
	return out
}

// fetch runs GetFlightInfo for info and reads every endpoint.
func fetch(t *testing.T, ctx context.Context, cl *flightsql.Client, info *aflight.FlightInfo) *result {
	t.Helper()

	infoSchema, err := aflight.DeserializeSchema(info.Schema, nil)
	if err != nil {
		t.Fatalf("decoding FlightInfo schema: %v", err)
	}

	res := &result{infoSchema: infoSchema}
	for _, ep := range info.Endpoint {
		rdr, err := cl.DoGet(ctx, ep.Ticket)
		if err != nil {
			t.Fatalf("DoGet: %v", err)
		}
		res.schema = rdr.Schema()
		for rdr.Next() {
			rec := rdr.RecordBatch()
			rec.Retain()
			res.batches = append(res.batches, rec)
		}
		if err := rdr.Err(); err != nil {
			t.Fatalf("reading stream: %v", err)
		}
		rdr.Release()
	}

	if !res.schema.Equal(res.infoSchema) {
		t.Fatalf("DoGet schema %v differs from FlightInfo schema %v", res.schema, res.infoSchema)
	}
	return res
}

// query executes sql and returns the full result.
func query(t *testing.T, ctx context.Context, cl *flightsql.Client, sql string) *result {
	t.Helper()

	info, err := cl.Execute(ctx, sql)
	if err != nil {
		t.Fatalf("Execute(%q): %v", sql, err)
	}
	return fetch(t, ctx, cl, info)
}

// mustExec runs setup SQL directly on the app.
func mustExec(t *testing.T, app core.App, sql string) {
	t.Helper()

	if _, err := app.DB().NewQuery(sql).Execute(); err != nil {
		t.Fatalf("exec %q: %v", sql, err)
	}
}

func utc(s string) time.Time {
	ts, err := time.Parse("2006-01-02 15:04:05.000Z", s)
	if err != nil {
		panic(err)
	}
	return ts
}

func flightOptsIdle(d time.Duration) flight.Options {
	return flight.Options{IdleTimeout: d}
}

// addSuperuser saves another superuser.
func addSuperuser(t *testing.T, e *env, email, password string) {
	t.Helper()

	superusers, err := e.app.FindCollectionByNameOrId(core.CollectionNameSuperusers)
	if err != nil {
		t.Fatal(err)
	}
	su := core.NewRecord(superusers)
	su.SetEmail(email)
	su.SetPassword(password)
	if err := e.app.Save(su); err != nil {
		t.Fatalf("saving superuser: %v", err)
	}
}
