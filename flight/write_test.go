package flight_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/subscriptions"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/arrow-mino/arrow-mino/flight"
)

// TestWritesReachRealtime checks that rows written over Flight SQL reach
// a realtime subscriber as create, update and delete events.
func TestWritesReachRealtime(t *testing.T) {
	e := newEnv(t)

	notes := core.NewBaseCollection("notes")
	notes.Fields.Add(&core.TextField{Name: "title"})
	if err := e.app.Save(notes); err != nil {
		t.Fatalf("saving collection: %v", err)
	}
	// The router binds PocketBase's realtime hooks.
	if _, err := apis.NewRouter(e.app); err != nil {
		t.Fatal(err)
	}

	su, err := e.app.FindAuthRecordByEmail(core.CollectionNameSuperusers, suEmail)
	if err != nil {
		t.Fatal(err)
	}
	client := subscriptions.NewDefaultClient()
	client.Set(apis.RealtimeClientAuthKey, su)
	client.Subscribe("notes/*")
	e.app.SubscriptionsBroker().Register(client)

	cl := e.client(t)
	ctx := basicCtx(suEmail, suPassword)

	steps := []struct {
		sql, action string
	}{
		{"INSERT INTO notes(id, title) VALUES ('abcdefghijklmno', 'hi')", "create"},
		{"UPDATE notes SET title = 'there' WHERE id = 'abcdefghijklmno'", "update"},
		{"DELETE FROM notes WHERE id = 'abcdefghijklmno'", "delete"},
	}
	for _, s := range steps {
		n, err := cl.ExecuteUpdate(ctx, s.sql)
		if err != nil || n != 1 {
			t.Fatalf("%s: n=%d err=%v", s.sql, n, err)
		}

		select {
		case msg := <-client.Channel():
			body := string(msg.Data)
			if msg.Name != "notes/*" || !strings.Contains(body, `"action":"`+s.action+`"`) || !strings.Contains(body, "abcdefghijklmno") {
				t.Fatalf("%s: got message %s %s", s.action, msg.Name, body)
			}
		case <-time.After(3 * time.Second):
			t.Fatalf("no realtime %s event", s.action)
		}
	}
}

func TestHostileWritesRefused(t *testing.T) {
	e := newEnv(t)
	createPosts(t, e.app)
	cl := e.client(t)
	ctx := basicCtx(suEmail, suPassword)

	for _, sql := range []string{
		"UPDATE _superusers SET email = 'evil@example.com'",
		"DELETE FROM _params",
		"INSERT INTO _superusers(id) VALUES ('x')",
		"UPDATE users SET tokenKey = 'stolen'",
		"INSERT INTO posts(id, title) SELECT id, tokenKey FROM _superusers",
		"DROP TABLE users",
		"CREATE TRIGGER t AFTER INSERT ON posts BEGIN DELETE FROM _superusers; END",
		"PRAGMA writable_schema = ON",
		"ATTACH DATABASE '/tmp/x.db' AS x",
		"UPDATE posts SET title = 'x'; DELETE FROM _superusers",
	} {
		if _, err := cl.ExecuteUpdate(ctx, sql); err == nil {
			t.Errorf("%q succeeded", sql)
		} else if c := status.Code(err); c != codes.PermissionDenied && c != codes.InvalidArgument {
			t.Errorf("%q: code %v (%v)", sql, c, err)
		}
	}

	var n int
	if err := e.app.DB().NewQuery("SELECT count(*) FROM _superusers WHERE email = 'root@example.com'").Row(&n); err != nil || n != 1 {
		t.Fatalf("superuser changed: n=%d err=%v", n, err)
	}
}

func TestTransactionCommitAndRollback(t *testing.T) {
	e := newEnv(t)
	createPosts(t, e.app)
	cl := e.client(t)
	ctx := basicCtx(suEmail, suPassword)

	tx, err := cl.BeginTransaction(ctx)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	if _, err := tx.ExecuteUpdate(ctx, "INSERT INTO posts(id, title) VALUES ('c', 'in tx')"); err != nil {
		t.Fatalf("insert in tx: %v", err)
	}
	// The transaction sees its own write.
	info, err := tx.Execute(ctx, "SELECT title FROM posts WHERE id = 'c'")
	if err != nil {
		t.Fatal(err)
	}
	if got := fetch(t, ctx, cl, info).column(0); len(got) != 1 || got[0] != "in tx" {
		t.Fatalf("read in tx: %v", got)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	if got := query(t, ctx, cl, "SELECT id FROM posts WHERE id = 'c'").rows(); got != 0 {
		t.Fatalf("rolled back row visible")
	}

	tx, err = cl.BeginTransaction(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecuteUpdate(ctx, "INSERT INTO posts(id, title) VALUES ('d', 'kept')"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	if got := query(t, ctx, cl, "SELECT title FROM posts WHERE id = 'd'").column(0); len(got) != 1 || got[0] != "kept" {
		t.Fatalf("committed row: %v", got)
	}
}

// TestOpenTransactionDoesNotBlockPocketBase: PocketBase's app.Save waits at
// most about the write lease, and the Flight transaction is then aborted.
func TestOpenTransactionDoesNotBlockPocketBase(t *testing.T) {
	lease := 700 * time.Millisecond
	e := newEnvWith(t, flight.Options{TxWriteLease: lease})
	createPosts(t, e.app)
	cl := e.client(t)
	ctx := basicCtx(suEmail, suPassword)

	tx, err := cl.BeginTransaction(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecuteUpdate(ctx, "UPDATE posts SET title = 'held' WHERE id = 'a'"); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	addSuperuser(t, e, "saved@example.com", "saved-password-123")
	if d := time.Since(start); d > lease+2*time.Second {
		t.Fatalf("app.Save waited %v with a %v lease", d, lease)
	}

	err = tx.Commit(ctx)
	if status.Code(err) != codes.Aborted || !strings.Contains(err.Error(), "write lease") {
		t.Fatalf("commit after lease: got %v, want Aborted about the write lease", err)
	}
	if got := query(t, ctx, cl, "SELECT title FROM posts WHERE id = 'a'").column(0); got[0] != "hello" {
		t.Fatalf("aborted write visible: %v", got)
	}
}

func TestReadOnlyRole(t *testing.T) {
	e := newEnvWith(t, flight.Options{AllowReadOnlyRole: true})
	createPosts(t, e.app)

	users, err := e.app.FindCollectionByNameOrId("users")
	if err != nil {
		t.Fatalf("finding users: %v", err)
	}
	u := core.NewRecord(users)
	u.SetEmail("reader@example.com")
	u.SetPassword("reader-password-123")
	if err := e.app.Save(u); err != nil {
		t.Fatal(err)
	}

	cl := e.client(t)
	ctx := basicCtx("reader@example.com", "reader-password-123")

	if got := query(t, ctx, cl, "SELECT id FROM posts ORDER BY id").column(0); len(got) != 2 {
		t.Fatalf("reader query: %v", got)
	}
	if _, err := cl.ExecuteUpdate(ctx, "UPDATE posts SET title = 'no'"); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("reader update: %v", err)
	}
	if _, err := cl.BeginTransaction(ctx); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("reader begin: %v", err)
	}
	if _, err := cl.Prepare(ctx, "DELETE FROM posts"); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("reader prepare delete: %v", err)
	}

	// Without the option the same account cannot connect.
	strict := newEnv(t)
	su := core.NewRecord(mustCollection(t, strict.app, "users"))
	su.SetEmail("reader@example.com")
	su.SetPassword("reader-password-123")
	if err := strict.app.Save(su); err != nil {
		t.Fatal(err)
	}
	if _, err := strict.client(t).Execute(ctx, "SELECT 1"); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("reader without the option: %v", err)
	}
}

func TestAbandonedTransactionExpires(t *testing.T) {
	e := newEnvWith(t, flight.Options{IdleTimeout: 300 * time.Millisecond})
	createPosts(t, e.app)
	cl := e.client(t)
	ctx := basicCtx(suEmail, suPassword)

	tx, err := cl.BeginTransaction(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// Another superuser cannot use it.
	addSuperuser(t, e, "other@example.com", "other-password-123")
	other := basicCtx("other@example.com", "other-password-123")
	if _, err := tx.ExecuteUpdate(other, "DELETE FROM posts"); status.Code(err) != codes.NotFound {
		t.Fatalf("other user's write in tx: %v", err)
	}

	time.Sleep(700 * time.Millisecond)
	if _, err := tx.ExecuteUpdate(ctx, "DELETE FROM posts"); status.Code(err) != codes.NotFound {
		t.Fatalf("write in idle-expired tx: %v", err)
	}
	if n := query(t, ctx, cl, "SELECT id FROM posts").rows(); n != 2 {
		t.Fatalf("posts rows %d", n)
	}
}

func TestSavepoints(t *testing.T) {
	e := newEnv(t)
	createPosts(t, e.app)
	cl := e.client(t)
	ctx := basicCtx(suEmail, suPassword)

	tx, err := cl.BeginTransaction(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mustUpdate := func(sql string) {
		t.Helper()
		if _, err := tx.ExecuteUpdate(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}

	mustUpdate("INSERT INTO posts(id) VALUES ('c')")
	sp, err := tx.BeginSavepoint(ctx, "x'; DROP TABLE posts; --")
	if err != nil {
		t.Fatalf("savepoint: %v", err)
	}
	mustUpdate("INSERT INTO posts(id) VALUES ('d')")
	if err := tx.RollbackSavepoint(ctx, sp); err != nil {
		t.Fatalf("rollback to savepoint: %v", err)
	}
	sp2, err := tx.BeginSavepoint(ctx, "second")
	if err != nil {
		t.Fatal(err)
	}
	mustUpdate("INSERT INTO posts(id) VALUES ('e')")
	if err := tx.ReleaseSavepoint(ctx, sp2); err != nil {
		t.Fatalf("release: %v", err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}

	if got := query(t, ctx, cl, "SELECT id FROM posts ORDER BY id").column(0); !reflect.DeepEqual(got, []any{"a", "b", "c", "e"}) {
		t.Fatalf("ids after savepoints: %v", got)
	}
}
