package web

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tests"

	_ "github.com/arrow-mino/arrow-mino/migrations"
)

const testPassword = "correct horse battery"

// testEnv is a migrated test app served through PocketBase's real router
// with the interface registered, on a loopback httptest server.
type testEnv struct {
	t      *testing.T
	app    *tests.TestApp
	server *httptest.Server
}

func newTestEnv(t *testing.T, opts Options) *testEnv {
	t.Helper()
	app, err := tests.NewTestApp(t.TempDir())
	if err != nil {
		t.Fatalf("new test app: %v", err)
	}
	t.Cleanup(app.Cleanup)

	router, err := apis.NewRouter(app)
	if err != nil {
		t.Fatalf("new router: %v", err)
	}
	se := &core.ServeEvent{App: app, Router: router}
	if err := Register(se, opts); err != nil {
		t.Fatalf("register: %v", err)
	}
	mux, err := router.BuildMux()
	if err != nil {
		t.Fatalf("build mux: %v", err)
	}
	server := httptest.NewServer(mux)
	t.Cleanup(server.Close)
	return &testEnv{t: t, app: app, server: server}
}

// authRecord creates a record of an auth collection with testPassword.
func (env *testEnv) authRecord(collection, email string) *core.Record {
	env.t.Helper()
	col, err := env.app.FindCollectionByNameOrId(collection)
	if err != nil {
		env.t.Fatalf("find %s: %v", collection, err)
	}
	record := core.NewRecord(col)
	record.SetEmail(email)
	record.SetPassword(testPassword)
	if err := env.app.Save(record); err != nil {
		env.t.Fatalf("save %s %s: %v", collection, email, err)
	}
	return record
}

// cookieFor is the auth cookie a browser of this record would hold.
func (env *testEnv) cookieFor(record *core.Record) *http.Cookie {
	env.t.Helper()
	token, err := record.NewAuthToken()
	if err != nil {
		env.t.Fatalf("token: %v", err)
	}
	return &http.Cookie{Name: CookieName, Value: token}
}

func (env *testEnv) object(bucket, key, kind string, size int64, extra map[string]any) *core.Record {
	env.t.Helper()
	col, err := env.app.FindCollectionByNameOrId(objectsCollection)
	if err != nil {
		env.t.Fatal(err)
	}
	record := core.NewRecord(col)
	record.Set("bucket", bucket)
	record.Set("key", key)
	record.Set("kind", kind)
	record.Set("size", size)
	record.Set("etag", "e-"+key)
	record.Set("last_modified", time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	for name, value := range extra {
		record.Set(name, value)
	}
	if err := env.app.Save(record); err != nil {
		env.t.Fatalf("save object %s: %v", key, err)
	}
	return record
}

// response is what a request got back.
type response struct {
	status int
	header http.Header
	body   string
}

// do sends a request without following redirects.
func (env *testEnv) do(method, path string, cookie *http.Cookie, form url.Values, headers map[string]string) response {
	env.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, env.server.URL+path, body)
	if err != nil {
		env.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for name, value := range headers {
		req.Header.Set(name, value)
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		env.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		env.t.Fatalf("read %s: %v", path, err)
	}
	return response{status: res.StatusCode, header: res.Header, body: string(data)}
}

func (env *testEnv) get(path string, cookie *http.Cookie) response {
	env.t.Helper()
	return env.do(http.MethodGet, path, cookie, nil, nil)
}

func mustContain(t *testing.T, body string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(body, want) {
			t.Errorf("body lacks %q:\n%s", want, clip(body))
		}
	}
}

func mustNotContain(t *testing.T, body string, unwanted ...string) {
	t.Helper()
	for _, bad := range unwanted {
		if strings.Contains(body, bad) {
			t.Errorf("body has %q:\n%s", bad, clip(body))
		}
	}
}

func clip(text string) string {
	if len(text) > 3000 {
		return text[:3000] + "…"
	}
	return text
}
