package web

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/pocketbase/pocketbase/core"
)

// maxMediaOrigins bounds the origins learned from presigned links; one
// MinIO endpoint gives one, so more means something is off.
const maxMediaOrigins = 4

// basePolicy is the Content-Security-Policy of every page before media
// origins are added. Scripts and styles come only from the embedded
// static files: the templates carry no inline script, style element or
// style attribute, and HTMX runs with eval off (see layout.html).
var basePolicy = []string{
	"default-src 'none'",
	"script-src 'self'",
	"style-src 'self'",
	"connect-src 'self'",
	"form-action 'self'",
	"base-uri 'none'",
	"frame-ancestors 'none'",
}

// securityHeaders sets the headers every response under the prefix
// carries, before any handler can write.
func (s *server) securityHeaders(e *core.RequestEvent) error {
	s.setSecurityHeaders(e.Response.Header())
	return e.Next()
}

// setSecurityHeaders writes the policy headers; pages call it again
// just before rendering, so a media origin learned while the page was
// being prepared is already allowed on that page.
func (s *server) setSecurityHeaders(header http.Header) {
	header.Set("Content-Security-Policy", s.media.policy())
	header.Set("X-Content-Type-Options", "nosniff")
	header.Set("Referrer-Policy", "same-origin")
	header.Set("X-Frame-Options", "DENY")
}

// mediaOrigins are the origins presigned preview links point to: the
// browser loads previews straight from MinIO, so the policy must allow
// that origin for images and media. They are learned from the links
// themselves because the presigner is an opaque function.
type mediaOrigins struct {
	mu      sync.Mutex
	origins []string
}

// learn records the origin of a presigned link.
func (m *mediaOrigins) learn(link string) {
	origin, ok := originOf(link)
	if !ok {
		return
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	if slices.Contains(m.origins, origin) || len(m.origins) >= maxMediaOrigins {
		return
	}
	m.origins = append(m.origins, origin)
}

// policy is the Content-Security-Policy value with the known origins.
func (m *mediaOrigins) policy() string {
	m.mu.Lock()
	sources := strings.Join(append([]string{"'self'"}, m.origins...), " ")
	m.mu.Unlock()

	directives := append(slices.Clone(basePolicy),
		"img-src "+sources,
		"media-src "+sources,
	)
	return strings.Join(directives, "; ")
}

// originOf is a link's scheme and host, or false when it is not a plain
// http(s) URL whose origin can sit in a header unescaped.
func originOf(link string) (string, bool) {
	u, err := url.Parse(link)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", false
	}
	for _, r := range u.Host {
		allowed := r == '.' || r == ':' || r == '-' || r == '[' || r == ']' ||
			(r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
		if !allowed {
			return "", false
		}
	}
	return u.Scheme + "://" + u.Host, true
}
