package flight_test

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	aflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	pb "github.com/apache/arrow-go/v18/arrow/flight/gen/flight"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/pocketbase/pocketbase/core"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/arrow-mino/arrow-mino/flight"
)

// startSession sets an option without cookie middleware and returns the
// session id the server sent in its set-cookie header.
func startSession(t *testing.T, ctx context.Context, cl *flightsql.Client, options map[string]any) string {
	t.Helper()

	values, err := aflight.NewSessionOptionValues(options)
	if err != nil {
		t.Fatal(err)
	}
	var header metadata.MD
	if _, err := cl.SetSessionOptions(ctx, &aflight.SetSessionOptionsRequest{SessionOptions: values}, grpc.Header(&header)); err != nil {
		t.Fatalf("set session options: %v", err)
	}
	for _, line := range header.Get("set-cookie") {
		if c, err := http.ParseSetCookie(line); err == nil && c.Name == "arrow_flight_session_id" {
			return c.Value
		}
	}
	t.Fatalf("no session cookie in %v", header)
	return ""
}

// withSession adds a session cookie to ctx, as a client that forged or
// copied it would.
func withSession(ctx context.Context, id string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "cookie", "arrow_flight_session_id="+id)
}

// postsIngest is a one-row batch for the posts table.
func postsIngest(t *testing.T) array.RecordReader {
	t.Helper()

	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "title", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	b.Field(0).(*array.StringBuilder).Append("z")
	b.Field(1).(*array.StringBuilder).Append("ingested")
	rec := b.NewRecordBatch()
	defer rec.Release()

	rdr, err := array.NewRecordReader(schema, []arrow.RecordBatch{rec})
	if err != nil {
		t.Fatal(err)
	}
	return rdr
}

// TestAttackReadOnlySessionRefusesPreparedHandles sets read_only after
// a transaction and prepared writes were made in the session, and checks
// none of them can write any more.
func TestAttackReadOnlySessionRefusesPreparedHandles(t *testing.T) {
	e := newEnv(t)
	createPosts(t, e.app)
	ctx := basicCtx(suEmail, suPassword)
	cl := e.cookieClient(t)

	if errs := setOptions(t, ctx, cl, map[string]any{"schema": "main"}); len(errs) != 0 {
		t.Fatalf("starting a session: %v", errs)
	}
	tx, err := cl.BeginTransaction(ctx)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	if n, err := tx.ExecuteUpdate(ctx, "UPDATE posts SET title = 'pending' WHERE id = 'a'"); err != nil || n != 1 {
		t.Fatalf("write before read_only: %d, %v", n, err)
	}
	prep, err := cl.Prepare(ctx, "UPDATE posts SET title = 'prepared' WHERE id = 'b'")
	if err != nil {
		t.Fatalf("prepare: %v", err)
	}
	txPrep, err := tx.Prepare(ctx, "UPDATE posts SET title = 'tx-prepared' WHERE id = 'b'")
	if err != nil {
		t.Fatalf("prepare in transaction: %v", err)
	}

	if errs := setOptions(t, ctx, cl, map[string]any{"read_only": true}); len(errs) != 0 {
		t.Fatalf("read_only: %v", errs)
	}

	denied := map[string]func() error{
		"transaction update": func() error {
			_, err := tx.ExecuteUpdate(ctx, "UPDATE posts SET title = 'late' WHERE id = 'b'")
			return err
		},
		"prepared update": func() error {
			_, err := prep.ExecuteUpdate(ctx)
			return err
		},
		"prepared update through the query path": func() error {
			_, err := prep.Execute(ctx)
			return err
		},
		"prepared update in the transaction": func() error {
			_, err := txPrep.ExecuteUpdate(ctx)
			return err
		},
		"ingest": func() error {
			_, err := cl.ExecuteIngest(ctx, postsIngest(t), &flightsql.ExecuteIngestOpts{
				Table:                  "posts",
				TableDefinitionOptions: &flightsql.TableDefinitionOptions{IfExists: pb.CommandStatementIngest_TableDefinitionOptions_TABLE_EXISTS_OPTION_APPEND},
			})
			return err
		},
		"ingest in the transaction": func() error {
			_, err := cl.ExecuteIngest(ctx, postsIngest(t), &flightsql.ExecuteIngestOpts{
				Table:                  "posts",
				TransactionId:          tx.ID(),
				TableDefinitionOptions: &flightsql.TableDefinitionOptions{IfExists: pb.CommandStatementIngest_TableDefinitionOptions_TABLE_EXISTS_OPTION_APPEND},
			})
			return err
		},
		"ddl": func() error {
			_, err := cl.ExecuteUpdate(ctx, "CREATE TABLE sneaky(x)")
			return err
		},
		"prepare a write": func() error {
			_, err := cl.Prepare(ctx, "DELETE FROM posts")
			return err
		},
	}
	for name, call := range denied {
		if err := call(); status.Code(err) != codes.PermissionDenied {
			t.Errorf("%s in a read-only session: %v, want PermissionDenied", name, err)
		}
	}

	if err := tx.Rollback(ctx); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	got := query(t, ctx, e.client(t), "SELECT id || '=' || title FROM posts ORDER BY id").column(0)
	if len(got) != 2 || got[0] != "a=hello" || got[1] != "b=world" {
		t.Fatalf("posts after the read-only session: %v", got)
	}
	if e.app.HasTable("sneaky") {
		t.Fatal("DDL of a read-only session ran")
	}
}

// TestAttackForeignSessionCookie replays one account's session cookie
// from another account: it must neither reach nor close that session.
func TestAttackForeignSessionCookie(t *testing.T) {
	e := newEnvWith(t, flight.Options{AllowReadOnlyRole: true})
	createPosts(t, e.app)
	addSuperuser(t, e, "other@example.com", "other-password-123")
	reader := core.NewRecord(mustCollection(t, e.app, "users"))
	reader.SetEmail("reader@example.com")
	reader.SetPassword("reader-password-123")
	mustSave(t, e.app, reader)

	owner := basicCtx(suEmail, suPassword)
	cl := e.client(t)
	id := startSession(t, owner, cl, map[string]any{"read_only": true})
	ownerCtx := withSession(owner, id)
	prep, err := cl.Prepare(ownerCtx, "SELECT id FROM posts ORDER BY id")
	if err != nil {
		t.Fatalf("prepare in the session: %v", err)
	}

	for _, who := range []context.Context{
		basicCtx("other@example.com", "other-password-123"),
		basicCtx("reader@example.com", "reader-password-123"),
	} {
		thief := withSession(who, id)

		foreign, err := cl.LoadPreparedStatementFromResult(&flightsql.CreatePreparedStatementResult{PreparedStatementHandle: prep.Handle()})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := foreign.Execute(thief); status.Code(err) != codes.NotFound {
			t.Errorf("stolen cookie reached the prepared statement: %v, want NotFound", err)
		}
		res, err := cl.CloseSession(thief, &aflight.CloseSessionRequest{})
		if err != nil || res.GetStatus() != aflight.CloseSessionResultNotCloseable {
			t.Errorf("stolen cookie close: %v, %v; want not closeable", res, err)
		}
		_ = setOptions(t, thief, cl, map[string]any{"read_only": false})
	}

	// The owner's session is untouched: still read-only, still usable.
	if !readOnlyOption(t, ownerCtx, cl) {
		t.Fatal("another account turned the owner's session read_only off")
	}
	if _, err := cl.ExecuteUpdate(ownerCtx, "UPDATE posts SET title = 'x'"); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("owner's read-only session wrote: %v", err)
	}
	if _, err := prep.Execute(ownerCtx); err != nil {
		t.Fatalf("owner's prepared statement after the replay: %v", err)
	}

	// A forged id is simply no session.
	forged := withSession(owner, strings.Repeat("0", 32))
	if readOnlyOption(t, forged, cl) {
		t.Fatal("a forged session id made the call read-only")
	}
	if res, err := cl.CloseSession(forged, &aflight.CloseSessionRequest{}); err != nil || res.GetStatus() != aflight.CloseSessionResultNotCloseable {
		t.Fatalf("forged close: %v, %v", res, err)
	}
}

// TestAttackDuplicateRelationIDs writes one id twice into a multiple
// relation over Flight SQL, then deletes that record: no copy of the id
// may be left pointing at nothing.
func TestAttackDuplicateRelationIDs(t *testing.T) {
	e := newEnv(t)
	relationsFixture(t, e.app)
	cl := e.client(t)
	ctx := basicCtx(suEmail, suPassword)

	_, err := cl.ExecuteUpdate(ctx, `UPDATE reviews SET books = '["book00000000002","book00000000002","book00000000001"]' WHERE id = 'review000000001'`)
	if err != nil {
		t.Logf("duplicate ids refused: %v", err)
	}

	if n, err := cl.ExecuteUpdate(ctx, "DELETE FROM books WHERE id = 'book00000000002'"); err != nil || n != 1 {
		t.Fatalf("delete book 2: %d, %v", n, err)
	}

	r1, err := e.app.FindRecordById("reviews", "review000000001")
	if err != nil {
		t.Fatal(err)
	}
	var raw string
	if err := e.app.DB().NewQuery("SELECT books FROM reviews WHERE id = 'review000000001'").Row(&raw); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(raw, "book00000000002") {
		t.Fatalf("review 1 still refers to the deleted book: %s (record sees %v)", raw, r1.GetStringSlice("books"))
	}
}

// TestAttackReplaceKeepsReferrers overwrites an author with INSERT OR
// REPLACE and with an upsert: the author still exists afterwards, so
// its books (cascade delete) and pins must stay.
func TestAttackReplaceKeepsReferrers(t *testing.T) {
	e := newEnv(t)
	relationsFixture(t, e.app)
	cl := e.client(t)
	ctx := basicCtx(suEmail, suPassword)

	upsert := "INSERT INTO authors (id, name) VALUES ('author000000002', 'upserted') ON CONFLICT(id) DO UPDATE SET name = excluded.name"
	if n, err := cl.ExecuteUpdate(ctx, upsert); err != nil || n != 1 {
		t.Fatalf("upsert: %d, %v", n, err)
	}
	if got := ids(t, e.app, "books"); len(got) != 3 {
		t.Fatalf("books after an upsert: %v", got)
	}

	_, err := cl.ExecuteUpdate(ctx, "INSERT OR REPLACE INTO authors (id, name) VALUES ('author000000002', 'replaced')")
	if err == nil {
		author, ferr := e.app.FindRecordById("authors", "author000000002")
		if ferr != nil || author.GetString("name") != "replaced" {
			t.Fatalf("replace reported success but author is %v, %v", author, ferr)
		}
	}
	if got := strings.Join(ids(t, e.app, "books"), ","); got != "book00000000001,book00000000002,book00000000003" {
		t.Fatalf("books after INSERT OR REPLACE of their (still existing) author: %s (statement error: %v)", got, err)
	}
	if _, err := e.app.FindRecordById("authors", "author000000002"); err != nil {
		t.Fatalf("author gone: %v", err)
	}
}

// TestAttackOrRollbackInsideTransaction makes a statement of a Flight
// transaction fail with OR ROLLBACK, which ends SQLite's transaction;
// later statements must not commit on their own, and a rollback must
// leave nothing behind.
func TestAttackOrRollbackInsideTransaction(t *testing.T) {
	e := newEnv(t)
	createPosts(t, e.app)
	cl := e.client(t)
	ctx := basicCtx(suEmail, suPassword)

	tx, err := cl.BeginTransaction(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecuteUpdate(ctx, "UPDATE posts SET title = 'first' WHERE id = 'a'"); err != nil {
		t.Fatalf("first write: %v", err)
	}
	if _, err := tx.ExecuteUpdate(ctx, "INSERT OR ROLLBACK INTO posts (id, title) VALUES ('a', 'dup')"); err == nil {
		t.Fatal("duplicate primary key accepted")
	}
	_, lateErr := tx.ExecuteUpdate(ctx, "UPDATE posts SET title = 'after' WHERE id = 'b'")
	_ = tx.Rollback(ctx)

	got := query(t, ctx, cl, "SELECT id || '=' || title FROM posts ORDER BY id").column(0)
	if len(got) != 2 || got[0] != "a=hello" || got[1] != "b=world" {
		t.Fatalf("posts after rolling the transaction back: %v (late write: %v)", got, lateErr)
	}
}

// TestAttackCascadeCycles deletes through a self-referencing collection
// and a two-collection cycle, both with cascade delete: every record of
// the cycle goes, and the statement ends.
func TestAttackCascadeCycles(t *testing.T) {
	e := newEnv(t)
	cl := e.client(t)
	ctx := basicCtx(suEmail, suPassword)

	nodes := core.NewBaseCollection("nodes")
	mustSave(t, e.app, nodes)
	nodes.Fields.Add(&core.RelationField{Name: "parent", CollectionId: nodes.Id, CascadeDelete: true, MaxSelect: 1})
	mustSave(t, e.app, nodes)

	left := core.NewBaseCollection("lefts")
	mustSave(t, e.app, left)
	right := core.NewBaseCollection("rights")
	right.Fields.Add(&core.RelationField{Name: "left", CollectionId: left.Id, CascadeDelete: true, MaxSelect: 1})
	mustSave(t, e.app, right)
	left.Fields.Add(&core.RelationField{Name: "right", CollectionId: right.Id, CascadeDelete: true, MaxSelect: 1})
	mustSave(t, e.app, left)

	setup := []string{
		"INSERT INTO nodes (id, parent) VALUES ('node00000000001', ''), ('node00000000002', 'node00000000001'), ('node00000000003', 'node00000000003')",
		"UPDATE nodes SET parent = 'node00000000002' WHERE id = 'node00000000001'",
		"INSERT INTO lefts (id, \"right\") VALUES ('left00000000001', '')",
		"INSERT INTO rights (id, \"left\") VALUES ('right0000000001', 'left00000000001')",
		"UPDATE lefts SET \"right\" = 'right0000000001'",
	}
	for _, sql := range setup {
		if _, err := cl.ExecuteUpdate(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}

	if _, err := cl.ExecuteUpdate(ctx, "DELETE FROM nodes WHERE id = 'node00000000001'"); err != nil {
		t.Fatalf("delete in a self-cycle: %v", err)
	}
	if got := strings.Join(ids(t, e.app, "nodes"), ","); got != "node00000000003" {
		t.Fatalf("nodes after the cycle delete: %s", got)
	}
	if _, err := cl.ExecuteUpdate(ctx, "DELETE FROM nodes"); err != nil {
		t.Fatalf("delete a record referring to itself: %v", err)
	}
	if got := ids(t, e.app, "nodes"); len(got) != 0 {
		t.Fatalf("nodes left: %v", got)
	}

	if _, err := cl.ExecuteUpdate(ctx, "DELETE FROM rights"); err != nil {
		t.Fatalf("delete in a two-collection cycle: %v", err)
	}
	if l, r := ids(t, e.app, "lefts"), ids(t, e.app, "rights"); len(l)+len(r) != 0 {
		t.Fatalf("cycle left %v and %v", l, r)
	}
}

// TestAttackRelationValueShapes stores relation ids in shapes PocketBase
// itself would not (a JSON array in a single relation, a bare id in a
// multiple one): after the target is deleted no record may still point
// at it, or the write must have been refused.
func TestAttackRelationValueShapes(t *testing.T) {
	e := newEnv(t)
	relationsFixture(t, e.app)
	cl := e.client(t)
	ctx := basicCtx(suEmail, suPassword)

	_, singleErr := cl.ExecuteUpdate(ctx, `UPDATE books SET author = '["author000000002"]' WHERE id = 'book00000000001'`)
	if _, err := cl.ExecuteUpdate(ctx, "UPDATE reviews SET books = 'book00000000003' WHERE id = 'review000000002'"); err != nil {
		t.Logf("bare id in a multiple relation refused: %v", err)
	}

	if _, err := cl.ExecuteUpdate(ctx, "DELETE FROM books WHERE id = 'book00000000003'"); err != nil {
		t.Fatalf("delete book 3: %v", err)
	}
	var books string
	if err := e.app.DB().NewQuery("SELECT books FROM reviews WHERE id = 'review000000002'").Row(&books); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(books, "book00000000003") {
		t.Errorf("review 2 still refers to the deleted book: %s", books)
	}

	if _, err := cl.ExecuteUpdate(ctx, "DELETE FROM authors WHERE id = 'author000000002'"); err != nil {
		t.Fatalf("delete author 2: %v", err)
	}
	var dangling []string
	if err := e.app.DB().NewQuery("SELECT id FROM books WHERE author LIKE '%author000000002%'").Column(&dangling); err != nil {
		t.Fatal(err)
	}
	if len(dangling) != 0 {
		t.Errorf("books %v still refer to the deleted author (JSON single relation written with error %v)", dangling, singleErr)
	}
}

// bindRow builds a one-row parameter batch from Go values: []byte,
// float64, string or nil (a null string).
func bindRow(t *testing.T, values ...any) arrow.RecordBatch {
	t.Helper()

	fields := make([]arrow.Field, len(values))
	for i, v := range values {
		typ := arrow.DataType(arrow.BinaryTypes.String)
		switch v.(type) {
		case []byte:
			typ = arrow.BinaryTypes.Binary
		case float64:
			typ = arrow.PrimitiveTypes.Float64
		}
		fields[i] = arrow.Field{Name: "p" + string(rune('0'+i)), Type: typ, Nullable: true}
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, arrow.NewSchema(fields, nil))
	defer b.Release()
	for i, v := range values {
		switch v := v.(type) {
		case []byte:
			b.Field(i).(*array.BinaryBuilder).Append(v)
		case float64:
			b.Field(i).(*array.Float64Builder).Append(v)
		case string:
			b.Field(i).(*array.StringBuilder).Append(v)
		case nil:
			b.Field(i).AppendNull()
		}
	}
	return b.NewRecordBatch()
}

// TestAttackValidationBypass tries to slip rows past the field rules
// through statement forms other than plain INSERT/UPDATE and through
// bound parameters of odd types: each is refused and changes nothing.
func TestAttackValidationBypass(t *testing.T) {
	e := newEnv(t)
	contactsFixture(t, e.app)
	mustExec(t, e.app, "CREATE TABLE staging(email TEXT, age REAL)")
	mustExec(t, e.app, "INSERT INTO staging VALUES ('bad-email', 30), ('b@example.com', 1000)")
	cl := e.client(t)
	ctx := basicCtx(suEmail, suPassword)

	const seed = "INSERT INTO contacts (id, email, age, tier) VALUES ('contact00000001', 'a@example.com', 30, 'free')"
	if _, err := cl.ExecuteUpdate(ctx, seed); err != nil {
		t.Fatalf("seed: %v", err)
	}
	before := query(t, ctx, cl, "SELECT id, email, age, tier, updated FROM contacts").column(1)

	statements := []string{
		"UPDATE contacts SET email = s.email FROM staging s WHERE s.age = 30",
		"UPDATE contacts SET age = s.age FROM (SELECT age FROM staging WHERE age > 100) s",
		"INSERT INTO contacts (id, email) VALUES ('contact00000001', 'x@example.com') ON CONFLICT(id) DO UPDATE SET email = 'nope'",
		"INSERT INTO contacts (id, email) VALUES ('contact00000001', 'x@example.com') ON CONFLICT(id) DO UPDATE SET tier = 'gold'",
		"WITH src(e) AS (SELECT 'still-bad') INSERT INTO contacts (email) SELECT e FROM src",
		"INSERT INTO contacts (email, age) SELECT email, age FROM staging",
		"INSERT OR REPLACE INTO contacts (id, email, age) VALUES ('contact00000001', 'a@example.com', 7.5)",
		"INSERT INTO contacts (id, email) VALUES ('Bad Id!', 'c@example.com') ON CONFLICT DO NOTHING",
		"UPDATE contacts SET age = 1e999",
		"UPDATE contacts SET age = -1e999",
		"UPDATE contacts SET email = NULL",
		"UPDATE contacts SET email = CAST('a@example.com' AS BLOB) || 'x y'",
	}
	for _, sql := range statements {
		if n, err := cl.ExecuteUpdate(ctx, sql); err == nil {
			t.Errorf("%s: accepted (%d rows)", sql, n)
		}
	}

	prep, err := cl.Prepare(ctx, "UPDATE contacts SET email = ?, age = ? WHERE id = ?")
	if err != nil {
		t.Fatalf("prepare: %v", err)
	}
	binds := []arrow.RecordBatch{
		bindRow(t, []byte("not an email"), 30.0, "contact00000001"),
		bindRow(t, strings.Repeat("x", 4<<20)+"@example.com", 30.0, "contact00000001"),
		bindRow(t, "a@example.com", nanFloat(), "contact00000001"),
		bindRow(t, "a@example.com", infFloat(), "contact00000001"),
		bindRow(t, nil, 30.0, "contact00000001"),
		bindRow(t, "a@example.com", 30.5, "contact00000001"),
	}
	for i, b := range binds {
		prep.SetParameters(b)
		if n, err := prep.ExecuteUpdate(ctx); err == nil {
			t.Errorf("bound row %d accepted (%d rows)", i, n)
		}
		b.Release()
	}

	after := query(t, ctx, cl, "SELECT id, email, age, tier, updated FROM contacts")
	if after.rows() != 1 || after.column(1)[0] != before[0] {
		t.Fatalf("contacts changed: %v -> %v rows %d", before, after.column(1), after.rows())
	}
	var age, tier, email any
	if err := e.app.DB().NewQuery("SELECT age, tier, email FROM contacts").Row(&age, &tier, &email); err != nil {
		t.Fatal(err)
	}
	if age != int64(30) || tier != "free" || email != "a@example.com" {
		t.Fatalf("stored row = %#v, %#v, %#v", age, tier, email)
	}
}

// TestAttackStoredValuesMatchValidated stores values PocketBase would
// have normalized (text in a number field, a JSON list in a single
// select): what is validated must be what is stored, or the write must
// be refused.
func TestAttackStoredValuesMatchValidated(t *testing.T) {
	e := newEnv(t)
	contactsFixture(t, e.app)
	cl := e.client(t)
	ctx := basicCtx(suEmail, suPassword)

	_, err := cl.ExecuteUpdate(ctx, "INSERT INTO contacts (id, email, age, tier) VALUES ('contact00000001', 'a@example.com', 'forty', 'free')")
	var kind string
	if qerr := e.app.DB().NewQuery("SELECT typeof(age) FROM contacts").Row(&kind); qerr == nil && kind == "text" {
		t.Errorf("number field holds text after a Flight insert (error %v)", err)
	}

	mustExec(t, e.app, "DELETE FROM contacts")
	_, err = cl.ExecuteUpdate(ctx, `INSERT INTO contacts (id, email, age, tier) VALUES ('contact00000002', 'b@example.com', 1, '["free","paid"]')`)
	var tier string
	if qerr := e.app.DB().NewQuery("SELECT tier FROM contacts").Row(&tier); qerr == nil && tier != "free" && tier != "paid" {
		t.Errorf("single select holds %q after a Flight insert (error %v)", tier, err)
	}
}

func nanFloat() float64 { return math.NaN() }

func infFloat() float64 { return math.Inf(1) }

// TestAttackStatementRowLimit changes more than 10000 collection rows in
// one statement, directly and through a cascade: refused with
// ResourceExhausted, nothing kept, and a transaction goes on after it.
func TestAttackStatementRowLimit(t *testing.T) {
	e := newEnv(t)
	relationsFixture(t, e.app)
	cl := e.client(t)
	ctx := basicCtx(suEmail, suPassword)

	insert := func(n int) string {
		return "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < " + itoa(n) +
			") INSERT INTO authors (id, name) SELECT printf('bulk%011d', i), 'bulk' FROM k"
	}
	if _, err := cl.ExecuteUpdate(ctx, insert(10001)); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("insert of 10001 rows: %v, want ResourceExhausted", err)
	}
	if got := ids(t, e.app, "authors"); len(got) != 2 {
		t.Fatalf("authors after the refused insert: %d", len(got))
	}

	tx, err := cl.BeginTransaction(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := tx.ExecuteUpdate(ctx, insert(9999)); err != nil || n != 9999 {
		t.Fatalf("insert of 9999 rows in a transaction: %d, %v", n, err)
	}
	if _, err := tx.ExecuteUpdate(ctx, "UPDATE authors SET name = 'all'"); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("update of 10001 rows: %v, want ResourceExhausted", err)
	}
	if _, err := tx.ExecuteUpdate(ctx, "DELETE FROM authors WHERE name = 'bulk'"); err != nil {
		t.Fatalf("delete of 9999 rows after the refusal: %v", err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	if got := ids(t, e.app, "authors"); len(got) != 2 {
		t.Fatalf("authors after commit: %d", len(got))
	}

	// 10000 books of one author make its delete a 10003-row cascade.
	mustExec(t, e.app, "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 10000) "+
		"INSERT INTO books (id, title, author) SELECT printf('bulkbook%07d', i), 'bulk', 'author000000002' FROM k")
	if _, err := cl.ExecuteUpdate(ctx, "DELETE FROM authors WHERE id = 'author000000002'"); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("cascade of 10003 rows: %v, want ResourceExhausted", err)
	}
	if got := ids(t, e.app, "books"); len(got) != 10003 {
		t.Fatalf("books after the refused cascade: %d", len(got))
	}
}

func itoa(n int) string {
	return strconv.Itoa(n)
}

// TestAttackEventsMatchCommit compares the record events PocketBase
// hears with what a Flight transaction committed: a row deleted and
// another inserted in its place, a rolled-back savepoint and a refused
// statement must not produce wrong or repeated events.
func TestAttackEventsMatchCommit(t *testing.T) {
	e := newEnv(t)
	relationsFixture(t, e.app)
	cl := e.client(t)
	ctx := basicCtx(suEmail, suPassword)

	var mu sync.Mutex
	var events []string
	record := func(kind string) func(ev *core.RecordEvent) error {
		return func(ev *core.RecordEvent) error {
			mu.Lock()
			events = append(events, kind+" "+ev.Record.Id+" "+ev.Record.GetString("name"))
			mu.Unlock()
			return ev.Next()
		}
	}
	e.app.OnRecordAfterCreateSuccess("authors").BindFunc(record("create"))
	e.app.OnRecordAfterUpdateSuccess("authors").BindFunc(record("update"))
	e.app.OnRecordAfterDeleteSuccess("authors").BindFunc(record("delete"))

	tx, err := cl.BeginTransaction(ctx)
	if err != nil {
		t.Fatal(err)
	}
	steps := []string{
		"INSERT INTO authors (id, name) VALUES ('author00000000x', 'x')",
		"DELETE FROM authors WHERE id = 'author00000000x'",
		"INSERT INTO authors (id, name) VALUES ('author00000000y', 'y')",
	}
	for _, sql := range steps {
		if _, err := tx.ExecuteUpdate(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	sp, err := tx.BeginSavepoint(ctx, "sp")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecuteUpdate(ctx, "INSERT INTO authors (id, name) VALUES ('author00000000z', 'z')"); err != nil {
		t.Fatal(err)
	}
	if err := tx.RollbackSavepoint(ctx, sp); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecuteUpdate(ctx, "DELETE FROM authors WHERE id = 'author000000001'"); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("delete of the pinned author: %v", err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	mu.Lock()
	got := strings.Join(events, "; ")
	mu.Unlock()
	want := "create author00000000x x; delete author00000000x x; create author00000000y y"
	if got != want {
		t.Fatalf("events = %q\nwant     %q", got, want)
	}
}

// readTicket runs DoGet on the first endpoint of info and returns the
// stream's error and column count.
func readTicket(ctx context.Context, cl *flightsql.Client, info *aflight.FlightInfo) (int, error) {
	rdr, err := cl.DoGet(ctx, info.Endpoint[0].Ticket)
	if err != nil {
		return 0, err
	}
	defer rdr.Release()

	for rdr.Next() {
	}
	return rdr.Schema().NumFields(), rdr.Err()
}

// TestAttackSchemaChangeRetry changes the schema behind a FlightInfo
// (ALTER TABLE through app.DB(), a collection saved in PocketBase): the
// DoGet may fail with Aborted once, and executing again must work, for
// ad hoc and prepared statements alike.
func TestAttackSchemaChangeRetry(t *testing.T) {
	e := newEnv(t)
	createPosts(t, e.app)
	cl := e.client(t)
	ctx := basicCtx(suEmail, suPassword)

	// execute runs GetFlightInfo (through run) and DoGet, retrying once
	// on Aborted.
	execute := func(name string, run func() (*aflight.FlightInfo, error)) int {
		t.Helper()

		for attempt := 1; attempt <= 2; attempt++ {
			info, err := run()
			if err != nil {
				t.Fatalf("%s: GetFlightInfo: %v", name, err)
			}
			cols, err := readTicket(ctx, cl, info)
			if err == nil {
				return cols
			}
			if status.Code(err) != codes.Aborted || attempt == 2 {
				t.Errorf("%s: attempt %d: %v", name, attempt, err)
				return -1
			}
		}
		return -1
	}

	adhoc := func() (*aflight.FlightInfo, error) { return cl.Execute(ctx, "SELECT * FROM posts WHERE id = 'a'") }

	info, err := adhoc()
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, e.app, "ALTER TABLE posts ADD COLUMN extra TEXT")
	if _, err := readTicket(ctx, cl, info); status.Code(err) != codes.Aborted {
		t.Fatalf("DoGet after ALTER TABLE: %v, want Aborted", err)
	}
	if cols := execute("ad hoc after ALTER", adhoc); cols != 7 {
		t.Fatalf("ad hoc retry sees %d columns, want 7", cols)
	}

	unrelated := core.NewBaseCollection("unrelated")
	mustSave(t, e.app, unrelated)
	if cols := execute("ad hoc after a collection change", adhoc); cols != 7 {
		t.Fatalf("ad hoc after a collection change sees %d columns", cols)
	}
}

// TestAttackPreparedSchemaChangeRetry is TestAttackSchemaChangeRetry for
// a prepared query: after the schema changed, executing the same
// prepared statement again must work.
func TestAttackPreparedSchemaChangeRetry(t *testing.T) {
	e := newEnv(t)
	createPosts(t, e.app)
	cl := e.client(t)
	ctx := basicCtx(suEmail, suPassword)

	prep, err := cl.Prepare(ctx, "SELECT * FROM posts WHERE id = 'a'")
	if err != nil {
		t.Fatal(err)
	}
	executeTwice := func(name string) int {
		t.Helper()

		var err error
		for attempt := 1; attempt <= 2; attempt++ {
			info, ierr := prep.Execute(ctx)
			if ierr != nil {
				t.Fatalf("%s: GetFlightInfo: %v", name, ierr)
			}
			var cols int
			if cols, err = readTicket(ctx, cl, info); err == nil {
				return cols
			}
		}
		t.Errorf("%s: second attempt: %v", name, err)
		return -1
	}

	mustSave(t, e.app, core.NewBaseCollection("unrelated"))
	if cols := executeTwice("prepared after an unrelated collection was saved"); cols != 6 {
		t.Errorf("got %d columns, want 6", cols)
	}

	mustExec(t, e.app, "ALTER TABLE posts ADD COLUMN extra TEXT")
	if cols := executeTwice("prepared after ALTER TABLE"); cols != 7 {
		t.Errorf("got %d columns, want 7", cols)
	}
}

// TestAttackSessionExhaustion opens sessions until the per-account cap,
// checks that other accounts are unaffected, and that closing or
// expiring a session frees its place.
func TestAttackSessionExhaustion(t *testing.T) {
	// The idle timeout leaves the steps before the wait seconds of margin
	// on a loaded machine.
	const idle = 3 * time.Second
	e := newEnvWith(t, flightOptsIdle(idle))
	addSuperuser(t, e, "other@example.com", "other-password-123")
	cl := e.client(t)
	ctx := basicCtx(suEmail, suPassword)

	values, err := aflight.NewSessionOptionValues(map[string]any{"schema": "main"})
	if err != nil {
		t.Fatal(err)
	}
	req := &aflight.SetSessionOptionsRequest{SessionOptions: values}

	var first string
	for i := 0; i < 64; i++ {
		id := startSession(t, ctx, cl, map[string]any{"schema": "main"})
		if i == 0 {
			first = id
		}
	}
	if _, err := cl.SetSessionOptions(ctx, req); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("65th session: %v, want ResourceExhausted", err)
	}
	startSession(t, basicCtx("other@example.com", "other-password-123"), cl, map[string]any{"schema": "main"})

	res, err := cl.CloseSession(withSession(ctx, first), &aflight.CloseSessionRequest{})
	if err != nil || res.GetStatus() != aflight.CloseSessionResultClosed {
		t.Fatalf("closing a session: %v, %v", res, err)
	}
	startSession(t, ctx, cl, map[string]any{"schema": "main"})
	if _, err := cl.SetSessionOptions(ctx, req); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("session after refilling the freed place: %v, want ResourceExhausted", err)
	}

	time.Sleep(idle + 300*time.Millisecond)
	if _, err := cl.SetSessionOptions(ctx, req); err != nil {
		t.Fatalf("session after the others expired: %v", err)
	}
	if readOnlyOption(t, withSession(ctx, first), cl) {
		t.Fatal("a closed session still answers")
	}
}

// TestAttackCloseSessionDuringStream closes the session while one of its
// queries streams a large result: the stream ends, and the server keeps
// answering reads and writes.
func TestAttackCloseSessionDuringStream(t *testing.T) {
	e := newEnv(t)
	mustExec(t, e.app, "CREATE TABLE big(id INTEGER PRIMARY KEY, pad TEXT)")
	mustExec(t, e.app, "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 300000) INSERT INTO big SELECT i, printf('%0100d', i) FROM k")
	cl := e.client(t)
	ctx := basicCtx(suEmail, suPassword)
	sess := withSession(ctx, startSession(t, ctx, cl, map[string]any{"schema": "main"}))

	for _, sql := range []string{"SELECT * FROM big", "SELECT id, pad FROM big WHERE id > 0 ORDER BY id DESC"} {
		info, err := cl.Execute(sess, sql)
		if err != nil {
			t.Fatalf("execute: %v", err)
		}
		rdr, err := cl.DoGet(sess, info.Endpoint[0].Ticket)
		if err != nil {
			t.Fatalf("DoGet: %v", err)
		}
		if !rdr.Next() {
			t.Fatalf("no first batch: %v", rdr.Err())
		}

		if _, err := cl.CloseSession(sess, &aflight.CloseSessionRequest{}); err != nil {
			t.Fatalf("close session mid-stream: %v", err)
		}
		var rows int64
		for rdr.Next() {
			rows += rdr.RecordBatch().NumRows()
		}
		if rows >= 300000 {
			t.Errorf("%s: the whole result streamed after CloseSession", sql)
		}
		if err := rdr.Err(); status.Code(err) != codes.Canceled {
			t.Errorf("%s: stream after CloseSession ended with %v, want Canceled", sql, err)
		}
		rdr.Release()

		sess = withSession(ctx, startSession(t, ctx, cl, map[string]any{"schema": "main"}))
	}

	if got := query(t, ctx, cl, "SELECT count(*) FROM big").column(0); got[0] != "300000" {
		t.Fatalf("count after the cancelled streams: %v", got)
	}
	if n, err := cl.ExecuteUpdate(ctx, "DELETE FROM big WHERE id > 10"); err != nil || n != 299990 {
		t.Fatalf("write after the cancelled streams: %d, %v", n, err)
	}
}

// TestAttackOddParameterTypes binds parameter types no driver sends
// (lists, structs, dictionaries, decimals, huge strings): each is
// refused or bound as text, and the server keeps answering.
func TestAttackOddParameterTypes(t *testing.T) {
	e := newEnv(t)
	createPosts(t, e.app)
	cl := e.client(t)
	ctx := basicCtx(suEmail, suPassword)

	types := []arrow.DataType{
		arrow.ListOf(arrow.PrimitiveTypes.Int64),
		arrow.StructOf(arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Int64, Nullable: true}),
		&arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int8, ValueType: arrow.BinaryTypes.String},
		&arrow.Decimal128Type{Precision: 10, Scale: 2},
		arrow.FixedWidthTypes.Float16,
		arrow.FixedWidthTypes.Duration_s,
		arrow.BinaryTypes.StringView,
		arrow.FixedWidthTypes.MonthDayNanoInterval,
		arrow.SparseUnionOf([]arrow.Field{{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true}}, []arrow.UnionTypeCode{0}),
	}
	for _, prepSQL := range []string{"SELECT title FROM posts WHERE title = ?", "UPDATE posts SET title = ? WHERE id = 'zzz'"} {
		prep, err := cl.Prepare(ctx, prepSQL)
		if err != nil {
			t.Fatalf("prepare: %v", err)
		}
		for _, typ := range types {
			schema := arrow.NewSchema([]arrow.Field{{Name: "p", Type: typ, Nullable: true}}, nil)
			b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
			b.Field(0).AppendEmptyValue()
			b.Field(0).AppendNull()
			rec := b.NewRecordBatch()
			b.Release()

			prep.SetParameters(rec)
			var callErr error
			if strings.HasPrefix(prepSQL, "SELECT") {
				var info *aflight.FlightInfo
				if info, callErr = prep.Execute(ctx); callErr == nil {
					_, callErr = readTicket(ctx, cl, info)
				}
			} else {
				_, callErr = prep.ExecuteUpdate(ctx)
			}
			if status.Code(callErr) == codes.Internal || status.Code(callErr) == codes.Unknown {
				t.Errorf("%s with a %s parameter: %v", prepSQL, typ, callErr)
			}
			rec.Release()
		}
	}

	huge := bindRow(t, strings.Repeat("y", 8<<20))
	defer huge.Release()
	prep, err := cl.Prepare(ctx, "UPDATE posts SET title = ? WHERE id = 'b'")
	if err != nil {
		t.Fatal(err)
	}
	prep.SetParameters(huge)
	if _, err := prep.ExecuteUpdate(ctx); err != nil && status.Code(err) != codes.ResourceExhausted && status.Code(err) != codes.InvalidArgument {
		t.Errorf("8 MiB parameter: %v", err)
	}

	if got := query(t, ctx, cl, "SELECT count(*) FROM posts").column(0); got[0] != "2" {
		t.Fatalf("server after odd parameters: %v", got)
	}
}
