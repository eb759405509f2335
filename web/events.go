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
	"github.com/pocketbase/pocketbase/tools/security"
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

	sub := s.broker.SubscribeAs(e.Auth)
	defer s.broker.Unsubscribe(sub)

	// The stream ends with the session that opened it: when its token
	// expires, and when the account is deleted or its tokens revoked.
	expires := sessionExpiry(e)
	expiry := time.NewTimer(time.Until(expires))
	defer expiry.Stop()

	send := func(event, data string) error {
		select {
		case <-sub.Ended():
			return errSessionEnded
		default:
		}
		if !time.Now().Before(expires) {
			return errSessionEnded
		}
		if _, err := e.Response.Write([]byte(frame(event, data))); err != nil {
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
		case <-sub.Ended():
			return nil
		case <-expiry.C:
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

// errSessionEnded stops a stream whose session is over.
var errSessionEnded = errors.New("session ended")

// frame is one server-sent event. EventSource ends a line at CR, LF or
// CRLF, so no CR may reach the stream: fragments are HTML, where a CR
// (from an object key, say) can only sit in text or a quoted attribute
// value (html/template quotes every attribute and percent-encodes CRs in
// URLs), and there the character reference &#13; is the same CR. The
// remaining lines each get their own data field, which the browser joins
// with LF again.
func frame(event, data string) string {
	var b strings.Builder
	b.WriteString("event: " + event + "\n")
	data = strings.ReplaceAll(data, "\r", "&#13;")
	for _, line := range strings.Split(data, "\n") {
		b.WriteString("data: " + line + "\n")
	}
	b.WriteString("\n")
	return b.String()
}

// sessionExpiry is when the token that signed the stream's request in
// expires. The token was already verified; only its claims are read.
// A token whose expiry cannot be read ends the stream at once.
func sessionExpiry(e *core.RequestEvent) time.Time {
	token, _ := e.Get(authTokenKey).(string)
	if token == "" {
		token = strings.TrimPrefix(e.Request.Header.Get("Authorization"), "Bearer ")
	}
	claims, err := security.ParseUnverifiedJWT(token)
	if err != nil {
		return time.Now()
	}
	exp, err := claims.GetExpirationTime()
	if err != nil || exp == nil {
		return time.Now()
	}
	return exp.Time
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

// render follows the list rule, as the overview's bucket list does: a
// tab hears of a bucket only if its user could list it before the change
// or can list it now, so a hidden bucket's id, and the moment it changed,
// never reach it.
func (w *overviewWatcher) render(change Change) (string, error) {
	if change.Collection != bucketsCollection {
		return "", nil
	}
	listed := change.Action != ActionDelete && canList(w.s.app, change.Record, w.auth)
	before := change.Before.CouldList(w.auth)
	if !listed && !before {
		return "", nil
	}

	totals, err := w.s.pages.execute("fragments", "totals", oob{Data: w.s.loadOverview(w.auth), Swap: "true"})
	if err != nil {
		return "", err
	}
	if !listed {
		return deleteOOB("bucket-"+change.Record.Id) + totals, nil
	}

	// A bucket new to this user is placed like a created one.
	card := oob{Data: change.Record, Swap: "true"}
	name := "bucket-card"
	if !before {
		card.Swap = "afterbegin:#bucket-list"
		name = "bucket-card-wrapped"
	}
	html, err := w.s.pages.execute("fragments", name, card)
	if !before {
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
	// A record the user may not view stays unknown, as its page's 404
	// keeps it: not even its deletion is told.
	var data any
	switch {
	case change.Action == ActionDelete && !change.Before.CouldView(w.auth):
		return "", nil
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
