package web

import (
	"fmt"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// maxAnnounced bounds the objects one tab's notice counts; past it the
// tab re-fetches its grid instead, which is cheaper than a long list.
const maxAnnounced = 10_000

// galleryWatcher keeps one gallery tab current for its filter and sort:
// a new object that matches appears as a tile where the grid can place
// it (the top, under "newest"), and is announced by a notice elsewhere.
// Tiles already shown are replaced and removed in place.
type galleryWatcher struct {
	s      *server
	auth   *core.Record
	filter galleryFilter

	// announced are the objects the notice counts: matching, but not in
	// the tab's grid until it reloads.
	announced map[string]struct{}
}

func newGalleryWatcher(s *server, auth *core.Record, filter galleryFilter) *galleryWatcher {
	return &galleryWatcher{s: s, auth: auth, filter: filter, announced: map[string]struct{}{}}
}

// galleryNotice is the data of the "N new objects" notice.
type galleryNotice struct {
	Filter galleryFilter
	Count  int
}

// reset forgets the announced objects: a resync reloads the grid.
func (w *galleryWatcher) reset() {
	clear(w.announced)
}

// render tells the tab only of objects its user could list before the
// change or can list now: a hidden object's id, and the moment it
// changed, never reach it.
func (w *galleryWatcher) render(change Change) (string, error) {
	if change.Collection != objectsCollection {
		return "", nil
	}
	id := change.Record.Id
	tileID := "obj-" + id
	if change.Action == ActionDelete {
		notice, err := w.forget(id)
		if !change.Before.CouldList(w.auth) {
			return notice, err
		}
		return deleteOOB(tileID) + notice, err
	}

	match, err := w.matches(id)
	if err != nil {
		return "", err
	}
	before, err := w.matchedBefore(change)
	if err != nil {
		return "", err
	}
	if !match {
		notice, err := w.forget(id)
		if !before {
			return notice, err
		}
		return deleteOOB(tileID) + notice, err
	}

	t := tileOf(change.Record, columnsOf(change.Record.Collection()))
	_, pending := w.announced[id]
	switch {
	case pending:
		// Not in the grid yet; the reload will show it as it is now.
		return "", nil
	case change.Action == ActionCreate && w.filter.Sort == "newest":
		html, err := w.s.pages.execute("fragments", "tile-wrapped", oob{Data: t, Swap: "afterbegin:#tiles"})
		return deleteOOB("gallery-empty") + html, err
	case change.Action == ActionCreate, !before:
		// Created, or just come into the filter or the rule: not in the
		// grid, and under an update its place is unknown even in
		// "newest" (an old object can be moved in), so it is announced.
		return w.announce(id)
	}

	// Shown before and still: replace the tile in place.
	return w.s.pages.execute("fragments", "tile", oob{Data: t, Swap: "true"})
}

// announce counts one more object in the tab's notice.
func (w *galleryWatcher) announce(id string) (string, error) {
	if len(w.announced) >= maxAnnounced {
		return "", errResync
	}
	w.announced[id] = struct{}{}
	return w.notice()
}

// forget stops counting an object, and re-renders the notice if it was
// counted.
func (w *galleryWatcher) forget(id string) (string, error) {
	if _, ok := w.announced[id]; !ok {
		return "", nil
	}
	delete(w.announced, id)
	return w.notice()
}

func (w *galleryWatcher) notice() (string, error) {
	return w.s.pages.execute("fragments", "gallery-notice", galleryNotice{Filter: w.filter, Count: len(w.announced)})
}

// matchedBefore says whether an updated object was in the tab's view
// before the update: its user's list rule showed it and the filter
// matched its committed values, both read before the write. The filter
// is the gallery's own SQL, run on those values, so it cannot drift from
// the query that lists tiles.
func (w *galleryWatcher) matchedBefore(change Change) (bool, error) {
	if change.Original == nil || !change.Before.CouldList(w.auth) {
		return false, nil
	}
	was := dbx.Params{}
	column := func(name string) string {
		was["was_"+name] = change.Original.Get(name)
		return "{:was_" + name + "}"
	}
	conditions := w.filter.where(columnsOf(change.Original.Collection()), column)
	if len(conditions) == 0 {
		return true, nil
	}

	var found []int
	err := w.s.app.DB().Select("(1)").AndWhere(dbx.And(conditions...)).Bind(was).Column(&found)
	if err != nil {
		return false, fmt.Errorf("match previous values of %s: %w", change.Original.Id, err)
	}
	return len(found) == 1, nil
}

// matches runs the gallery's own query for the one record, so the rules
// and filters that list tiles also decide which live tiles appear.
func (w *galleryWatcher) matches(id string) (bool, error) {
	query, _, ok, err := w.s.objectsQuery(w.auth, w.filter)
	if err != nil || !ok {
		return false, err
	}
	var found []string
	err = query.Select("objects.id").AndWhere(dbx.NewExp("objects.id = {:changed}", dbx.Params{"changed": id})).Limit(1).Column(&found)
	if err != nil {
		return false, fmt.Errorf("match change %s: %w", id, err)
	}
	return len(found) == 1, nil
}

// liveFragment is the gallery's live part, grid and stream, for the
// notice's "show": swapping it opens a fresh stream with nothing
// announced, and shows the grid as it is now.
func (s *server) liveFragment(e *core.RequestEvent) error {
	f := parseGalleryFilter(e.Request.URL.Query())
	f.Offset = 0
	return s.fragment(e, "gallery-live", s.loadGallery(e.Auth, f))
}
