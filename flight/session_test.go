package flight_test

import (
	"context"
	"strings"
	"testing"

	"github.com/apache/arrow-adbc/go/adbc"
	adbcflightsql "github.com/apache/arrow-adbc/go/adbc/driver/flightsql"
	aflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/pocketbase/pocketbase/core"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/arrow-mino/arrow-mino/flight"
)

// cookieClient is a Flight SQL client that keeps cookies, as ADBC and
// JDBC do, so it stays in the session the server starts.
func (e *env) cookieClient(t *testing.T) *flightsql.Client {
	t.Helper()

	middleware := []aflight.ClientMiddleware{aflight.CreateClientMiddleware(aflight.NewCookieMiddleware())}
	cl, err := flightsql.NewClient(e.server.Addr(), nil, middleware, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("creating cookie client: %v", err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

func setOptions(t *testing.T, ctx context.Context, cl *flightsql.Client, options map[string]any) map[string]*aflight.SetSessionOptionsResultError {
	t.Helper()

	values, err := aflight.NewSessionOptionValues(options)
	if err != nil {
		t.Fatal(err)
	}
	res, err := cl.SetSessionOptions(ctx, &aflight.SetSessionOptionsRequest{SessionOptions: values})
	if err != nil {
		t.Fatalf("set session options %v: %v", options, err)
	}
	return res.GetErrors()
}

func readOnlyOption(t *testing.T, ctx context.Context, cl *flightsql.Client) bool {
	t.Helper()

	res, err := cl.GetSessionOptions(ctx, &aflight.GetSessionOptionsRequest{})
	if err != nil {
		t.Fatalf("get session options: %v", err)
	}
	return res.GetSessionOptions()["read_only"].GetBoolValue()
}

// TestADBCCurrentCatalogAndSchema uses ADBC's current catalog and schema
// options, which it maps to Get/SetSessionOptions.
func TestADBCCurrentCatalogAndSchema(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()

	db, err := adbcflightsql.NewDriver(memory.DefaultAllocator).NewDatabase(map[string]string{
		adbc.OptionKeyURI:                    "grpc+tcp://" + e.server.Addr(),
		adbc.OptionKeyUsername:               suEmail,
		adbc.OptionKeyPassword:               suPassword,
		adbcflightsql.OptionCookieMiddleware: adbc.OptionValueEnabled,
	})
	if err != nil {
		t.Fatalf("new database: %v", err)
	}
	defer db.Close()
	cnxn, err := db.Open(ctx)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer cnxn.Close()
	getter := cnxn.(adbc.GetSetOptions)

	if got, err := getter.GetOption(adbc.OptionKeyCurrentDbSchema); err != nil || got != "main" {
		t.Fatalf("current schema = %q, %v; want main", got, err)
	}
	if got, err := getter.GetOption(adbc.OptionKeyCurrentCatalog); err != nil || got != "" {
		t.Fatalf("current catalog = %q, %v; want empty", got, err)
	}

	if err := getter.SetOption(adbc.OptionKeyCurrentDbSchema, "main"); err != nil {
		t.Fatalf("setting schema main: %v", err)
	}
	err = getter.SetOption(adbc.OptionKeyCurrentDbSchema, "elsewhere")
	if err == nil || !strings.Contains(err.Error(), "invalid value") {
		t.Fatalf("setting an unknown schema: %v, want an invalid value error", err)
	}
	err = getter.SetOption(adbc.OptionKeyCurrentCatalog, "other")
	if err == nil || !strings.Contains(err.Error(), "invalid value") {
		t.Fatalf("setting an unknown catalog: %v, want an invalid value error", err)
	}
}

// TestSessionReadOnlyOption lets a superuser make one session read-only
// while the same account writes elsewhere.
func TestSessionReadOnlyOption(t *testing.T) {
	e := newEnv(t)
	createPosts(t, e.app)
	ctx := basicCtx(suEmail, suPassword)
	cl := e.cookieClient(t)

	if readOnlyOption(t, ctx, cl) {
		t.Fatal("a new connection starts read-only")
	}
	if errs := setOptions(t, ctx, cl, map[string]any{"read_only": true, "query_timeout": 5.0}); len(errs) != 1 ||
		errs["query_timeout"].GetValue() != aflight.SetSessionOptionsResultErrorInvalidName {
		t.Fatalf("option errors = %v, want only query_timeout refused as an invalid name", errs)
	}
	if !readOnlyOption(t, ctx, cl) {
		t.Fatal("read_only not reported after setting it")
	}

	if _, err := cl.ExecuteUpdate(ctx, "UPDATE posts SET title = 'no'"); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("update in a read-only session: %v, want PermissionDenied", err)
	}
	if _, err := cl.BeginTransaction(ctx); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("begin in a read-only session: %v, want PermissionDenied", err)
	}
	if got := query(t, ctx, cl, "SELECT count(*) FROM posts").column(0); got[0] != "2" {
		t.Fatalf("read in a read-only session: %v", got)
	}

	// Another connection of the same account is not affected.
	other := e.client(t)
	if n, err := other.ExecuteUpdate(ctx, "UPDATE posts SET title = 'yes' WHERE id = 'a'"); err != nil || n != 1 {
		t.Fatalf("update without the session: %d, %v", n, err)
	}

	if errs := setOptions(t, ctx, cl, map[string]any{"read_only": false}); len(errs) != 0 {
		t.Fatalf("turning read_only off: %v", errs)
	}
	if n, err := cl.ExecuteUpdate(ctx, "UPDATE posts SET title = 'again' WHERE id = 'a'"); err != nil || n != 1 {
		t.Fatalf("update after read_only off: %d, %v", n, err)
	}
}

// TestReaderCannotLeaveReadOnly keeps a read-only account read-only.
func TestReaderCannotLeaveReadOnly(t *testing.T) {
	e := newEnvWith(t, flight.Options{AllowReadOnlyRole: true})
	createPosts(t, e.app)

	reader := core.NewRecord(mustCollection(t, e.app, "users"))
	reader.SetEmail("reader@example.com")
	reader.SetPassword("reader-password-123")
	if err := e.app.Save(reader); err != nil {
		t.Fatal(err)
	}
	ctx := basicCtx("reader@example.com", "reader-password-123")
	cl := e.cookieClient(t)

	if !readOnlyOption(t, ctx, cl) {
		t.Fatal("a reader's session does not report read_only")
	}
	errs := setOptions(t, ctx, cl, map[string]any{"read_only": false})
	if errs["read_only"].GetValue() != aflight.SetSessionOptionsResultErrorInvalidValue {
		t.Fatalf("reader turning read_only off: %v, want invalid value", errs)
	}
	if _, err := cl.ExecuteUpdate(ctx, "UPDATE posts SET title = 'no'"); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("reader update: %v, want PermissionDenied", err)
	}
}

// TestCloseSessionEndsItsWork rolls back the session's transaction and
// drops its prepared statements; handles made in a session are not
// usable outside it, even by the same account.
func TestCloseSessionEndsItsWork(t *testing.T) {
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
	if n, err := tx.ExecuteUpdate(ctx, "UPDATE posts SET title = 'uncommitted' WHERE id = 'a'"); err != nil || n != 1 {
		t.Fatalf("update in transaction: %d, %v", n, err)
	}
	prep, err := cl.Prepare(ctx, "SELECT id FROM posts ORDER BY id")
	if err != nil {
		t.Fatalf("prepare: %v", err)
	}

	// The same account without the session cookie cannot reach them.
	outsider := e.client(t)
	foreign, err := outsider.LoadPreparedStatementFromResult(&flightsql.CreatePreparedStatementResult{PreparedStatementHandle: prep.Handle()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := foreign.Execute(ctx); status.Code(err) != codes.NotFound {
		t.Fatalf("prepared statement used outside its session: %v, want NotFound", err)
	}
	if _, err := prep.Execute(ctx); err != nil {
		t.Fatalf("prepared statement inside its session: %v", err)
	}

	res, err := cl.CloseSession(ctx, &aflight.CloseSessionRequest{})
	if err != nil || res.GetStatus() != aflight.CloseSessionResultClosed {
		t.Fatalf("close session: %v, %v", res, err)
	}

	if err := tx.Commit(ctx); status.Code(err) != codes.NotFound {
		t.Fatalf("commit after close: %v, want NotFound", err)
	}
	if _, err := prep.Execute(ctx); status.Code(err) != codes.NotFound {
		t.Fatalf("prepared statement after close: %v, want NotFound", err)
	}
	if got := query(t, ctx, outsider, "SELECT title FROM posts WHERE id = 'a'").column(0); got[0] != "hello" {
		t.Fatalf("write of the closed session's transaction survived: %v", got)
	}

	// Closing again has no session to close; the connection still works.
	res, err = cl.CloseSession(ctx, &aflight.CloseSessionRequest{})
	if err != nil || res.GetStatus() != aflight.CloseSessionResultNotCloseable {
		t.Fatalf("second close: %v, %v", res, err)
	}
	if got := query(t, ctx, cl, "SELECT count(*) FROM posts").column(0); got[0] != "2" {
		t.Fatalf("query after close: %v", got)
	}
}
