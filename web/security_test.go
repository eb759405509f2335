package web

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// wantPolicy is the policy before any presigned link was made.
const wantPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"form-action 'self'; base-uri 'none'; frame-ancestors 'none'; img-src 'self'; media-src 'self'"

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	env := newTestEnv(t, Options{})
	user := env.cookieFor(env.authRecord("users", "ann@example.com"))
	object := env.object("demo", "a.txt", "document", 1, nil)

	scenarios := []struct {
		name   string
		path   string
		cookie *http.Cookie
		status int
	}{
		{"bare prefix redirect", "/ui", nil, http.StatusSeeOther},
		{"signed out redirect", "/ui/", nil, http.StatusSeeOther},
		{"login page", "/ui/login", nil, http.StatusOK},
		{"stylesheet", "/ui/static/app.css", nil, http.StatusOK},
		{"script", "/ui/static/app.js", nil, http.StatusOK},
		{"overview", "/ui/", user, http.StatusOK},
		{"gallery", "/ui/gallery?sort=key", user, http.StatusOK},
		{"tiles fragment", "/ui/gallery/tiles", user, http.StatusOK},
		{"live fragment", "/ui/gallery/live", user, http.StatusOK},
		{"object", "/ui/objects/" + object.Id, user, http.StatusOK},
		{"unknown object", "/ui/objects/nope", user, http.StatusNotFound},
		{"console refused", "/ui/console", user, http.StatusForbidden},
		{"unknown page", "/ui/no/such/page", user, http.StatusNotFound},
	}
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			res := env.get(s.path, s.cookie)
			if res.status != s.status {
				t.Fatalf("status %d, want %d", res.status, s.status)
			}
			if got := res.header.Get("Content-Security-Policy"); got != wantPolicy {
				t.Errorf("policy\n got %q\nwant %q", got, wantPolicy)
			}
			for name, want := range map[string]string{
				"X-Content-Type-Options": "nosniff",
				"Referrer-Policy":        "same-origin",
				"X-Frame-Options":        "DENY",
			} {
				if got := res.header.Get(name); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
		})
	}

	// PocketBase's own routes keep their headers.
	if res := env.get("/api/health", nil); res.header.Get("Content-Security-Policy") != "" {
		t.Errorf("/api/health got a policy: %q", res.header.Get("Content-Security-Policy"))
	}
}

func TestPolicyAllowsThePresignedOrigin(t *testing.T) {
	env := newTestEnv(t, Options{Presign: func(ctx context.Context, bucket, key string, ttl time.Duration) (string, error) {
		return "http://127.0.0.1:9000/" + bucket + "/" + key + "?X-Amz-Signature=abc", nil
	}})
	image := env.object("demo", "cat.jpg", "image", 1, nil)
	user := env.cookieFor(env.authRecord("users", "ann@example.com"))

	if got := env.get("/ui/gallery", user).header.Get("Content-Security-Policy"); got != wantPolicy {
		t.Errorf("before any preview: %q", got)
	}

	// The page that made the first link already allows its origin.
	res := env.get("/ui/objects/"+image.Id, user)
	mustContain(t, res.header.Get("Content-Security-Policy"),
		"img-src 'self' http://127.0.0.1:9000;", "media-src 'self' http://127.0.0.1:9000")
	mustContain(t, res.body, `<img src="http://127.0.0.1:9000/demo/cat.jpg?X-Amz-Signature=abc"`)

	// And every page after it, once.
	again := env.get("/ui/login", nil).header.Get("Content-Security-Policy")
	if strings.Count(again, "http://127.0.0.1:9000") != 2 {
		t.Errorf("later policy: %q", again)
	}
}

func TestOriginOf(t *testing.T) {
	scenarios := []struct {
		link string
		want string
	}{
		{"http://127.0.0.1:9000/b/k?X-Amz-Signature=1", "http://127.0.0.1:9000"},
		{"https://minio.example.com/b/k", "https://minio.example.com"},
		{"http://[::1]:9000/b/k", "http://[::1]:9000"},
		{"", ""},
		{"/relative/path", ""},
		{"javascript:alert(1)", ""},
		{"data:image/png;base64,AAAA", ""},
		{"http://a;script-src%20*/k", ""},
		{"http://user:pw@host:9000/k", "http://host:9000"},
	}
	for _, s := range scenarios {
		got, ok := originOf(s.link)
		if got != s.want || ok != (s.want != "") {
			t.Errorf("originOf(%q) = %q, %v; want %q", s.link, got, ok, s.want)
		}
	}
}

// inlineCode finds what a policy without 'unsafe-inline' and
// 'unsafe-eval' would block: inline styles, event handler attributes,
// javascript: links and HTMX's eval'd hx-on attributes. Scripts are
// checked on their own.
var inlineCode = regexp.MustCompile(`(?i)<style|\sstyle=|\son[a-z]+=|javascript:|hx-on`)

// scriptTag is one script element and its inline text.
var scriptTag = regexp.MustCompile(`(?is)<script([^>]*)>(.*?)</script>`)

func TestPagesCarryNoInlineCode(t *testing.T) {
	env := newTestEnv(t, Options{Presign: func(ctx context.Context, bucket, key string, ttl time.Duration) (string, error) {
		return "http://127.0.0.1:9000/" + bucket + "/" + key, nil
	}})
	image := env.object("demo", "cat.jpg", "image", 1, nil)
	env.doc("intro", "Intro", "*hello* <span style=\"color:red\" onclick=\"x()\">raw</span>")
	root := env.cookieFor(env.authRecord("_superusers", "root@example.com"))

	for _, path := range []string{
		"/ui/login", "/ui/", "/ui/gallery", "/ui/gallery/tiles", "/ui/gallery/live?sort=key",
		"/ui/objects/" + image.Id, "/ui/docs", "/ui/docs/intro", "/ui/console", "/ui/no/such/page",
	} {
		res := env.get(path, root)
		if found := inlineCode.FindString(res.body); found != "" {
			t.Errorf("%s has inline code %q:\n%s", path, found, clip(res.body))
		}
		for _, script := range scriptTag.FindAllStringSubmatch(res.body, -1) {
			if !strings.Contains(script[1], ` src="/ui/static/`) || strings.TrimSpace(script[2]) != "" {
				t.Errorf("%s: script not from the static files: %s", path, script[0])
			}
		}
	}

	// HTMX is told not to eval and not to inject its indicator style.
	mustContain(t, env.get("/ui/login", nil).body, `"allowEval":false`, `"includeIndicatorStyles":false`)
}
