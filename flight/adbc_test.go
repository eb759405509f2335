package flight_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/apache/arrow-adbc/go/adbc"
	adbcflightsql "github.com/apache/arrow-adbc/go/adbc/driver/flightsql"
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestADBCDriver connects with ADBC's Flight SQL driver (Basic in a
// Handshake, SqlInfo at connect, schema check on DoGet).
func TestADBCDriver(t *testing.T) {
	e := newEnv(t)
	createPosts(t, e.app)
	ctx := context.Background()

	drv := adbcflightsql.NewDriver(memory.DefaultAllocator)
	db, err := drv.NewDatabase(map[string]string{
		adbc.OptionKeyURI:      "grpc+tcp://" + e.server.Addr(),
		adbc.OptionKeyUsername: suEmail,
		adbc.OptionKeyPassword: suPassword,
	})
	if err != nil {
		t.Fatalf("new database: %v", err)
	}
	defer db.Close()

	cnxn, err := db.Open(ctx)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer cnxn.Close()

	stmt, err := cnxn.NewStatement()
	if err != nil {
		t.Fatal(err)
	}
	defer stmt.Close()

	if err := stmt.SetSqlQuery("SELECT id, ok, n, created FROM posts ORDER BY id"); err != nil {
		t.Fatal(err)
	}
	rdr, _, err := stmt.ExecuteQuery(ctx)
	if err != nil {
		t.Fatalf("execute: %v", err)
	}
	defer rdr.Release()

	var ids []string
	var oks []bool
	var created []any
	for rdr.Next() {
		rec := rdr.RecordBatch()
		for i := 0; i < int(rec.NumRows()); i++ {
			ids = append(ids, rec.Column(0).(*array.String).Value(i))
			oks = append(oks, rec.Column(1).(*array.Boolean).Value(i))
			ts := rec.Column(3)
			if ts.IsNull(i) {
				created = append(created, nil)
			} else {
				created = append(created, ts.(*array.String).Value(i))
			}
		}
	}
	if err := rdr.Err(); err != nil {
		t.Fatalf("reading: %v", err)
	}

	if !reflect.DeepEqual(ids, []string{"a", "b"}) || !reflect.DeepEqual(oks, []bool{true, false}) {
		t.Fatalf("got ids %v oks %v", ids, oks)
	}
	// posts.created is a raw TEXT column (no collection), so it stays text.
	if !reflect.DeepEqual(created, []any{"2024-03-31 01:30:00.000Z", ""}) {
		t.Fatalf("created %#v", created)
	}

	if _, err := cnxn.NewStatement(); err != nil {
		t.Fatal(err)
	}
}

func TestSqlInfoSkipsUnknownIds(t *testing.T) {
	e := newEnv(t)
	cl := e.client(t)
	ctx := basicCtx(suEmail, suPassword)

	info, err := cl.GetSqlInfo(ctx, []flightsql.SqlInfo{flightsql.SqlInfoFlightSqlServerName, 99999, flightsql.SqlInfoFlightSqlServerTransaction})
	if err != nil {
		t.Fatalf("GetSqlInfo: %v", err)
	}
	res := fetch(t, ctx, cl, info)
	if res.rows() != 2 {
		t.Fatalf("got %d rows, want the 2 known ids", res.rows())
	}
	ids := res.batches[0].Column(0).(*array.Uint32).Uint32Values()
	if !reflect.DeepEqual(ids, []uint32{uint32(flightsql.SqlInfoFlightSqlServerName), uint32(flightsql.SqlInfoFlightSqlServerTransaction)}) {
		t.Fatalf("ids %v", ids)
	}
	_ = arrow.PrimitiveTypes.Int64
}
