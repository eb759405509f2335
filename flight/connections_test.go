package flight_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	aflight "github.com/apache/arrow-go/v18/arrow/flight"

	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/pocketbase/pocketbase/core"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/arrow-mino/arrow-mino/flight"
)

// TestClosedConnectionReleasesItsWork closes a client that holds an open
// transaction (and the writer) and a prepared statement: PocketBase's own
// write goes through at once instead of waiting out the minute-long
// lease, the transaction's write is gone, and the handle is dropped.
func TestClosedConnectionReleasesItsWork(t *testing.T) {
	e := newEnvWith(t, flight.Options{TxWriteLease: time.Minute})
	createPosts(t, e.app)
	ctx := basicCtx(suEmail, suPassword)

	leaving, err := flightsql.NewClient(e.server.Addr(), nil, nil, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	tx, err := leaving.BeginTransaction(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := tx.ExecuteUpdate(ctx, "UPDATE posts SET title = 'abandoned' WHERE id = 'a'"); err != nil || n != 1 {
		t.Fatalf("update in transaction: %d, %v", n, err)
	}
	prep, err := leaving.Prepare(ctx, "SELECT id FROM posts")
	if err != nil {
		t.Fatal(err)
	}
	handle := prep.Handle()

	leaving.Close()

	// PocketBase's own write needs the writer the transaction held.
	saved := make(chan error, 1)
	go func() {
		c := core.NewBaseCollection("after_close")
		saved <- e.app.Save(c)
	}()
	select {
	case err := <-saved:
		if err != nil {
			t.Fatalf("PocketBase save after the client left: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("PocketBase's write still waits for the departed client's transaction")
	}

	if got := query(t, ctx, e.client(t), "SELECT title FROM posts WHERE id = 'a'").column(0); got[0] != "hello" {
		t.Fatalf("the departed client's uncommitted write is visible: %v", got)
	}

	other := e.client(t)
	orphan, err := other.LoadPreparedStatementFromResult(&flightsql.CreatePreparedStatementResult{PreparedStatementHandle: handle})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := orphan.Execute(ctx); status.Code(err) != codes.NotFound {
		t.Fatalf("prepared statement of a closed connection: %v, want NotFound", err)
	}
}

// TestCookieSessionOutlivesItsConnection keeps a session's prepared
// statement when the connection that made it closes: a client that comes
// back with the session cookie still uses it.
func TestCookieSessionOutlivesItsConnection(t *testing.T) {
	e := newEnv(t)
	createPosts(t, e.app)
	ctx := basicCtx(suEmail, suPassword)

	first, err := flightsql.NewClient(e.server.Addr(), nil, nil, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	values, err := aflight.NewSessionOptionValues(map[string]any{"schema": "main"})
	if err != nil {
		t.Fatal(err)
	}
	var header metadata.MD
	if _, err := first.SetSessionOptions(ctx, &aflight.SetSessionOptionsRequest{SessionOptions: values}, grpc.Header(&header)); err != nil {
		t.Fatalf("starting a session: %v", err)
	}
	cookies, err := http.ParseSetCookie(strings.Join(header.Get("set-cookie"), ""))
	if err != nil {
		t.Fatalf("session cookie %v: %v", header.Get("set-cookie"), err)
	}
	inSession := metadata.AppendToOutgoingContext(ctx, "cookie", cookies.Name+"="+cookies.Value)

	prep, err := first.Prepare(inSession, "SELECT id FROM posts ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	first.Close()

	again := e.client(t)
	resumed, err := again.LoadPreparedStatementFromResult(&flightsql.CreatePreparedStatementResult{PreparedStatementHandle: prep.Handle()})
	if err != nil {
		t.Fatal(err)
	}
	// Give the server time to handle the closed connection first.
	time.Sleep(200 * time.Millisecond)
	if _, err := resumed.Execute(inSession); err != nil {
		t.Fatalf("the session's prepared statement after its connection closed: %v", err)
	}
	if _, err := resumed.Execute(ctx); status.Code(err) != codes.NotFound {
		t.Fatalf("the same handle without the session cookie: %v, want NotFound", err)
	}
}
