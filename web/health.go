package web

import (
	"context"
	"fmt"
	"time"

	"github.com/pocketbase/pocketbase/core"
)

// healthEvery is how often an open overview refreshes its health panel.
const healthEvery = 2 * time.Second

// Health is the state of the parts arrow-mino depends on, as the overview
// shows it.
type Health struct {
	// Services are MinIO, NATS, Flight SQL and whatever else main reports.
	Services []ServiceHealth

	// EventsPerSecond is the rate of bucket events handled lately.
	EventsPerSecond float64

	// Backlog is how many events wait to be indexed; -1 if unknown.
	Backlog int64

	// LastEvent is when the latest event was indexed; zero if none yet.
	LastEvent time.Time
}

// ServiceHealth is one part's state.
type ServiceHealth struct {
	Name   string
	OK     bool
	Detail string
}

// HealthFunc reports the current health; main wires it to ingest and
// Flight SQL.
type HealthFunc func(ctx context.Context) Health

// healthView is the health panel's data.
type healthView struct {
	Health
	Known bool
	Since string
	Rate  string
}

// healthFragment renders the overview's health panel; the page polls it.
func (s *server) healthFragment(e *core.RequestEvent) error {
	return s.fragment(e, "health", s.loadHealth(e.Request.Context()))
}

func (s *server) loadHealth(ctx context.Context) healthView {
	if s.opts.Health == nil {
		return healthView{}
	}
	view := healthView{Health: s.opts.Health(ctx), Known: true, Since: "none yet"}
	// A quiet bucket reads better per minute than as 0.0 per second.
	view.Rate = fmt.Sprintf("%.1f/s", view.EventsPerSecond)
	if view.EventsPerSecond < 1 {
		view.Rate = fmt.Sprintf("%.0f/min", view.EventsPerSecond*60)
	}
	if !view.LastEvent.IsZero() {
		view.Since = time.Since(view.LastEvent).Round(time.Second).String() + " ago"
	}
	return view
}
