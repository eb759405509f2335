package flight_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"reflect"
	"testing"

	"github.com/apache/arrow-adbc/go/adbc"
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
)

func createKeyed(t *testing.T, e *env) {
	t.Helper()
	createPosts(t, e.app)
	mustExec(t, e.app, `CREATE TABLE comments(cid INTEGER PRIMARY KEY, post TEXT REFERENCES posts(id) ON DELETE CASCADE, body TEXT)`)
}

func TestKeysAndCrossReference(t *testing.T) {
	e := newEnv(t)
	createKeyed(t, e)
	cl := e.client(t)
	ctx := basicCtx(suEmail, suPassword)

	info, err := cl.GetPrimaryKeys(ctx, flightsql.TableRef{Table: "posts"})
	if err != nil {
		t.Fatal(err)
	}
	pk := fetch(t, ctx, cl, info)
	if got := pk.column(3); !reflect.DeepEqual(got, []any{"id"}) {
		t.Fatalf("primary key of posts: %v", got)
	}

	check := func(name string, res *result) {
		t.Helper()
		if res.rows() != 1 {
			t.Fatalf("%s: %d rows", name, res.rows())
		}
		got := []any{res.column(2)[0], res.column(3)[0], res.column(6)[0], res.column(7)[0]}
		if !reflect.DeepEqual(got, []any{"posts", "id", "comments", "post"}) {
			t.Fatalf("%s: %v", name, got)
		}
		if rule := res.batches[0].Column(12).(*array.Uint8).Value(0); rule != 0 {
			t.Fatalf("%s: delete rule %d, want CASCADE (0)", name, rule)
		}
	}

	info, err = cl.GetImportedKeys(ctx, flightsql.TableRef{Table: "comments"})
	if err != nil {
		t.Fatal(err)
	}
	check("imported", fetch(t, ctx, cl, info))

	info, err = cl.GetExportedKeys(ctx, flightsql.TableRef{Table: "posts"})
	if err != nil {
		t.Fatal(err)
	}
	check("exported", fetch(t, ctx, cl, info))

	info, err = cl.GetCrossReference(ctx, flightsql.TableRef{Table: "posts"}, flightsql.TableRef{Table: "comments"})
	if err != nil {
		t.Fatal(err)
	}
	check("cross reference", fetch(t, ctx, cl, info))

	// Hostile names match nothing and internal tables do not exist.
	for _, name := range []string{"posts' OR '1'='1", `posts") --`, "_superusers", "sqlite_master"} {
		info, err := cl.GetPrimaryKeys(ctx, flightsql.TableRef{Table: name})
		if err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		if n := fetch(t, ctx, cl, info).rows(); n != 0 {
			t.Fatalf("primary keys of %q: %d rows", name, n)
		}
	}
}

func TestXdbcTypeInfoFilter(t *testing.T) {
	e := newEnv(t)
	cl := e.client(t)
	ctx := basicCtx(suEmail, suPassword)

	ts := int32(93)
	info, err := cl.GetXdbcTypeInfo(ctx, &ts)
	if err != nil {
		t.Fatal(err)
	}
	res := fetch(t, ctx, cl, info)
	if got := res.column(0); !reflect.DeepEqual(got, []any{"TIMESTAMP"}) {
		t.Fatalf("type 93: %v", got)
	}

	info, err = cl.GetXdbcTypeInfo(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := fetch(t, ctx, cl, info).rows(); n != 7 {
		t.Fatalf("all types: %d rows", n)
	}
}

func TestSqlInfoFullSet(t *testing.T) {
	e := newEnv(t)
	cl := e.client(t)
	ctx := basicCtx(suEmail, suPassword)

	info, err := cl.GetSqlInfo(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	res := fetch(t, ctx, cl, info)
	ids := map[uint32]int{}
	for _, b := range res.batches {
		for i, id := range b.Column(0).(*array.Uint32).Uint32Values() {
			ids[id] = i
		}
	}
	for _, want := range []flightsql.SqlInfo{8, 500, 508, 509, 510, 511, 512, 521, 544} {
		if _, ok := ids[uint32(want)]; !ok {
			t.Errorf("sql info %d missing", want)
		}
	}
	if len(ids) < 80 {
		t.Errorf("only %d sql info keys", len(ids))
	}
}

func TestADBCObjectsAndTableSchema(t *testing.T) {
	e := newEnv(t)
	createKeyed(t, e)
	cnxn := adbcConn(t, e)
	ctx := context.Background()

	rdr, err := cnxn.GetObjects(ctx, adbc.ObjectDepthAll, nil, nil, nil, nil, nil)
	if err != nil {
		t.Fatalf("GetObjects: %v", err)
	}
	rows := 0
	for rdr.Next() {
		rows += int(rdr.RecordBatch().NumRows())
	}
	if err := rdr.Err(); err != nil {
		t.Fatalf("reading objects: %v", err)
	}
	rdr.Release()
	if rows == 0 {
		t.Fatal("GetObjects returned nothing")
	}

	schema, err := cnxn.GetTableSchema(ctx, nil, nil, "posts")
	if err != nil {
		t.Fatalf("GetTableSchema: %v", err)
	}
	var names []string
	for _, f := range schema.Fields() {
		names = append(names, f.Name)
	}
	if !reflect.DeepEqual(names, []string{"id", "title", "n", "ok", "meta", "created"}) {
		t.Fatalf("posts columns %v", names)
	}
	if !arrow.TypeEqual(schema.Field(3).Type, arrow.FixedWidthTypes.Boolean) {
		t.Fatalf("ok type %v", schema.Field(3).Type)
	}
}

// TestDatabaseSQLPreparedParameters binds arguments through the arrow-go
// database/sql driver, which prepares every statement.
func TestDatabaseSQLPreparedParameters(t *testing.T) {
	e := newEnv(t)
	createPosts(t, e.app)

	db, err := sql.Open("flightsql", fmt.Sprintf("flightsql://%s@%s?timeout=10s", url.UserPassword(suEmail, suPassword).String(), e.server.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	var ids []string
	rows, err := db.Query("SELECT id FROM posts WHERE n = ? OR title = ?", 1.0, "world")
	if err != nil {
		t.Fatalf("query: %v", err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if !reflect.DeepEqual(ids, []string{"a", "b"}) {
		t.Fatalf("ids %v", ids)
	}

	res, err := db.Exec("UPDATE posts SET title = ? WHERE id = ?", "via driver", "b")
	if err != nil {
		t.Fatalf("exec: %v", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		t.Fatalf("rows affected %d %v", n, err)
	}
	var title string
	if err := db.QueryRow("SELECT title FROM posts WHERE id = ?", "b").Scan(&title); err != nil || title != "via driver" {
		t.Fatalf("title %q err %v", title, err)
	}
}
