package web

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
)

func TestConsoleRunsReadOnlyQueries(t *testing.T) {
	env := newTestEnv(t, Options{})
	env.object("demo", "a.jpg", "image", 10, nil)
	env.object("demo", "b.mp4", "video", 30, nil)
	root := env.cookieFor(env.authRecord("_superusers", "root@example.com"))
	user := env.cookieFor(env.authRecord("users", "ann@example.com"))

	page := env.get("/ui/console", root)
	mustContain(t, page.body, `hx-post="/ui/console/run"`, `data-abort="#console-form"`)

	run := func(cookie *http.Cookie, query string) response {
		return env.do(http.MethodPost, "/ui/console/run", cookie, url.Values{"query": {query}}, map[string]string{"HX-Request": "true"})
	}

	res := run(root, "SELECT key, size, size * 1.5 AS half FROM objects ORDER BY key")
	mustContain(t, res.body, "<td>a.jpg</td>", "<td>30</td>", "key <small>TEXT</small>", "size <small>NUMERIC</small>", "half <small>any</small>", "2 rows")
	mustNotContain(t, res.body, "refused")

	refused := []string{
		"DELETE FROM objects",
		"UPDATE objects SET size = 0",
		"INSERT INTO objects (id, bucket, key) VALUES ('x', 'y', 'z')",
		"DROP TABLE objects",
		"CREATE TABLE t (x)",
		"PRAGMA journal_mode = DELETE",
		"ATTACH DATABASE ':memory:' AS m",
		"SELECT * FROM _superusers",
		`SELECT email FROM "_superusers"`,
		"SELECT * FROM main._params",
		"SELECT (SELECT tokenKey FROM [_superusers] LIMIT 1) AS k",
		"WITH s AS (SELECT * FROM _superusers) SELECT * FROM s",
		"SELECT 1; DELETE FROM objects",
	}
	for _, query := range refused {
		res := run(root, query)
		if !strings.Contains(res.body, "class=\"error\"") {
			t.Errorf("%q was not refused:\n%s", query, clip(res.body))
		}
	}
	if total, _ := env.app.CountRecords("objects"); total != 2 {
		t.Errorf("objects after refused writes: %d", total)
	}

	// Users cannot reach the console at all.
	if res := run(user, "SELECT 1"); res.status != http.StatusForbidden {
		t.Errorf("user ran a query: status %d", res.status)
	}

	// A form posted from another site is refused.
	cross := env.do(http.MethodPost, "/ui/console/run", root, url.Values{"query": {"SELECT 1"}}, map[string]string{"Origin": "http://evil.example"})
	mustContain(t, cross.body, "another site")
}

func TestConsoleDownloads(t *testing.T) {
	env := newTestEnv(t, Options{})
	for _, key := range []string{"a,1.jpg", "b\"2.jpg", "c.jpg"} {
		env.object("demo", key, "image", int64(len(key)), nil)
	}
	root := env.cookieFor(env.authRecord("_superusers", "root@example.com"))
	query := "SELECT key, size, kind, NULL AS empty FROM objects ORDER BY key"

	csv := env.do(http.MethodPost, "/ui/console/export", root, url.Values{"query": {query}, "format": {"csv"}}, nil)
	if csv.header.Get("Content-Type") != "text/csv; charset=utf-8" || !strings.Contains(csv.header.Get("Content-Disposition"), "result.csv") {
		t.Errorf("csv headers %v", csv.header)
	}
	want := "key,size,kind,empty\n\"a,1.jpg\",7,image,\n\"b\"\"2.jpg\",7,image,\nc.jpg,5,image,\n"
	if csv.body != want {
		t.Errorf("csv:\n%s\nwant:\n%s", csv.body, want)
	}

	arrowRes := env.do(http.MethodPost, "/ui/console/export", root, url.Values{"query": {query}, "format": {"arrow"}}, nil)
	reader, err := ipc.NewReader(bytes.NewReader([]byte(arrowRes.body)))
	if err != nil {
		t.Fatalf("arrow stream: %v", err)
	}
	defer reader.Release()
	schema := reader.Schema().String()
	for _, want := range []string{"key: type=utf8", "size: type=float64", "empty: type=utf8"} {
		if !strings.Contains(schema, want) {
			t.Errorf("schema %s lacks %s", schema, want)
		}
	}
	rows := 0
	for reader.Next() {
		batch := reader.RecordBatch()
		keys := batch.Column(0).(*array.String)
		for i := 0; i < keys.Len(); i++ {
			if rows == 1 && keys.Value(i) != "b\"2.jpg" {
				t.Errorf("row 1 key %q", keys.Value(i))
			}
			rows++
		}
	}
	if rows != 3 {
		t.Errorf("arrow rows %d, want 3", rows)
	}

	refused := env.do(http.MethodPost, "/ui/console/export", root, url.Values{"query": {"SELECT * FROM _superusers"}, "format": {"csv"}}, nil)
	if refused.status != http.StatusBadRequest || !strings.Contains(refused.body, "refused") {
		t.Errorf("export of _superusers: status %d\n%s", refused.status, clip(refused.body))
	}
}

func TestConsoleQueryStopsWithItsRequest(t *testing.T) {
	env := newTestEnv(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()

	started := time.Now()
	endless := "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
	console := newConsole(env.app)
	defer console.Close()
	result, err := console.Query(ctx, endless)
	if err == nil {
		_, err = result.Next()
		result.Close()
	}
	if err == nil {
		t.Fatal("an endless query finished")
	}
	if took := time.Since(started); took > 5*time.Second {
		t.Errorf("cancelled query took %s to stop", took)
	}
}
