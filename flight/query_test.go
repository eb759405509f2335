package flight_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/pocketbase/pocketbase/core"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/arrow-mino/arrow-mino/flight"
)

func saveObject(t *testing.T, app core.App, fields map[string]any) {
	t.Helper()

	col, err := app.FindCollectionByNameOrId("objects")
	if err != nil {
		t.Fatalf("finding objects: %v", err)
	}
	rec := core.NewRecord(col)
	rec.Load(fields)
	if err := app.Save(rec); err != nil {
		t.Fatalf("saving object: %v", err)
	}
}

func TestTypedObjectsQuery(t *testing.T) {
	e := newEnv(t)
	saveObject(t, e.app, map[string]any{
		"bucket": "media", "key": "a.jpg", "version_id": "v1", "size": 1234, "etag": "e1",
		"content_type": "image/jpeg", "sniffed_type": "image/jpeg", "kind": "image",
		"user_metadata": map[string]any{"camera": "x100"}, "last_modified": "2024-03-31 01:30:00.123Z",
	})
	saveObject(t, e.app, map[string]any{"bucket": "media", "key": "b.bin", "size": 0, "kind": "other"})

	cl := e.client(t)
	ctx := e.bearerCtx(t, cl)
	res := query(t, ctx, cl, "SELECT key, size, last_modified, user_metadata, kind FROM objects ORDER BY key")

	wantTypes := []arrow.DataType{
		arrow.BinaryTypes.String,
		arrow.PrimitiveTypes.Int64,
		&arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"},
		arrow.BinaryTypes.String,
		arrow.BinaryTypes.String,
	}
	for i, want := range wantTypes {
		f := res.schema.Field(i)
		if !arrow.TypeEqual(f.Type, want) || !f.Nullable {
			t.Errorf("field %s: got %v nullable=%v, want %v nullable", f.Name, f.Type, f.Nullable, want)
		}
	}

	checks := []struct {
		col  int
		want []any
	}{
		{0, []any{"a.jpg", "b.bin"}},
		{1, []any{int64(1234), int64(0)}},
		{2, []any{utc("2024-03-31 01:30:00.123Z"), nil}},
		{3, []any{`{"camera":"x100"}`, nil}}, // unset JSON is SQL NULL
		{4, []any{"image", "other"}},
	}
	for _, c := range checks {
		if got := res.column(c.col); !reflect.DeepEqual(got, c.want) {
			t.Errorf("column %d: got %#v, want %#v", c.col, got, c.want)
		}
	}
}

func createPosts(t *testing.T, app core.App) {
	t.Helper()

	mustExec(t, app, `CREATE TABLE posts(id TEXT PRIMARY KEY, title TEXT NOT NULL DEFAULT '', n NUMERIC, ok BOOLEAN NOT NULL DEFAULT FALSE, meta JSON, created TEXT NOT NULL DEFAULT '')`)
	mustExec(t, app, `INSERT INTO posts VALUES ('a','hello',1,true,'{"k":1}','2024-03-31 01:30:00.000Z'), ('b','world',NULL,false,NULL,'')`)
}

func TestRawTableDeclaredTypes(t *testing.T) {
	e := newEnv(t)
	createPosts(t, e.app)

	cl := e.client(t)
	ctx := basicCtx(suEmail, suPassword)
	res := query(t, ctx, cl, "SELECT ok, n, meta, title FROM posts ORDER BY id")

	want := []struct {
		typ    arrow.DataType
		values []any
	}{
		{arrow.FixedWidthTypes.Boolean, []any{true, false}},
		{arrow.PrimitiveTypes.Float64, []any{float64(1), nil}},
		{arrow.BinaryTypes.String, []any{`{"k":1}`, nil}},
		{arrow.BinaryTypes.String, []any{"hello", "world"}},
	}
	for i, w := range want {
		if got := res.schema.Field(i).Type; !arrow.TypeEqual(got, w.typ) {
			t.Errorf("field %d type: got %v, want %v", i, got, w.typ)
		}
		if got := res.column(i); !reflect.DeepEqual(got, w.values) {
			t.Errorf("field %d values: got %#v, want %#v", i, got, w.values)
		}
	}
}

func TestBadNumericValueBecomesNull(t *testing.T) {
	e := newEnv(t)
	createPosts(t, e.app)
	mustExec(t, e.app, `INSERT INTO posts(id, n, ok) VALUES ('c', 'not a number', 'maybe')`)

	cl := e.client(t)
	ctx := basicCtx(suEmail, suPassword)
	res := query(t, ctx, cl, "SELECT n, ok FROM posts WHERE id = 'c'")

	if got := res.column(0); !reflect.DeepEqual(got, []any{nil}) {
		t.Errorf("n: got %#v, want [nil]", got)
	}
	if got := res.column(1); !reflect.DeepEqual(got, []any{nil}) {
		t.Errorf("ok: got %#v, want [nil]", got)
	}
}

func TestExpressionSchemaIsStable(t *testing.T) {
	e := newEnv(t)
	cl := e.client(t)
	ctx := basicCtx(suEmail, suPassword)

	const sql = "SELECT count(*), 1+1, NULL, max(size) FROM objects"

	empty := query(t, ctx, cl, sql)
	saveObject(t, e.app, map[string]any{"bucket": "m", "key": "k", "size": 7})
	full := query(t, ctx, cl, sql)

	if !empty.schema.Equal(full.schema) {
		t.Fatalf("schema changed with data: %v vs %v", empty.schema, full.schema)
	}
	for i, f := range full.schema.Fields() {
		if !arrow.TypeEqual(f.Type, arrow.BinaryTypes.String) {
			t.Errorf("expression column %d: got %v, want utf8", i, f.Type)
		}
	}

	want := [][]any{{"0", "2", nil, nil}, {"1", "2", nil, "7"}}
	for n, res := range []*result{empty, full} {
		for i := range 4 {
			if got := res.column(i); !reflect.DeepEqual(got, []any{want[n][i]}) {
				t.Errorf("run %d column %d: got %#v, want %#v", n, i, got, want[n][i])
			}
		}
	}
}

func TestRefusedStatements(t *testing.T) {
	e := newEnv(t)
	saveObject(t, e.app, map[string]any{"bucket": "m", "key": "keep", "size": 1})
	mustExec(t, e.app, "CREATE VIEW su_view AS SELECT email FROM _superusers")

	cl := e.client(t)
	ctx := basicCtx(suEmail, suPassword)

	cases := []struct {
		name string
		sql  string
		code codes.Code
	}{
		{"internal table", "SELECT * FROM _superusers", codes.PermissionDenied},
		{"internal via subquery", "SELECT (SELECT email FROM _superusers LIMIT 1)", codes.PermissionDenied},
		{"internal via join", "SELECT o.key FROM objects o JOIN _params p ON 1", codes.PermissionDenied},
		{"internal via view", "SELECT * FROM su_view", codes.PermissionDenied},
		{"sqlite_master", "SELECT sql FROM sqlite_master", codes.PermissionDenied},
		{"delete", "DELETE FROM objects", codes.PermissionDenied},
		{"update returning", "UPDATE objects SET size = 0 RETURNING id", codes.PermissionDenied},
		{"drop", "DROP TABLE objects", codes.PermissionDenied},
		{"pragma", "PRAGMA table_info(objects)", codes.PermissionDenied},
		{"attach", "ATTACH DATABASE ':memory:' AS x", codes.PermissionDenied},
		{"script", "SELECT 1; DELETE FROM objects", codes.InvalidArgument},
		{"syntax", "SELEC 1", codes.InvalidArgument},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := cl.Execute(ctx, c.sql)
			if status.Code(err) != c.code {
				t.Fatalf("Execute(%q): got %v, want code %v", c.sql, err, c.code)
			}
		})
	}

	n, err := e.app.CountRecords("objects")
	if err != nil || n != 1 {
		t.Fatalf("objects after refused writes: %d, %v; want 1", n, err)
	}
	if _, err := e.app.FindAuthRecordByEmail(core.CollectionNameSuperusers, suEmail); err != nil {
		t.Fatalf("superuser gone: %v", err)
	}

	// Semicolons inside literals and trailing ones are fine.
	res := query(t, ctx, cl, "SELECT 'a;b' AS s; -- done\n;")
	if got := res.column(0); !reflect.DeepEqual(got, []any{"a;b"}) {
		t.Fatalf("got %#v", got)
	}
}

func TestLargeResultStreamsInSmallMessages(t *testing.T) {
	e := newEnv(t)
	mustExec(t, e.app, "CREATE TABLE big(id INTEGER PRIMARY KEY, body TEXT)")
	mustExec(t, e.app, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 2000)
		INSERT INTO big SELECT i, printf('%010d', i) || hex(zeroblob(4995)) FROM n`)

	cl := e.client(t)
	ctx := basicCtx(suEmail, suPassword)
	res := query(t, ctx, cl, "SELECT id, body FROM big ORDER BY id")

	if res.rows() != 2000 {
		t.Fatalf("got %d rows, want 2000", res.rows())
	}
	if len(res.batches) < 10 {
		t.Fatalf("got %d batches, want the 20 MB result cut into many", len(res.batches))
	}
	for i, b := range res.batches {
		if b.NumRows() == 0 {
			t.Fatalf("batch %d is empty", i)
		}
	}
	last := res.column(1)[1999].(string)
	if !strings.HasPrefix(last, "0000002000") || len(last) != 10+9990 {
		t.Fatalf("last body wrong: %q... len %d", last[:12], len(last))
	}
}

func TestEmptyResultHasSchemaAndNoBatch(t *testing.T) {
	e := newEnv(t)
	cl := e.client(t)
	ctx := basicCtx(suEmail, suPassword)

	res := query(t, ctx, cl, "SELECT key, size FROM objects")
	if res.schema.NumFields() != 2 || res.rows() != 0 || len(res.batches) > 1 {
		t.Fatalf("empty result: schema %v, %d rows, %d batches", res.schema, res.rows(), len(res.batches))
	}
}

func TestAuthSecretsReadAsNull(t *testing.T) {
	e := newEnv(t)
	users := mustCollection(t, e.app, "users")
	u := core.NewRecord(users)
	u.SetEmail("user@example.com")
	u.SetPassword("user-password-1")
	if err := e.app.Save(u); err != nil {
		t.Fatal(err)
	}

	cl := e.client(t)
	ctx := basicCtx(suEmail, suPassword)
	res := query(t, ctx, cl, "SELECT email, password, tokenKey FROM users")

	want := []any{"user@example.com", nil, nil}
	for i, w := range want {
		if got := res.column(i); !reflect.DeepEqual(got, []any{w}) {
			t.Errorf("column %s: got %#v, want [%#v]", res.schema.Field(i).Name, got, w)
		}
	}
}

func TestParallelScanReturnsEveryRowOnce(t *testing.T) {
	e := newEnvWith(t, flight.Options{ScanParallelism: 2})
	mustExec(t, e.app, "CREATE TABLE wide(i INTEGER, s TEXT)")
	mustExec(t, e.app, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 250000)
		INSERT INTO wide SELECT i, 'row ' || i FROM n`)
	cl := e.client(t)
	ctx := basicCtx(suEmail, suPassword)

	res := query(t, ctx, cl, "SELECT i, s FROM wide")
	if res.rows() != 250000 {
		t.Fatalf("got %d rows", res.rows())
	}
	seen := make([]bool, 250001)
	for _, v := range res.column(0) {
		i := v.(int64)
		if seen[i] {
			t.Fatalf("row %d twice", i)
		}
		seen[i] = true
	}
}

func TestSchemaChangeBetweenInfoAndDoGet(t *testing.T) {
	e := newEnv(t)
	mustExec(t, e.app, "CREATE TABLE shifting(a TEXT)")
	mustExec(t, e.app, "INSERT INTO shifting VALUES ('x')")
	cl := e.client(t)
	ctx := basicCtx(suEmail, suPassword)

	info, err := cl.Execute(ctx, "SELECT * FROM shifting WHERE a = 'x'")
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, e.app, "ALTER TABLE shifting ADD COLUMN b INTEGER")

	rdr, err := cl.DoGet(ctx, info.Endpoint[0].Ticket)
	if err == nil {
		for rdr.Next() {
		}
		err = rdr.Err()
		rdr.Release()
	}
	if status.Code(err) != codes.Aborted {
		t.Fatalf("DoGet after the schema changed: got %v, want Aborted", err)
	}
}

// TestSchemaChangedOutsidePocketBase alters a table behind PocketBase's
// and Flight's back: the stale announcement is refused once (Aborted),
// and the retry the error asks for sees the new column.
func TestSchemaChangedOutsidePocketBase(t *testing.T) {
	e := newEnv(t)
	cl := e.client(t)
	ctx := basicCtx(suEmail, suPassword)

	mustExec(t, e.app, "CREATE TABLE notes(id TEXT PRIMARY KEY)")
	mustExec(t, e.app, "INSERT INTO notes VALUES ('a')")
	const sql = "SELECT * FROM notes WHERE id = 'a'"
	if got := query(t, ctx, cl, sql).schema.NumFields(); got != 1 {
		t.Fatalf("before: %d columns, want 1", got)
	}

	mustExec(t, e.app, "ALTER TABLE notes ADD COLUMN body TEXT")

	var last error
	for attempt := range 2 {
		info, err := cl.Execute(ctx, sql)
		if err != nil {
			t.Fatalf("attempt %d: %v", attempt, err)
		}
		rdr, err := cl.DoGet(ctx, info.Endpoint[0].Ticket)
		if err == nil {
			for rdr.Next() {
			}
			err = rdr.Err()
			got := rdr.Schema().NumFields()
			rdr.Release()
			if err == nil && got == 2 {
				return
			}
			if err == nil {
				t.Fatalf("attempt %d streamed %d columns, want 2", attempt, got)
			}
		}
		if status.Code(err) != codes.Aborted {
			t.Fatalf("attempt %d: %v, want Aborted or the new schema", attempt, err)
		}
		last = err
	}
	t.Fatalf("still refused after a retry: %v", last)
}
