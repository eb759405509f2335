package flight_test

import (
	"database/sql"
	"fmt"
	"net/url"
	"reflect"
	"sort"
	"testing"

	aflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	pb "github.com/apache/arrow-go/v18/arrow/flight/gen/flight"
	"github.com/pocketbase/pocketbase/core"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/arrow-mino/arrow-mino/flight"
)

// TestDatabaseSQLBoundParameterRow reads whole rows picked by a bound
// parameter through the database/sql driver, one per id.
func TestDatabaseSQLBoundParameterRow(t *testing.T) {
	e := newEnv(t)
	createPosts(t, e.app)

	dsn := fmt.Sprintf("flightsql://%s@%s?timeout=10s",
		url.UserPassword(suEmail, suPassword).String(), e.server.Addr())
	db, err := sql.Open("flightsql", dsn)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer db.Close()

	type row struct {
		id, title string
		n         sql.NullFloat64
		ok        bool
		meta      sql.NullString
	}
	want := map[string]row{
		"a": {"a", "hello", sql.NullFloat64{Float64: 1, Valid: true}, true,
			sql.NullString{String: `{"k":1}`, Valid: true}},
		"b": {"b", "world", sql.NullFloat64{}, false, sql.NullString{}},
	}

	// Twice per id: the second round runs with cached statement shapes.
	for round := 0; round < 2; round++ {
		for _, id := range []string{"a", "b", "zz"} {
			rows, err := db.Query("SELECT id, title, n, ok, meta FROM posts WHERE id = ?", id)
			if err != nil {
				t.Fatalf("query %q: %v", id, err)
			}

			var got []row
			for rows.Next() {
				var r row
				if err := rows.Scan(&r.id, &r.title, &r.n, &r.ok, &r.meta); err != nil {
					t.Fatalf("scan %q: %v", id, err)
				}
				got = append(got, r)
			}
			if err := rows.Err(); err != nil {
				t.Fatalf("rows %q: %v", id, err)
			}
			rows.Close()

			w, exists := want[id]
			switch {
			case !exists && len(got) != 0:
				t.Fatalf("id %q: got %+v, want no row", id, got)
			case exists && (len(got) != 1 || got[0] != w):
				t.Fatalf("id %q: got %+v, want %+v", id, got, w)
			}
		}
	}
}

// TestPointQueriesWithCachedShapes runs literal point queries that share
// one cached shape and checks each returns its own row, that hidden
// columns stay NULL (the guard runs at execution) and that a collection
// change is seen by the next query of the same text.
func TestPointQueriesWithCachedShapes(t *testing.T) {
	e := newEnv(t)

	c := core.NewBaseCollection("items")
	c.Fields.Add(&core.TextField{Name: "label"}, &core.NumberField{Name: "qty", OnlyInt: true})
	if err := e.app.Save(c); err != nil {
		t.Fatal(err)
	}
	for i, label := range []string{"one", "two", "three"} {
		r := core.NewRecord(c)
		r.Id = fmt.Sprintf("item%011d", i+1)
		r.Set("label", label)
		r.Set("qty", i+1)
		if err := e.app.Save(r); err != nil {
			t.Fatal(err)
		}
	}
	cl := e.client(t)
	ctx := basicCtx(suEmail, suPassword)

	for round := 0; round < 2; round++ {
		for i, label := range []string{"one", "two", "three"} {
			q := fmt.Sprintf("SELECT id, label, qty FROM items WHERE id = 'item%011d'", i+1)
			res := query(t, ctx, cl, q)
			got := []any{res.column(0)[0], res.column(1)[0], res.column(2)[0]}
			want := []any{fmt.Sprintf("item%011d", i+1), label, int64(i + 1)}
			if res.rows() != 1 || !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: %d rows, got %v, want %v", q, res.rows(), got, want)
			}
		}
	}

	users, err := e.app.FindCollectionByNameOrId("users")
	if err != nil {
		t.Fatal(err)
	}
	u := core.NewRecord(users)
	u.SetEmail("u@example.com")
	u.SetPassword("user-password-123")
	if err := e.app.Save(u); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{u.Id, "nobody", u.Id} {
		res := query(t, ctx, cl, "SELECT id, tokenKey FROM users WHERE id = '"+id+"'")
		for _, v := range res.column(1) {
			if v != nil {
				t.Fatalf("tokenKey of %s read as %v", id, v)
			}
		}
	}

	// Changing the collection must change the announced schema at once.
	c.Fields.Add(&core.BoolField{Name: "done"})
	if err := e.app.Save(c); err != nil {
		t.Fatal(err)
	}
	res := query(t, ctx, cl, "SELECT * FROM items WHERE id = 'item00000000001'")
	if res.schema.FieldIndices("done") == nil {
		t.Fatalf("schema after adding a field: %v", res.schema)
	}
}

// TestIngestExactValues ingests into an existing collection and into a
// new table (which becomes a collection) and reads back every value.
func TestIngestExactValues(t *testing.T) {
	e := newEnv(t)
	cl := e.client(t)
	ctx := basicCtx(suEmail, suPassword)

	existing := core.NewBaseCollection("meters")
	existing.Fields.Add(
		&core.TextField{Name: "sensor"},
		&core.NumberField{Name: "value"},
		&core.NumberField{Name: "count", OnlyInt: true},
		&core.BoolField{Name: "ok"},
		&core.TextField{Name: "note"},
	)
	if err := e.app.Save(existing); err != nil {
		t.Fatal(err)
	}

	appendOpts := &flightsql.ExecuteIngestOpts{
		Table: "meters",
		TableDefinitionOptions: &flightsql.TableDefinitionOptions{
			IfNotExist: pb.CommandStatementIngest_TableDefinitionOptions_TABLE_NOT_EXIST_OPTION_FAIL,
			IfExists:   pb.CommandStatementIngest_TableDefinitionOptions_TABLE_EXISTS_OPTION_APPEND,
		},
	}
	if n, err := cl.ExecuteIngest(ctx, readingsBatch(t), appendOpts); err != nil || n != 3 {
		t.Fatalf("ingest into existing collection: n=%d err=%v", n, err)
	}

	createOpts := &flightsql.ExecuteIngestOpts{
		Table: "fresh_readings",
		TableDefinitionOptions: &flightsql.TableDefinitionOptions{
			IfNotExist: pb.CommandStatementIngest_TableDefinitionOptions_TABLE_NOT_EXIST_OPTION_CREATE,
			IfExists:   pb.CommandStatementIngest_TableDefinitionOptions_TABLE_EXISTS_OPTION_FAIL,
		},
	}
	if n, err := cl.ExecuteIngest(ctx, readingsBatch(t), createOpts); err != nil || n != 3 {
		t.Fatalf("ingest creating a table: n=%d err=%v", n, err)
	}
	created, err := e.app.FindCollectionByNameOrId("fresh_readings")
	if err != nil {
		t.Fatalf("new table is no collection: %v", err)
	}
	wantFields := map[string]string{"sensor": "text", "value": "number", "count": "number", "ok": "bool"}
	for name, typ := range wantFields {
		f := created.Fields.GetByName(name)
		if f == nil || f.Type() != typ {
			t.Fatalf("field %s: %v, want type %s", name, f, typ)
		}
	}
	if nf, ok := created.Fields.GetByName("count").(*core.NumberField); !ok || !nf.OnlyInt {
		t.Fatalf("count field is not integer-only")
	}

	want := [][]any{
		{"s1", 1.5, int64(1), true},
		{"s2", 2.5, int64(2), false},
		{"s3", 3.5, int64(3), true},
	}
	for _, table := range []string{"meters", "fresh_readings"} {
		res := query(t, ctx, cl, "SELECT sensor, value, count, ok FROM "+table+" ORDER BY sensor")
		var got [][]any
		for r := 0; r < int(res.rows()); r++ {
			got = append(got, []any{res.column(0)[r], res.column(1)[r], res.column(2)[r], res.column(3)[r]})
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: got %v, want %v", table, got, want)
		}

		// PocketBase sees them as records with generated ids.
		recs, err := e.app.FindAllRecords(table)
		if err != nil || len(recs) != 3 {
			t.Fatalf("%s records: %d err %v", table, len(recs), err)
		}
		for _, r := range recs {
			if len(r.Id) != 15 {
				t.Fatalf("%s record id %q", table, r.Id)
			}
		}
	}

	// Ingest into a missing table without CREATE is refused.
	appendOpts.Table = "missing_table"
	if _, err := cl.ExecuteIngest(ctx, readingsBatch(t), appendOpts); status.Code(err) != codes.NotFound {
		t.Fatalf("ingest into missing table: %v", err)
	}
}

// TestCancelFlightInfoBeforeDoGet cancels a ticket before it is read: the
// ticket is refused afterwards, and another user cannot cancel it.
func TestCancelFlightInfoBeforeDoGet(t *testing.T) {
	e := newEnv(t)
	createPosts(t, e.app)
	addSuperuser(t, e, "other@example.com", "other-password-123")
	cl := e.client(t)
	ctx := basicCtx(suEmail, suPassword)
	other := basicCtx("other@example.com", "other-password-123")

	info, err := cl.Execute(ctx, "SELECT id FROM posts ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}

	res, err := cl.CancelFlightInfo(other, &aflight.CancelFlightInfoRequest{Info: info})
	if err != nil || res.GetStatus() != aflight.CancelStatusNotCancellable {
		t.Fatalf("cancel by another user: %v %v", res.GetStatus(), err)
	}
	if got := fetch(t, ctx, cl, info).column(0); !reflect.DeepEqual(got, []any{"a", "b"}) {
		t.Fatalf("ticket after foreign cancel: %v", got)
	}

	info, err = cl.Execute(ctx, "SELECT id FROM posts ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	res, err = cl.CancelFlightInfo(ctx, &aflight.CancelFlightInfoRequest{Info: info})
	if err != nil || res.GetStatus() != aflight.CancelStatusCancelled {
		t.Fatalf("cancel: %v %v", res.GetStatus(), err)
	}

	rdr, err := cl.DoGet(ctx, info.Endpoint[0].Ticket)
	if err == nil {
		for rdr.Next() {
		}
		err = rdr.Err()
		rdr.Release()
	}
	if status.Code(err) != codes.Canceled {
		t.Fatalf("DoGet of a cancelled ticket: %v", err)
	}
}

// TestSplitScanCompleteness reads a table above the split threshold with
// two connections and checks every row arrives exactly once, with its
// exact values, over more than one endpoint or batch.
func TestSplitScanCompleteness(t *testing.T) {
	const n = 230_000 // above parallelMinRows (200,000)

	e := newEnvWith(t, flight.Options{ScanParallelism: 2})
	mustExec(t, e.app, "CREATE TABLE split_me(i INTEGER, s TEXT, f REAL)")
	mustExec(t, e.app, fmt.Sprintf(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < %d)
		INSERT INTO split_me SELECT i, 'row ' || i, i * 0.5 FROM n`, n))
	// Deleted rows leave rowid gaps the ranges must not trip over.
	mustExec(t, e.app, "DELETE FROM split_me WHERE i % 1000 = 7")
	cl := e.client(t)
	ctx := basicCtx(suEmail, suPassword)

	res := query(t, ctx, cl, "SELECT i, s, f FROM split_me")

	is, ss, fs := res.column(0), res.column(1), res.column(2)
	seen := make([]bool, n+1)
	for r := range is {
		i := is[r].(int64)
		if seen[i] {
			t.Fatalf("row %d twice", i)
		}
		seen[i] = true
		if ss[r] != fmt.Sprintf("row %d", i) || fs[r] != float64(i)*0.5 {
			t.Fatalf("row %d: s=%v f=%v", i, ss[r], fs[r])
		}
	}

	var missing []int
	for i := 1; i <= n; i++ {
		if !seen[i] && i%1000 != 7 {
			missing = append(missing, i)
		}
		if seen[i] && i%1000 == 7 {
			t.Fatalf("deleted row %d returned", i)
		}
	}
	sort.Ints(missing)
	if len(missing) > 0 {
		t.Fatalf("%d rows missing, first %d", len(missing), missing[0])
	}
	if want := n - n/1000; len(is) != want {
		t.Fatalf("got %d rows, want %d", len(is), want)
	}
	if len(res.batches) < 2 {
		t.Fatalf("a %d-row scan arrived in %d batch(es)", len(is), len(res.batches))
	}
}
