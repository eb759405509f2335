// Package web serves arrow-mino's browser interface beside PocketBase's
// dashboard: server-rendered pages enhanced with HTMX, signed in through
// PocketBase auth, that follow the collections' rules and update live
// over server-sent events whenever the index changes.
package web

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/pocketbase/pocketbase/core"
)

// Prefix is where every page of the interface lives; PocketBase keeps
// /_/ (dashboard) and /api/.
const Prefix = "/ui"

// defaultPresignTTL keeps media links short-lived: long enough to start
// a video, too short to be worth sharing.
const defaultPresignTTL = 10 * time.Minute

// PresignFunc returns a URL that reads one object without credentials
// until ttl has passed.
type PresignFunc func(ctx context.Context, bucket, key string, ttl time.Duration) (string, error)

// Options wires the interface to the rest of the program.
type Options struct {
	// Presign makes media previews; nil shows details without previews.
	Presign PresignFunc

	// PresignTTL is how long a preview URL stays valid; zero means ten
	// minutes.
	PresignTTL time.Duration

	// MediaOrigin is where presigned links point (MinIO's scheme, host
	// and port); the Content-Security-Policy allows images and media
	// from it. Origins seen in presigned links are added as well.
	MediaOrigin string

	// Logger receives the interface's logs; nil uses the app's logger.
	Logger *slog.Logger

	// Health reports MinIO, NATS, Flight SQL and ingest for the overview;
	// nil hides the panel.
	Health HealthFunc
}

// server holds what every handler needs.
type server struct {
	app      core.App
	opts     Options
	logger   *slog.Logger
	pages    *pages
	broker   *Broker
	console  *console
	failures *failureLimiter
	media    *mediaOrigins

	// pending is who could see records being updated or deleted, until
	// the write commits.
	pending *pendingAccess
}

// Register adds the interface's routes to the router being served and
// binds the record hooks that feed live updates. Call it from OnServe,
// before se.Next().
func Register(se *core.ServeEvent, opts Options) error {
	if opts.PresignTTL <= 0 {
		opts.PresignTTL = defaultPresignTTL
	}
	logger := opts.Logger
	if logger == nil {
		logger = se.App.Logger()
	}

	parsed, err := parsePages()
	if err != nil {
		return fmt.Errorf("parse web templates: %w", err)
	}

	s := &server{
		app:      se.App,
		opts:     opts,
		logger:   logger.With("component", "web"),
		pages:    parsed,
		broker:   NewBroker(),
		console:  newConsole(se.App),
		failures: newFailureLimiter(maxFailures, failureWindow),
		media:    &mediaOrigins{},
		pending:  newPendingAccess(),
	}
	if opts.MediaOrigin != "" {
		s.media.learn(opts.MediaOrigin)
	}
	s.bindRecordHooks()
	s.bindAuthHooks()
	s.routes(se)

	// Open event streams end when the broker closes, so the HTTP server's
	// graceful shutdown is not held up by them.
	se.App.OnTerminate().BindFunc(func(e *core.TerminateEvent) error {
		s.broker.Close()
		s.console.Close()
		return e.Next()
	})
	return nil
}
