package flight_test

import (
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/pocketbase/pocketbase/core"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// relationsFixture makes authors, books (author: cascade delete),
// reviews (books: multiple, optional) and pins (author: required, no
// cascade) through PocketBase, as a dashboard user would.
func relationsFixture(t *testing.T, app core.App) {
	t.Helper()

	authors := core.NewBaseCollection("authors")
	authors.Fields.Add(&core.TextField{Name: "name"})
	mustSave(t, app, authors)

	books := core.NewBaseCollection("books")
	books.Fields.Add(&core.TextField{Name: "title"})
	books.Fields.Add(&core.RelationField{Name: "author", CollectionId: authors.Id, CascadeDelete: true, MaxSelect: 1})
	mustSave(t, app, books)

	reviews := core.NewBaseCollection("reviews")
	reviews.Fields.Add(&core.RelationField{Name: "books", CollectionId: books.Id, MaxSelect: 5})
	reviews.Fields.Add(&core.AutodateField{Name: "updated", OnCreate: true, OnUpdate: true})
	mustSave(t, app, reviews)

	pins := core.NewBaseCollection("pins")
	pins.Fields.Add(&core.RelationField{Name: "author", CollectionId: authors.Id, Required: true, MaxSelect: 1})
	mustSave(t, app, pins)

	add := func(c *core.Collection, id string, values map[string]any) {
		rec := core.NewRecord(c)
		rec.Id = id
		for k, v := range values {
			rec.Set(k, v)
		}
		mustSave(t, app, rec)
	}
	add(authors, "author000000001", map[string]any{"name": "pinned"})
	add(authors, "author000000002", map[string]any{"name": "free"})
	add(books, "book00000000001", map[string]any{"title": "one", "author": "author000000001"})
	add(books, "book00000000002", map[string]any{"title": "two", "author": "author000000002"})
	add(books, "book00000000003", map[string]any{"title": "three", "author": "author000000002"})
	add(reviews, "review000000001", map[string]any{"books": []string{"book00000000002", "book00000000001"}})
	add(reviews, "review000000002", map[string]any{"books": []string{"book00000000003"}})
	add(pins, "pin000000000001", map[string]any{"author": "author000000001"})
}

func mustSave(t *testing.T, app core.App, m core.Model) {
	t.Helper()
	if err := app.Save(m); err != nil {
		t.Fatalf("saving %v: %v", m, err)
	}
}

func ids(t *testing.T, app core.App, collection string) []string {
	t.Helper()

	records, err := app.FindAllRecords(collection)
	if err != nil {
		t.Fatalf("listing %s: %v", collection, err)
	}
	var out []string
	for _, r := range records {
		out = append(out, r.Id)
	}
	sort.Strings(out)
	return out
}

// TestDeleteFollowsRelationRules deletes over Flight SQL what the
// dashboard would delete, and gets the same cascade, unset and refusal.
func TestDeleteFollowsRelationRules(t *testing.T) {
	e := newEnv(t)
	relationsFixture(t, e.app)
	cl := e.client(t)
	ctx := basicCtx(suEmail, suPassword)

	var mu sync.Mutex
	var deleted []string
	e.app.OnRecordAfterDeleteSuccess().BindFunc(func(ev *core.RecordEvent) error {
		mu.Lock()
		deleted = append(deleted, ev.Record.Collection().Name+"/"+ev.Record.Id)
		mu.Unlock()
		return ev.Next()
	})

	before, err := e.app.FindRecordById("reviews", "review000000001")
	if err != nil {
		t.Fatal(err)
	}

	// The free author goes, with both books (cascade), and the reviews
	// lose those ids (optional relation).
	n, err := cl.ExecuteUpdate(ctx, "DELETE FROM authors WHERE name = 'free'")
	if err != nil || n != 1 {
		t.Fatalf("delete free author: %d, %v", n, err)
	}
	if got := ids(t, e.app, "books"); strings.Join(got, ",") != "book00000000001" {
		t.Fatalf("books after cascade: %v", got)
	}
	r1, err := e.app.FindRecordById("reviews", "review000000001")
	if err != nil {
		t.Fatal(err)
	}
	if got := r1.GetStringSlice("books"); len(got) != 1 || got[0] != "book00000000001" {
		t.Fatalf("review 1 books = %v, want only book 1", got)
	}
	if !r1.GetDateTime("updated").After(before.GetDateTime("updated")) {
		t.Fatalf("review 1 updated %v not touched (was %v)", r1.GetDateTime("updated"), before.GetDateTime("updated"))
	}
	r2, err := e.app.FindRecordById("reviews", "review000000002")
	if err != nil {
		t.Fatal(err)
	}
	if got := r2.GetStringSlice("books"); len(got) != 0 {
		t.Fatalf("review 2 books = %v, want none", got)
	}

	mu.Lock()
	sort.Strings(deleted)
	got := strings.Join(deleted, " ")
	mu.Unlock()
	if got != "authors/author000000002 books/book00000000002 books/book00000000003" {
		t.Fatalf("PocketBase heard of deletes %q", got)
	}

	// The pinned author is the only value of a required relation: the
	// whole statement is refused, cascade included.
	_, err = cl.ExecuteUpdate(ctx, "DELETE FROM authors")
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "required relation field \"author\"") {
		t.Fatalf("delete pinned author: %v, want FailedPrecondition naming the field", err)
	}
	if got := ids(t, e.app, "authors"); strings.Join(got, ",") != "author000000001" {
		t.Fatalf("authors after refusal: %v", got)
	}
	if got := ids(t, e.app, "books"); strings.Join(got, ",") != "book00000000001" {
		t.Fatalf("books after refusal: %v (the refused cascade leaked)", got)
	}
}

// TestRefusedDeleteKeepsTheTransaction refuses one statement of a Flight
// transaction and lets the rest of it commit.
func TestRefusedDeleteKeepsTheTransaction(t *testing.T) {
	e := newEnv(t)
	relationsFixture(t, e.app)
	cl := e.client(t)
	ctx := basicCtx(suEmail, suPassword)

	tx, err := cl.BeginTransaction(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := tx.ExecuteUpdate(ctx, "UPDATE authors SET name = 'renamed' WHERE id = 'author000000001'"); err != nil || n != 1 {
		t.Fatalf("rename: %d, %v", n, err)
	}
	if _, err := tx.ExecuteUpdate(ctx, "DELETE FROM authors WHERE id = 'author000000001'"); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("delete pinned author in a transaction: %v, want FailedPrecondition", err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatalf("commit after a refused statement: %v", err)
	}

	author, err := e.app.FindRecordById("authors", "author000000001")
	if err != nil {
		t.Fatalf("pinned author gone: %v", err)
	}
	if author.GetString("name") != "renamed" {
		t.Fatalf("name = %q, want the committed rename", author.GetString("name"))
	}
	if got := ids(t, e.app, "books"); len(got) != 3 {
		t.Fatalf("books = %v, want all three", got)
	}
}
