package web

import (
	"context"
	"net/http"
	"testing"
	"time"
)

func TestHealthFragment(t *testing.T) {
	env := newTestEnv(t, Options{Health: func(context.Context) Health {
		return Health{
			Services: []ServiceHealth{
				{Name: "MinIO", OK: true},
				{Name: "NATS", OK: false, Detail: "<reconnecting>"},
			},
			EventsPerSecond: 12.34,
			Backlog:         7,
			LastEvent:       time.Now().Add(-3 * time.Second),
		}
	}})
	admin := env.cookieFor(env.authRecord("_superusers", "admin@example.com"))

	response := env.get("/ui/health", admin)
	if response.status != http.StatusOK {
		t.Fatalf("status %d: %s", response.status, clip(response.body))
	}
	mustContain(t, response.body,
		`class="service ok"`, "<strong>MinIO</strong> up",
		`class="service down"`, "<strong>NATS</strong> down", "&lt;reconnecting&gt;",
		"12.3/s", `data-field="backlog">7<`, "3s ago")

	quiet := newTestEnv(t, Options{Health: func(context.Context) Health {
		return Health{EventsPerSecond: 3.0 / 60}
	}})
	quietAdmin := quiet.cookieFor(quiet.authRecord("_superusers", "admin@example.com"))
	mustContain(t, quiet.get("/ui/health", quietAdmin).body, "3/min", "none yet")

	// Signed-out visitors do not see it.
	if response := env.get("/ui/health", nil); response.status == http.StatusOK {
		t.Fatalf("health shown to a guest: %d", response.status)
	}

	// The overview page asks for the panel.
	mustContain(t, env.get("/ui/", admin).body, `hx-get="/ui/health"`)
}

func TestHealthPanelHiddenWithoutReporter(t *testing.T) {
	env := newTestEnv(t, Options{})
	admin := env.cookieFor(env.authRecord("_superusers", "admin@example.com"))
	response := env.get("/ui/health", admin)
	mustNotContain(t, response.body, "<strong>")
}
