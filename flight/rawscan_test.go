package flight_test

import (
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/arrow-mino/arrow-mino/flight"
)

// TestRawScanMatchesDriverScan reads the same tables through the raw C
// scan (the default) and through database/sql (DriverScan) and requires
// identical schemas and values, for every PocketBase field type and for
// the odd values an external writer can leave in plain tables.
func TestRawScanMatchesDriverScan(t *testing.T) {
	e := newEnvWith(t, flight.Options{ScanParallelism: 1})

	drv := flight.New(e.app, flight.Options{Addr: "127.0.0.1:0", ScanParallelism: 1, DriverScan: true})
	if err := drv.Start(); err != nil {
		t.Fatalf("starting the database/sql server: %v", err)
	}
	t.Cleanup(drv.Stop)

	c := core.NewBaseCollection("every_type")
	c.Fields.Add(
		&core.TextField{Name: "title", Max: 2 << 20},
		&core.NumberField{Name: "count", OnlyInt: true},
		&core.NumberField{Name: "price"},
		&core.BoolField{Name: "ok"},
		&core.DateField{Name: "happened"},
		&core.AutodateField{Name: "created", OnCreate: true},
		&core.JSONField{Name: "meta"},
		&core.EmailField{Name: "mail"},
		&core.URLField{Name: "link"},
		&core.SelectField{Name: "pick", Values: []string{"a", "b"}, MaxSelect: 2},
		&core.EditorField{Name: "html"},
	)
	if err := e.app.Save(c); err != nil {
		t.Fatalf("saving collection: %v", err)
	}

	big := strings.Repeat("ü1234567", 1<<17) // 1 MiB of text
	rows := []map[string]any{
		{"title": "plain", "count": 42, "price": 1.25, "ok": true, "happened": "2024-03-31 01:30:00.000Z",
			"meta": `{"k":[1,2]}`, "mail": "a@example.com", "link": "https://example.com", "pick": []string{"a", "b"},
			"html": "<p>hi</p>"},
		{"title": "", "count": -7, "price": -0.5, "ok": false, "happened": ""},
		{"title": "ünïcödé ✓ 日本語 🚀", "count": 0, "price": 1e300, "meta": nil},
		{"title": big, "count": 1 << 53, "price": 3},
	}
	for _, v := range rows {
		rec := core.NewRecord(c)
		rec.Load(v)
		if err := e.app.Save(rec); err != nil {
			t.Fatalf("saving record: %v", err)
		}
	}
	// Values only an external writer leaves: text in number and date
	// columns, a date in another layout, invalid UTF-8.
	mustExec(t, e.app, `UPDATE every_type SET count = 'twelve', price = '2.5', ok = 'yes',
		happened = '2024-01-02T03:04:05Z', html = CAST(X'66FF6F' AS TEXT) WHERE title = ''`)
	mustExec(t, e.app, `UPDATE every_type SET happened = 'not a date', ok = 2.5, count = 3.0 WHERE count = 0`)

	mustExec(t, e.app, `CREATE TABLE odd(a INTEGER, b REAL, c TEXT, d BLOB, e NUMERIC, f BOOLEAN, g JSON, h)`)
	mustExec(t, e.app, `INSERT INTO odd VALUES
		(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
		(1, 2.5, 'x', X'00FF', '12abc', 1, '{}', 7),
		(2.0, 3, X'C328', X'', 1.5, 'off', 3, 0.1),
		(2.5, 'nan?', 9, 'blob text', 'x', 'maybe', X'41', X'FF00'),
		(9223372036854775807, -0.0, '', '', 1e400, 0, '', '')`)

	// The users auth collection holds secret columns that read as NULL.
	users, err := e.app.FindCollectionByNameOrId("users")
	if err != nil {
		t.Fatalf("finding users: %v", err)
	}
	u := core.NewRecord(users)
	u.SetEmail("u@example.com")
	u.SetPassword("a-long-password-1")
	u.Set("created", types.NowDateTime())
	if err := e.app.Save(u); err != nil {
		t.Fatalf("saving user: %v", err)
	}

	ctx := basicCtx(suEmail, suPassword)
	rawCl := e.client(t)
	drvCl := clientFor(t, drv.Addr())

	for _, q := range []string{
		"SELECT * FROM every_type",
		"SELECT title, happened, count FROM every_type",
		"SELECT * FROM odd",
		"SELECT * FROM users",
	} {
		got := query(t, ctx, rawCl, q)
		want := query(t, ctx, drvCl, q)

		if !got.schema.Equal(want.schema) {
			t.Fatalf("%s: raw schema\n%v\ndiffers from\n%v", q, got.schema, want.schema)
		}
		g, w := concat(t, got), concat(t, want)
		for i := range w {
			if !array.Equal(g[i], w[i]) {
				t.Fatalf("%s: column %s differs:\nraw    %v\ndriver %v", q, want.schema.Field(i).Name, g[i], w[i])
			}
		}
	}

	// Every raw connection is closed once its stream has ended.
	if n := flight.RawConnsInUse(e.server); n != 0 {
		t.Fatalf("%d raw scan connections still open", n)
	}
}

// concat joins each column of a result over its batches.
func concat(t *testing.T, r *result) []arrow.Array {
	t.Helper()

	out := make([]arrow.Array, r.schema.NumFields())
	for i := range out {
		var parts []arrow.Array
		for _, b := range r.batches {
			parts = append(parts, b.Column(i))
		}
		if len(parts) == 0 {
			out[i] = array.MakeArrayOfNull(memory.DefaultAllocator, r.schema.Field(i).Type, 0)
			continue
		}
		a, err := array.Concatenate(parts, memory.DefaultAllocator)
		if err != nil {
			t.Fatalf("concatenating column %d: %v", i, err)
		}
		out[i] = a
	}
	return out
}

// clientFor returns a Flight SQL client of the server at addr.
func clientFor(t *testing.T, addr string) *flightsql.Client {
	t.Helper()

	cl, err := flightsql.NewClient(addr, nil, nil, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("creating client: %v", err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}
