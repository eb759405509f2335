package flight_test

import (
	"strings"
	"testing"

	"github.com/pocketbase/pocketbase/core"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// contactsFixture makes a collection whose fields have rules to break.
func contactsFixture(t *testing.T, app core.App) {
	t.Helper()

	contacts := core.NewBaseCollection("contacts")
	contacts.Fields.Add(&core.EmailField{Name: "email", Required: true})
	contacts.Fields.Add(&core.NumberField{Name: "age", Min: ptr(0.0), Max: ptr(150.0), OnlyInt: true})
	contacts.Fields.Add(&core.SelectField{Name: "tier", Values: []string{"free", "paid"}, MaxSelect: 1})
	contacts.Fields.Add(&core.AutodateField{Name: "created", OnCreate: true})
	contacts.Fields.Add(&core.AutodateField{Name: "updated", OnCreate: true, OnUpdate: true})
	mustSave(t, app, contacts)
}

func ptr[T any](v T) *T { return &v }

// TestWritesFollowFieldRules refuses rows that app.Save would refuse,
// and stamps autodate fields on the rows it accepts.
func TestWritesFollowFieldRules(t *testing.T) {
	e := newEnv(t)
	contactsFixture(t, e.app)
	cl := e.client(t)
	ctx := basicCtx(suEmail, suPassword)

	refused := []struct{ sql, field string }{
		{"INSERT INTO contacts (email, age, tier) VALUES ('not-an-email', 30, 'free')", "email"},
		{"INSERT INTO contacts (email, age, tier) VALUES ('', 30, 'free')", "email"},
		{"INSERT INTO contacts (email, age, tier) VALUES ('a@example.com', 200, 'free')", "age"},
		{"INSERT INTO contacts (email, age, tier) VALUES ('a@example.com', 2.5, 'free')", "age"},
		{"INSERT INTO contacts (email, age, tier) VALUES ('a@example.com', 30, 'gold')", "tier"},
		{"INSERT INTO contacts (id, email) VALUES ('UPPER', 'a@example.com')", "id"},
	}
	for _, c := range refused {
		_, err := cl.ExecuteUpdate(ctx, c.sql)
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), c.field+":") {
			t.Errorf("%s: %v, want InvalidArgument naming %s", c.sql, err, c.field)
		}
	}
	if got := ids(t, e.app, "contacts"); len(got) != 0 {
		t.Fatalf("refused rows were kept: %v", got)
	}

	n, err := cl.ExecuteUpdate(ctx, "INSERT INTO contacts (id, email, age, tier) VALUES ('contact00000001', 'a@example.com', 30, 'paid')")
	if err != nil || n != 1 {
		t.Fatalf("valid insert: %d, %v", n, err)
	}
	inserted, err := e.app.FindRecordById("contacts", "contact00000001")
	if err != nil {
		t.Fatal(err)
	}
	if inserted.GetDateTime("created").IsZero() || inserted.GetDateTime("updated").IsZero() {
		t.Fatalf("autodate fields not stamped: created %q, updated %q", inserted.GetString("created"), inserted.GetString("updated"))
	}

	if _, err := cl.ExecuteUpdate(ctx, "UPDATE contacts SET age = -1"); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("update breaking min: %v, want InvalidArgument", err)
	}
	if n, err := cl.ExecuteUpdate(ctx, "UPDATE contacts SET age = 31"); err != nil || n != 1 {
		t.Fatalf("valid update: %d, %v", n, err)
	}
	updated, err := e.app.FindRecordById("contacts", "contact00000001")
	if err != nil {
		t.Fatal(err)
	}
	if updated.GetInt("age") != 31 || !updated.GetDateTime("updated").After(inserted.GetDateTime("updated")) {
		t.Fatalf("after update: age %d, updated %v (was %v)", updated.GetInt("age"), updated.GetDateTime("updated"), inserted.GetDateTime("updated"))
	}
	if !updated.GetDateTime("created").Equal(inserted.GetDateTime("created")) {
		t.Fatal("an update moved the created date")
	}

	if _, err := cl.ExecuteUpdate(ctx, "UPDATE contacts SET id = 'contact00000002'"); err == nil || !strings.Contains(err.Error(), "ids never change") {
		t.Fatalf("changing a record id: %v, want a refusal", err)
	}
}

// TestRelationsCheckedInsideTheTransaction accepts a relation to a record
// inserted earlier in the same transaction, refuses one to a missing
// record, and keeps the rest of the transaction.
func TestRelationsCheckedInsideTheTransaction(t *testing.T) {
	e := newEnv(t)
	relationsFixture(t, e.app)
	cl := e.client(t)
	ctx := basicCtx(suEmail, suPassword)

	tx, err := cl.BeginTransaction(ctx)
	if err != nil {
		t.Fatal(err)
	}
	steps := []string{
		"INSERT INTO authors (id, name) VALUES ('author000000003', 'new')",
		"INSERT INTO books (id, title, author) VALUES ('book00000000004', 'four', 'author000000003')",
	}
	for _, sql := range steps {
		if _, err := tx.ExecuteUpdate(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}

	// One call that inserts two books, the second pointing nowhere: the
	// call is all or nothing.
	_, err = tx.ExecuteUpdate(ctx, "INSERT INTO books (id, title, author) VALUES ('book00000000005', 'five', 'author000000003'), ('book00000000006', 'six', 'author999999999')")
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "author:") {
		t.Fatalf("book with a missing author: %v, want InvalidArgument naming author", err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}

	got := strings.Join(ids(t, e.app, "books"), ",")
	if got != "book00000000001,book00000000002,book00000000003,book00000000004" {
		t.Fatalf("books after commit: %s", got)
	}
}
