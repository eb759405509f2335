package web

import (
	"net/http"
	"strings"
	"testing"

	"github.com/pocketbase/pocketbase/core"
)

func (env *testEnv) doc(slug, title, body string) *core.Record {
	env.t.Helper()
	col, err := env.app.FindCollectionByNameOrId(docsCollection)
	if err != nil {
		env.t.Fatal(err)
	}
	record := core.NewRecord(col)
	record.Set("slug", slug)
	record.Set("title", title)
	record.Set("body", body)
	if err := env.app.Save(record); err != nil {
		env.t.Fatalf("save doc: %v", err)
	}
	return record
}

func TestDocsRenderMarkdownWithoutRawHTML(t *testing.T) {
	env := newTestEnv(t, Options{})
	env.doc("getting-started", "Getting <started>", strings.Join([]string{
		"# Hello",
		"Some **bold** text and a [link](https://example.com).",
		"<script>alert('raw')</script>",
		`<img src=x onerror="alert(1)">`,
		"Inline <b onclick=\"x()\">tag</b>.",
		"[bad](javascript:alert(1))",
		"",
		"| a | b |",
		"|---|---|",
		"| 1 | 2 |",
	}, "\n"))
	user := env.cookieFor(env.authRecord("users", "ann@example.com"))

	list := env.get("/ui/docs", user)
	mustContain(t, list.body, `href="/ui/docs/getting-started"`, "Getting &lt;started&gt;")

	res := env.get("/ui/docs/getting-started", user)
	if res.status != http.StatusOK {
		t.Fatalf("status %d", res.status)
	}
	mustContain(t, res.body, "<h1>Hello</h1>", "<strong>bold</strong>", `<a href="https://example.com">link</a>`, "<table>", "raw HTML omitted")
	mustNotContain(t, res.body, "<script>alert", "onerror", "onclick", "javascript:alert")

	if res := env.get("/ui/docs/nope", user); res.status != http.StatusNotFound {
		t.Errorf("missing doc: status %d", res.status)
	}

	// Guests never read docs.
	if res := env.get("/ui/docs/getting-started", nil); res.status != http.StatusSeeOther {
		t.Errorf("guest: status %d", res.status)
	}
}

func TestDocsMigration(t *testing.T) {
	env := newTestEnv(t, Options{})
	env.doc("a-page", "A", "x")

	col, _ := env.app.FindCollectionByNameOrId(docsCollection)
	duplicate := core.NewRecord(col)
	duplicate.Set("slug", "a-page")
	duplicate.Set("title", "B")
	if err := env.app.Save(duplicate); err == nil {
		t.Error("a second page with the same slug was saved")
	}

	bad := core.NewRecord(col)
	bad.Set("slug", "Not A Slug")
	bad.Set("title", "C")
	if err := env.app.Save(bad); err == nil {
		t.Error("a slug with spaces was saved")
	}
	if col.ListRule == nil || *col.ListRule != "@request.auth.id != ''" {
		t.Errorf("list rule %v", col.ListRule)
	}
}
