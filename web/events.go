package web

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pocketbase/pocketbase/core"
)

// heartbeatEvery keeps idle streams open through proxies and lets a
// closed browser be noticed.
const heartbeatEvery = 25 * time.Second

// Stream event names the pages listen for.
const (
	// eventUpdate carries out-of-band HTML fragments to swap in.
	eventUpdate = "update"

	// eventResync asks the page to re-fetch what it shows: sent on every
	// (re)connect, so changes missed while disconnected are caught up,
	// and after a slow client's changes were dropped.
	eventResync = "resync"
)

// watcher turns changes into the fragments one page shows, for one user.
type watcher interface {
	render(change Change) (string, error)
}

// resetter is a watcher that keeps state about what its page shows; a
// resync re-fetches the page, so that state starts over.
type resetter interface {
	reset()
}

// events streams one page's live updates as server-sent events.
func (s *server) events(e *core.RequestEvent) error {
	w, err := s.newWatcher(e.Auth, e.Request.URL.Query())
	if err != nil {
		return s.errorPage(e, http.StatusBadRequest, err.Error())
	}

	header := e.Response.Header()
	header.Set("Content-Type", "text/event-stream")
	header.Set("Cache-Control", "no-store")
	header.Set("X-Accel-Buffering", "no")
	e.Response.WriteHeader(http.StatusOK)

	sub := s.broker.Subscribe()
	defer s.broker.Unsubscribe(sub)

	send := func(event, data string) error {
		var frame strings.Builder
		frame.WriteString("event: " + event + "\n")
		for _, line := range strings.Split(data, "\n") {
			frame.WriteString("data: " + line + "\n")
		}
		frame.WriteString("\n")
		if _, err := e.Response.Write([]byte(frame.String())); err != nil {
			return err
		}
		return e.Flush()
	}
	resync := func() error {
		if r, ok := w.(resetter); ok {
			r.reset()
		}
		return send(eventResync, "")
	}

	if err := resync(); err != nil {
		return nil
	}

	heartbeat := time.NewTicker(heartbeatEvery)
	defer heartbeat.Stop()
	ctx := e.Request.Context()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.broker.Done():
			return nil
		case <-heartbeat.C:
			if _, err := e.Response.Write([]byte(": ping\n\n")); err != nil {
				return nil
			}
			if err := e.Flush(); err != nil {
				return nil
			}
		case <-sub.Resync:
			drain(sub.Changes)
			if err := resync(); err != nil {
				return nil
			}
		case change := <-sub.Changes:
			html, err := w.render(change)
			if errors.Is(err, errResync) {
				if err := resync(); err != nil {
					return nil
				}
				continue
			}
			if err != nil {
				s.logger.Warn("live fragment not rendered", "collection", change.Collection, "id", change.Record.Id, "error", err)
				continue
			}
			if html == "" {
				continue
			}
			if err := send(eventUpdate, html); err != nil {
				return nil
			}
		}
	}
}

func drain(changes chan Change) {
	for {
		select {
		case <-changes:
		default:
			return
		}
	}
}

// newWatcher picks the watcher of the page named by ?view=.
func (s *server) newWatcher(auth *core.Record, query url.Values) (watcher, error) {
	switch query.Get("view") {
	case "overview":
		return &overviewWatcher{s: s, auth: auth}, nil
	case "gallery":
		return newGalleryWatcher(s, auth, parseGalleryFilter(query)), nil
	case "object":
		return &recordWatcher{s: s, auth: auth, collection: objectsCollection, id: query.Get("id"), template: "object-body"}, nil
	case "doc":
		return &recordWatcher{s: s, auth: auth, collection: docsCollection, id: query.Get("id"), template: "doc-body"}, nil
	case "docs":
		return &collectionWatcher{collection: docsCollection}, nil
	}
	return nil, fmt.Errorf("unknown view %q", query.Get("view"))
}

// overviewWatcher keeps bucket cards and totals current.
type overviewWatcher struct {
	s    *server
	auth *core.Record
}

func (w *overviewWatcher) render(change Change) (string, error) {
	if change.Collection != bucketsCollection {
		return "", nil
	}
	totals, err := w.s.pages.execute("fragments", "totals", oob{Data: w.s.loadOverview(w.auth), Swap: "true"})
	if err != nil {
		return "", err
	}
	if change.Action == ActionDelete {
		return deleteOOB("bucket-"+change.Record.Id) + totals, nil
	}
	if !canView(w.s.app, change.Record, w.auth) {
		return "", nil
	}

	card := oob{Data: change.Record, Swap: "true"}
	name := "bucket-card"
	if change.Action == ActionCreate {
		card.Swap = "afterbegin:#bucket-list"
		name = "bucket-card-wrapped"
	}
	html, err := w.s.pages.execute("fragments", name, card)
	if change.Action == ActionCreate {
		html = deleteOOB("buckets-empty") + html
	}
	return html + totals, err
}

// recordWatcher re-renders a page that shows one record.
type recordWatcher struct {
	s          *server
	auth       *core.Record
	collection string
	id         string
	template   string
}

func (w *recordWatcher) render(change Change) (string, error) {
	if change.Collection != w.collection || change.Record.Id != w.id {
		return "", nil
	}
	var data any
	switch {
	case change.Action == ActionDelete:
		data = deletedRecord{ID: w.id, Deleted: true}
	case !canView(w.s.app, change.Record, w.auth):
		return "", nil
	case w.collection == objectsCollection:
		data = w.s.describeObject(context.Background(), change.Record)
	default:
		data = w.s.describeDoc(change.Record)
	}
	return w.s.pages.execute("fragments", w.template+"-oob", data)
}

// deletedRecord is what a detail page shows once its record is gone.
type deletedRecord struct {
	ID      string
	Deleted bool
}

// collectionWatcher asks the page to re-fetch on any change of a
// collection; lists of a few records need nothing finer.
type collectionWatcher struct {
	collection string
}

func (w *collectionWatcher) render(change Change) (string, error) {
	if change.Collection != w.collection {
		return "", nil
	}
	return "", errResync
}

// errResync is returned by watchers that want the page to re-fetch.
var errResync = fmt.Errorf("resync")

// oob is a fragment and the hx-swap-oob value it is sent with.
type oob struct {
	Data any
	Swap string
}

func deleteOOB(id string) string {
	return `<div id="` + template.HTMLEscapeString(id) + `" hx-swap-oob="delete"></div>`
}
