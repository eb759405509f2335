package flight_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	_ "github.com/apache/arrow-go/v18/arrow/flight/flightsql/driver"
	"github.com/pocketbase/pocketbase/core"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

func TestAuth(t *testing.T) {
	e := newEnv(t)

	// A regular auth collection user must not get in. PocketBase's own
	// migrations create the "users" auth collection.
	users := mustCollection(t, e.app, "users")
	u := core.NewRecord(users)
	u.SetEmail("user@example.com")
	u.SetPassword("user-password-1")
	if err := e.app.Save(u); err != nil {
		t.Fatalf("saving user: %v", err)
	}
	userToken, err := u.NewAuthToken()
	if err != nil {
		t.Fatalf("user token: %v", err)
	}

	cl := e.client(t)

	cases := []struct {
		name string
		ctx  context.Context
		code codes.Code
	}{
		{"no credentials", context.Background(), codes.Unauthenticated},
		{"wrong password", basicCtx(suEmail, "wrong"), codes.Unauthenticated},
		{"unknown email", basicCtx("nobody@example.com", suPassword), codes.Unauthenticated},
		{"garbage basic", metadata.AppendToOutgoingContext(context.Background(), "authorization", "Basic !!!"), codes.Unauthenticated},
		{"garbage bearer", metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer abc.def.ghi"), codes.Unauthenticated},
		{"non-superuser basic", basicCtx("user@example.com", "user-password-1"), codes.Unauthenticated},
		{"non-superuser bearer", metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+userToken), codes.Unauthenticated},
		{"basic every call", basicCtx(suEmail, suPassword), codes.OK},
		{"basic every call (cached)", basicCtx(suEmail, suPassword), codes.OK},
		{"bearer from handshake", e.bearerCtx(t, cl), codes.OK},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			info, err := cl.Execute(c.ctx, "SELECT 1 AS one")
			if status.Code(err) != c.code {
				t.Fatalf("Execute: got %v, want %v", err, c.code)
			}
			if c.code != codes.OK {
				return
			}
			res := fetch(t, c.ctx, cl, info)
			if got := res.column(0); len(got) != 1 || got[0] != "1" {
				t.Fatalf("got %#v, want [\"1\"]", got)
			}
		})
	}

	t.Run("non-superuser handshake", func(t *testing.T) {
		_, err := cl.Client.AuthenticateBasicToken(context.Background(), "user@example.com", "user-password-1")
		if status.Code(err) != codes.Unauthenticated {
			t.Fatalf("got %v, want Unauthenticated", err)
		}
	})

	t.Run("bearer handshake", func(t *testing.T) {
		// JDBC token= style: a Handshake that already carries a Bearer token.
		su, err := e.app.FindAuthRecordByEmail(core.CollectionNameSuperusers, suEmail)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := su.NewAuthToken()
		if err != nil {
			t.Fatal(err)
		}
		ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+tok)
		stream, err := cl.Client.Handshake(ctx)
		if err != nil {
			t.Fatalf("handshake: %v", err)
		}
		if err := stream.CloseSend(); err != nil {
			t.Fatal(err)
		}
		if _, err := stream.Recv(); err != nil {
			t.Fatalf("handshake reply: %v", err)
		}
		hdr, err := stream.Header()
		if err != nil || len(hdr.Get("authorization")) == 0 || hdr.Get("authorization")[0] != "Bearer "+tok {
			t.Fatalf("handshake header %v, %v", hdr, err)
		}
	})

	t.Run("ticket bound to its user", func(t *testing.T) {
		// A second superuser cannot redeem the first one's ticket.
		other := core.NewRecord(mustCollection(t, e.app, core.CollectionNameSuperusers))
		other.SetEmail("other@example.com")
		other.SetPassword("other-password-1")
		if err := e.app.Save(other); err != nil {
			t.Fatal(err)
		}
		info, err := cl.Execute(basicCtx(suEmail, suPassword), "SELECT 1")
		if err != nil {
			t.Fatal(err)
		}
		rdr, err := cl.DoGet(basicCtx("other@example.com", "other-password-1"), info.Endpoint[0].Ticket)
		if err == nil {
			_, err = readAll(rdr)
		}
		if status.Code(err) != codes.NotFound {
			t.Fatalf("got %v, want NotFound", err)
		}
	})
}

func readAll(rdr interface {
	Next() bool
	Err() error
	Release()
}) (int, error) {
	defer rdr.Release()
	n := 0
	for rdr.Next() {
		n++
	}
	return n, rdr.Err()
}

func mustCollection(t *testing.T, app core.App, name string) *core.Collection {
	t.Helper()
	c, err := app.FindCollectionByNameOrId(name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDatabaseSQLDriver(t *testing.T) {
	e := newEnv(t)
	createPosts(t, e.app)

	dsn := fmt.Sprintf("flightsql://%s@%s?timeout=10s", url.UserPassword(suEmail, suPassword).String(), e.server.Addr())
	db, err := sql.Open("flightsql", dsn)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer db.Close()

	rows, err := db.Query("SELECT id, title, ok, n FROM posts ORDER BY id")
	if err != nil {
		t.Fatalf("query: %v", err)
	}
	defer rows.Close()

	type row struct {
		id, title string
		ok        bool
		n         sql.NullFloat64
	}
	var got []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.title, &r.ok, &r.n); err != nil {
			t.Fatalf("scan: %v", err)
		}
		got = append(got, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("rows: %v", err)
	}

	want := []row{{"a", "hello", true, sql.NullFloat64{Float64: 1, Valid: true}}, {"b", "world", false, sql.NullFloat64{}}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}

	bad, err := sql.Open("flightsql", fmt.Sprintf("flightsql://%s@%s?timeout=10s", url.UserPassword(suEmail, "nope").String(), e.server.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if _, err := bad.Query("SELECT 1"); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("wrong password through driver: got %v", err)
	}
}

func TestStopWithOpenClientIsBounded(t *testing.T) {
	e := newEnv(t)
	cl := e.client(t)
	ctx := basicCtx(suEmail, suPassword)

	// Open a stream and leave it unread, so GracefulStop has to wait.
	mustExec(t, e.app, "CREATE TABLE big(body TEXT)")
	mustExec(t, e.app, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 3000)
		INSERT INTO big SELECT hex(zeroblob(5000)) FROM n`)
	info, err := cl.Execute(ctx, "SELECT body FROM big")
	if err != nil {
		t.Fatal(err)
	}
	rdr, err := cl.DoGet(ctx, info.Endpoint[0].Ticket)
	if err != nil {
		t.Fatal(err)
	}
	defer rdr.Release()
	rdr.Next()

	start := time.Now()
	e.server.Stop()
	if d := time.Since(start); d > 6*time.Second {
		t.Fatalf("Stop took %v", d)
	}
	e.server.Stop() // second call is a no-op

	if _, err := cl.Execute(ctx, "SELECT 1"); err == nil {
		t.Fatal("query after Stop succeeded")
	}
}

var _ = flightsql.NewClient

// TestSuperuserIPAllowList applies PocketBase's superuser IP allow-list to
// every authentication style, as PocketBase's API applies it.
func TestSuperuserIPAllowList(t *testing.T) {
	e := newEnv(t)
	cl := e.client(t)

	settings := e.app.Settings()
	settings.SuperuserIPs = []string{"10.9.8.0/24"} // the client is 127.0.0.1
	if err := e.app.Save(settings); err != nil {
		t.Fatal(err)
	}

	_, err := cl.Execute(basicCtx(suEmail, suPassword), "SELECT 1")
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("Basic from outside the allow-list: %v, want PermissionDenied", err)
	}
	if _, err := cl.Client.AuthenticateBasicToken(context.Background(), suEmail, suPassword); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("handshake from outside the allow-list: %v, want PermissionDenied", err)
	}

	settings.SuperuserIPs = []string{"10.9.8.0/24", "127.0.0.1"}
	if err := e.app.Save(settings); err != nil {
		t.Fatal(err)
	}
	if got := query(t, basicCtx(suEmail, suPassword), cl, "SELECT 1 AS one"); got.rows() != 1 {
		t.Fatalf("allowed superuser got %d rows", got.rows())
	}
}
