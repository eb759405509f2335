package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/tools/types"
)

func TestSignedOutIsSentToSignIn(t *testing.T) {
	env := newTestEnv(t, Options{})

	for _, path := range []string{"/ui/", "/ui/gallery?kind=image", "/ui/objects/abc", "/ui/docs", "/ui/console"} {
		res := env.get(path, nil)
		if res.status != http.StatusSeeOther {
			t.Fatalf("%s: status %d, want 303", path, res.status)
		}
		want := "/ui/login?next=" + url.QueryEscape(path)
		if got := res.header.Get("Location"); got != want {
			t.Errorf("%s: Location %q, want %q", path, got, want)
		}
	}

	res := env.do(http.MethodGet, "/ui/gallery/tiles", nil, nil, map[string]string{"HX-Request": "true"})
	if res.status != http.StatusUnauthorized || !strings.HasPrefix(res.header.Get("HX-Redirect"), "/ui/login") {
		t.Errorf("HTMX fragment: status %d, HX-Redirect %q", res.status, res.header.Get("HX-Redirect"))
	}
	if res := env.get("/ui/events?view=overview", nil); res.status != http.StatusUnauthorized {
		t.Errorf("event stream: status %d, want 401", res.status)
	}
	if res := env.get("/ui/static/app.css", nil); res.status != http.StatusOK {
		t.Errorf("static files need no sign-in: status %d", res.status)
	}
}

func TestSignIn(t *testing.T) {
	env := newTestEnv(t, Options{})
	env.authRecord("users", "ann@example.com")
	env.authRecord("_superusers", "root@example.com")

	page := env.get("/ui/login?next=/ui/gallery", nil)
	mustContain(t, page.body, `name="email"`, `name="password"`, `value="/ui/gallery"`)

	scenarios := []struct {
		name, email, password, next string
		status                      int
		location                    string
	}{
		{"user", "ann@example.com", testPassword, "/ui/gallery", http.StatusSeeOther, "/ui/gallery"},
		{"superuser", "root@example.com", testPassword, "", http.StatusSeeOther, "/ui/"},
		{"wrong password", "ann@example.com", "nope", "", http.StatusUnauthorized, ""},
		{"unknown email", "who@example.com", testPassword, "", http.StatusUnauthorized, ""},
		{"empty", "", "", "", http.StatusUnauthorized, ""},
		{"open redirect refused", "ann@example.com", testPassword, "//evil.example/", http.StatusSeeOther, "/ui/"},
		{"absolute redirect refused", "ann@example.com", testPassword, "https://evil.example/ui/", http.StatusSeeOther, "/ui/"},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			form := url.Values{"email": {sc.email}, "password": {sc.password}, "next": {sc.next}}
			res := env.do(http.MethodPost, "/ui/login", nil, form, nil)
			if res.status != sc.status {
				t.Fatalf("status %d, want %d\n%s", res.status, sc.status, clip(res.body))
			}
			cookie := res.header.Get("Set-Cookie")
			if sc.status != http.StatusSeeOther {
				mustContain(t, res.body, "Wrong email or password")
				if cookie != "" {
					t.Errorf("failed sign-in set a cookie: %s", cookie)
				}
				return
			}
			if got := res.header.Get("Location"); got != sc.location {
				t.Errorf("Location %q, want %q", got, sc.location)
			}
			for _, want := range []string{CookieName + "=", "HttpOnly", "SameSite=Lax", "Path=/ui"} {
				if !strings.Contains(cookie, want) {
					t.Errorf("cookie %q lacks %q", cookie, want)
				}
			}
		})
	}
}

func TestSignInCookieOpensPagesAndSignOutClearsIt(t *testing.T) {
	env := newTestEnv(t, Options{})
	user := env.authRecord("users", "ann@example.com")
	cookie := env.cookieFor(user)

	res := env.get("/ui/", cookie)
	if res.status != http.StatusOK {
		t.Fatalf("overview: status %d", res.status)
	}
	mustContain(t, res.body, "ann@example.com", "Sign out", `sse-connect="/ui/events?view=overview"`)
	mustNotContain(t, res.body, `href="/ui/console"`)

	if res := env.get("/ui/console", cookie); res.status != http.StatusForbidden {
		t.Errorf("console for a user: status %d, want 403", res.status)
	}

	res = env.do(http.MethodPost, "/ui/logout", cookie, url.Values{}, nil)
	if res.status != http.StatusSeeOther || !strings.Contains(res.header.Get("Set-Cookie"), "Max-Age=0") {
		t.Errorf("sign out: status %d, Set-Cookie %q", res.status, res.header.Get("Set-Cookie"))
	}

	bad := env.do(http.MethodPost, "/ui/logout", cookie, url.Values{}, map[string]string{"Origin": "http://evil.example"})
	if bad.status != http.StatusForbidden {
		t.Errorf("cross-site sign out: status %d, want 403", bad.status)
	}

	if res := env.get("/ui/", &http.Cookie{Name: CookieName, Value: "not-a-token"}); res.status != http.StatusSeeOther {
		t.Errorf("forged cookie: status %d, want 303", res.status)
	}
}

func TestSignInHonoursAuthRuleAndLimitsGuessing(t *testing.T) {
	env := newTestEnv(t, Options{})
	env.authRecord("users", "ann@example.com")

	users, _ := env.app.FindCollectionByNameOrId("users")
	users.AuthRule = types.Pointer("verified = true")
	if err := env.app.Save(users); err != nil {
		t.Fatal(err)
	}
	form := url.Values{"email": {"ann@example.com"}, "password": {testPassword}}
	if res := env.do(http.MethodPost, "/ui/login", nil, form, nil); res.status != http.StatusUnauthorized {
		t.Errorf("unverified user signed in: status %d", res.status)
	}

	wrong := url.Values{"email": {"ann@example.com"}, "password": {"guess"}}
	for range maxFailures {
		env.do(http.MethodPost, "/ui/login", nil, wrong, nil)
	}
	res := env.do(http.MethodPost, "/ui/login", nil, wrong, nil)
	if res.status != http.StatusTooManyRequests {
		t.Errorf("after %d failures: status %d, want 429", maxFailures, res.status)
	}
}

func TestFailureLimiterForgetsAfterWindow(t *testing.T) {
	limiter := newFailureLimiter(2, time.Minute)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	limiter.now = func() time.Time { return now }

	limiter.add("a")
	limiter.add("a")
	if limiter.allow("a") || !limiter.allow("b") {
		t.Fatal("limit not per address")
	}
	now = now.Add(2 * time.Minute)
	if !limiter.allow("a") {
		t.Error("address still refused after the window")
	}
}

// TestSuperuserIPAllowList applies PocketBase's superuser IP allow-list to
// the interface's sign-in and cookie, as the REST API applies it.
func TestSuperuserIPAllowList(t *testing.T) {
	env := newTestEnv(t, Options{})
	user := env.authRecord("users", "ann@example.com")
	root := env.authRecord("_superusers", "root@example.com")

	settings := env.app.Settings()
	settings.SuperuserIPs = []string{"10.9.8.0/24"} // the test client is 127.0.0.1
	if err := env.app.Save(settings); err != nil {
		t.Fatal(err)
	}

	form := url.Values{"email": {"root@example.com"}, "password": {testPassword}}
	res := env.do(http.MethodPost, "/ui/login", nil, form, nil)
	if res.status != http.StatusForbidden || res.header.Get("Set-Cookie") != "" {
		t.Fatalf("superuser signed in from outside the allow-list: %d", res.status)
	}
	mustContain(t, res.body, "may not sign in from this address")

	if res := env.get("/ui/", env.cookieFor(root)); res.status != http.StatusForbidden {
		t.Fatalf("a superuser cookie from outside the allow-list got %d", res.status)
	}
	if res := env.get("/ui/", env.cookieFor(user)); res.status != http.StatusOK {
		t.Fatalf("an ordinary user got %d", res.status)
	}

	settings.SuperuserIPs = []string{"127.0.0.1"}
	if err := env.app.Save(settings); err != nil {
		t.Fatal(err)
	}
	if res := env.get("/ui/", env.cookieFor(root)); res.status != http.StatusOK {
		t.Fatalf("an allowed superuser got %d", res.status)
	}
}
