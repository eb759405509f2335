package web

import (
	"fmt"
	"reflect"

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

func (w *galleryWatcher) render(change Change) (string, error) {
	if change.Collection != objectsCollection {
		return "", nil
	}
	id := change.Record.Id
	tileID := "obj-" + id
	if change.Action == ActionDelete {
		notice, err := w.forget(id)
		return deleteOOB(tileID) + notice, err
	}

	match, err := w.matches(id)
	if err != nil {
		return "", err
	}
	if !match {
		if change.Action != ActionUpdate {
			return "", nil
		}
		notice, err := w.forget(id)
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
	case change.Action == ActionCreate:
		return w.announce(id)
	}

	// An update: replace the tile in place. One that just came into the
	// filter is not in the grid, and its place is unknown: announce it.
	html, err := w.s.pages.execute("fragments", "tile", oob{Data: t, Swap: "true"})
	if err != nil || !w.entered(change) {
		return html, err
	}
	notice, err := w.announce(id)
	return html + notice, err
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

// entered says whether an update changed a column the tab filters on,
// so the object may have been outside the tab's view before.
func (w *galleryWatcher) entered(change Change) bool {
	if change.Original == nil {
		return false
	}
	for _, column := range w.filter.columns() {
		if !reflect.DeepEqual(change.Original.Get(column), change.Record.Get(column)) {
			return true
		}
	}
	return false
}

// columns are the object columns the filter reads.
func (f galleryFilter) columns() []string {
	var columns []string
	if f.Bucket != "" {
		columns = append(columns, "bucket")
	}
	if f.Kind != "" {
		columns = append(columns, "kind")
	}
	if f.Search != "" {
		columns = append(columns, "key")
	}
	if f.From != "" || f.To != "" {
		columns = append(columns, "last_modified", "taken_at_utc")
	}
	if f.Camera != "" {
		columns = append(columns, "model")
	}
	if f.GPS {
		columns = append(columns, "gps_lat", "gps_lon")
	}
	return columns
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
