package web

import (
	"net/http"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/tools/types"
)

func TestGalleryStreamPlacesOrAnnouncesNewObjects(t *testing.T) {
	env := newTestEnv(t, Options{})
	shown := env.object("demo", "old.jpg", "image", 5, nil)
	root := env.cookieFor(env.authRecord("_superusers", "root@example.com"))

	newest := env.stream("/ui/events?view=gallery&kind=image", root)
	byKey := env.stream("/ui/events?view=gallery&sort=key", root)
	videos := env.stream("/ui/events?view=gallery&kind=video&sort=size", root)
	for _, s := range []*sseStream{newest, byKey, videos} {
		s.next(t, eventResync)
	}

	// "newest" places the tile on top; "key" cannot, so it announces.
	first := env.object("demo", "m.jpg", "image", 1, nil)
	mustContain(t, newest.next(t, eventUpdate), `hx-swap-oob="afterbegin:#tiles"`, `id="obj-`+first.Id+`"`)
	update := byKey.next(t, eventUpdate)
	mustContain(t, update,
		`<div id="gallery-notice" hx-swap-oob="innerHTML">`,
		`hx-get="/ui/gallery/live?sort=key"`, `hx-target="#gallery-live"`, `hx-swap="outerHTML"`,
		"1 new object – show")
	mustNotContain(t, update, `id="obj-`, "afterbegin")

	second := env.object("demo", "a.jpg", "image", 2, nil)
	newest.next(t, eventUpdate)
	mustContain(t, byKey.next(t, eventUpdate), "2 new objects – show")

	// The video tab saw neither: its filter does not match.
	videos.none(t, 300*time.Millisecond)

	// A tile already on the page is replaced in place in every sort; an
	// announced object is not on the page, so nothing is swapped.
	shown.Set("size", 4096)
	if err := env.app.Save(shown); err != nil {
		t.Fatal(err)
	}
	mustContain(t, byKey.next(t, eventUpdate), `id="obj-`+shown.Id+`" href=`, `hx-swap-oob="true"`, "4.0 KiB")
	mustContain(t, newest.next(t, eventUpdate), `hx-swap-oob="true"`, "4.0 KiB")
	second.Set("size", 4096)
	if err := env.app.Save(second); err != nil {
		t.Fatal(err)
	}
	newest.next(t, eventUpdate)
	byKey.none(t, 300*time.Millisecond)

	// Deleting an announced object takes it off the count.
	if err := env.app.Delete(first); err != nil {
		t.Fatal(err)
	}
	update = byKey.next(t, eventUpdate)
	mustContain(t, update, `id="obj-`+first.Id+`" hx-swap-oob="delete"`, "1 new object – show")
	mustContain(t, newest.next(t, eventUpdate), `id="obj-`+first.Id+`" hx-swap-oob="delete"`)
	if err := env.app.Delete(second); err != nil {
		t.Fatal(err)
	}
	mustContain(t, byKey.next(t, eventUpdate), `<div id="gallery-notice" hx-swap-oob="innerHTML"></div>`)
}

func TestGalleryStreamAnnouncesObjectsThatEnterTheFilter(t *testing.T) {
	env := newTestEnv(t, Options{})
	root := env.cookieFor(env.authRecord("_superusers", "root@example.com"))
	images := env.stream("/ui/events?view=gallery&kind=image", root)
	images.next(t, eventResync)

	// Indexed first as "other", classified as an image later: the tab
	// did not show it, and cannot know where it goes.
	object := env.object("demo", "late.heic", "other", 1, nil)
	images.none(t, 300*time.Millisecond)
	object.Set("kind", "image")
	if err := env.app.Save(object); err != nil {
		t.Fatal(err)
	}
	mustContain(t, images.next(t, eventUpdate), "1 new object – show")

	// Leaving the filter removes it again.
	object.Set("kind", "video")
	if err := env.app.Save(object); err != nil {
		t.Fatal(err)
	}
	mustContain(t, images.next(t, eventUpdate), `id="obj-`+object.Id+`" hx-swap-oob="delete"`, `<div id="gallery-notice" hx-swap-oob="innerHTML"></div>`)
}

func TestGalleryNoticeFollowsListRule(t *testing.T) {
	env := newTestEnv(t, Options{})
	objects, _ := env.app.FindCollectionByNameOrId("objects")
	objects.ListRule = types.Pointer("@request.auth.id != '' && bucket = 'public'")
	objects.ViewRule = objects.ListRule
	if err := env.app.Save(objects); err != nil {
		t.Fatal(err)
	}
	user := env.cookieFor(env.authRecord("users", "ann@example.com"))
	bySize := env.stream("/ui/events?view=gallery&sort=size", user)
	bySize.next(t, eventResync)

	env.object("private", "secret.jpg", "image", 1, nil)
	bySize.none(t, 300*time.Millisecond)
	env.object("public", "cat.jpg", "image", 1, nil)
	update := bySize.next(t, eventUpdate)
	mustContain(t, update, "1 new object – show")
	mustNotContain(t, update, "secret", "cat.jpg")
}

func TestGalleryWatcherForgetsOnResync(t *testing.T) {
	env := newTestEnv(t, Options{})
	parsed, err := parsePages()
	if err != nil {
		t.Fatal(err)
	}
	s := &server{app: env.app, pages: parsed}
	w := newGalleryWatcher(s, nil, galleryFilter{Sort: "key"})
	w.auth = env.authRecord("_superusers", "root@example.com")

	for _, key := range []string{"a", "b"} {
		record := env.object("demo", key, "image", 1, nil)
		if _, err := w.render(Change{Collection: objectsCollection, Action: ActionCreate, Record: record}); err != nil {
			t.Fatal(err)
		}
	}
	w.reset()
	record := env.object("demo", "c", "image", 1, nil)
	html, err := w.render(Change{Collection: objectsCollection, Action: ActionCreate, Record: record})
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, html, "1 new object – show")
}

func TestGalleryReloadsEmptyTheNotice(t *testing.T) {
	env := newTestEnv(t, Options{})
	for i := range pageSize + 1 {
		env.object("demo", "k"+string(rune('a'+i%26))+string(rune('a'+i/26)), "image", 1, nil)
	}
	user := env.cookieFor(env.authRecord("users", "ann@example.com"))
	empty := `<div id="gallery-notice" hx-swap-oob="innerHTML"></div>`

	// The first page of a resync makes the grid current; later pages of
	// the scroll do not.
	mustContain(t, env.get("/ui/gallery/tiles?sort=key", user).body, empty)
	mustNotContain(t, env.get("/ui/gallery/tiles?sort=key&offset=48", user).body, empty)

	// The gallery page itself has one plain notice, not a swap.
	page := env.get("/ui/gallery?sort=key&kind=image", user)
	mustContain(t, page.body, `<div id="gallery-notice" class="live-notice" role="status" aria-live="polite"></div>`)
	mustNotContain(t, page.body, empty)

	// "Show" swaps in the live part with a fresh stream of the same view.
	live := env.get("/ui/gallery/live?sort=key&kind=image&offset=48&sort=bogus", user)
	if live.status != http.StatusOK {
		t.Fatalf("live: status %d", live.status)
	}
	mustContain(t, live.body,
		`<div id="gallery-live" hx-ext="sse" sse-connect="/ui/events?view=gallery&kind=image&amp;sort=key">`,
		`hx-get="/ui/gallery/tiles?kind=image&amp;sort=key"`, `title="kaa"`)
	mustNotContain(t, live.body, "bogus")
}
