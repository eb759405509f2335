package web

import (
	"net/url"
	"strings"
	"testing"

	"github.com/pocketbase/pocketbase/tools/types"
)

func TestGalleryFollowsListRule(t *testing.T) {
	env := newTestEnv(t, Options{})
	env.object("public", "cats/a.jpg", "image", 10, nil)
	env.object("private", "secret/plan.pdf", "document", 20, nil)
	user := env.cookieFor(env.authRecord("users", "ann@example.com"))
	root := env.cookieFor(env.authRecord("_superusers", "root@example.com"))

	// Users may list only the public bucket; superusers see past rules.
	objects, err := env.app.FindCollectionByNameOrId("objects")
	if err != nil {
		t.Fatal(err)
	}
	objects.ListRule = types.Pointer("@request.auth.id != '' && bucket = 'public'")
	objects.ViewRule = objects.ListRule
	if err := env.app.Save(objects); err != nil {
		t.Fatal(err)
	}

	res := env.get("/ui/gallery", user)
	mustContain(t, res.body, "a.jpg")
	mustNotContain(t, res.body, "plan.pdf", "private")

	res = env.get("/ui/gallery", root)
	mustContain(t, res.body, "a.jpg", "plan.pdf")

	// Only superusers then: a user sees a clear message, not an error.
	objects.ListRule = nil
	if err := env.app.Save(objects); err != nil {
		t.Fatal(err)
	}
	res = env.get("/ui/gallery/tiles", user)
	mustContain(t, res.body, "You may not list objects")
	mustNotContain(t, res.body, "a.jpg")
}

func TestGalleryFiltersWithHostileInput(t *testing.T) {
	env := newTestEnv(t, Options{})
	env.object("demo", "holiday/beach.jpg", "image", 300, nil)
	env.object("demo", "holiday/clip.mp4", "video", 9000, nil)
	env.object("demo", "100%_done.txt", "document", 5, nil)
	env.object("other", "x'y.jpg", "image", 1, nil)
	user := env.cookieFor(env.authRecord("users", "ann@example.com"))

	scenarios := []struct {
		name   string
		query  url.Values
		want   []string
		absent []string
	}{
		{"kind", url.Values{"kind": {"video"}}, []string{"clip.mp4"}, []string{"beach.jpg"}},
		{"bucket", url.Values{"bucket": {"other"}}, []string{"x&#39;y.jpg"}, []string{"beach.jpg"}},
		{"search", url.Values{"q": {"holiday/b"}}, []string{"beach.jpg"}, []string{"clip.mp4"}},
		{"like wildcards are literal", url.Values{"q": {"%_"}}, []string{"100%_done.txt"}, []string{"beach.jpg"}},
		{"quote in search", url.Values{"q": {"' OR 1=1 --"}}, nil, []string{"beach.jpg", "clip.mp4"}},
		{"quote in bucket", url.Values{"bucket": {"demo' OR '1'='1"}}, nil, []string{"beach.jpg", "x&#39;y.jpg"}},
		{"unknown kind ignored", url.Values{"kind": {"image' --"}}, []string{"beach.jpg", "clip.mp4"}, nil},
		{"sort injection ignored", url.Values{"sort": {"key; DROP TABLE objects"}}, []string{"beach.jpg"}, nil},
		{"bad dates ignored", url.Values{"from": {"2026-13-45'"}, "to": {"yesterday"}}, []string{"beach.jpg"}, nil},
		{"date range", url.Values{"from": {"2026-03-02"}}, nil, []string{"beach.jpg"}},
		{"negative offset", url.Values{"offset": {"-5"}}, []string{"beach.jpg"}, nil},
		{"huge offset", url.Values{"offset": {"999999999999999999999"}}, []string{"beach.jpg"}, nil},
		{"sort by size", url.Values{"sort": {"size"}}, []string{"clip.mp4"}, nil},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			res := env.get("/ui/gallery/tiles?"+sc.query.Encode(), user)
			if res.status != 200 {
				t.Fatalf("status %d", res.status)
			}
			mustNotContain(t, res.body, "could not be read")
			mustContain(t, res.body, sc.want...)
			mustNotContain(t, res.body, sc.absent...)
		})
	}

	// Camera and GPS filters apply once the media columns exist, and are
	// ignored before.
	objects, _ := env.app.FindCachedCollectionByNameOrId("objects")
	camera := env.get("/ui/gallery/tiles?"+url.Values{"camera": {"x' OR '1'='1"}, "gps": {"1"}}.Encode(), user)
	if columnsOf(objects).Camera {
		mustNotContain(t, camera.body, "beach.jpg")
	} else {
		mustContain(t, camera.body, "beach.jpg")
	}

	// The table survived every request.
	if total, err := env.app.CountRecords("objects"); err != nil || total != 4 {
		t.Fatalf("objects left: %d, %v", total, err)
	}
	page := env.get("/ui/gallery?sort=size&kind=video", user)
	mustContain(t, page.body, `<option selected>video</option>`, `value="size" selected`)
	if strings.Index(env.get("/ui/gallery/tiles?sort=size", user).body, "clip.mp4") >
		strings.Index(env.get("/ui/gallery/tiles?sort=size", user).body, "beach.jpg") {
		t.Error("sort by size does not put the largest first")
	}
}

func TestGalleryMediaColumns(t *testing.T) {
	env := newTestEnv(t, Options{})
	objects, _ := env.app.FindCachedCollectionByNameOrId("objects")
	if !columnsOf(objects).Camera || !columnsOf(objects).GPS || !columnsOf(objects).Taken {
		t.Skip("the media columns are not in the schema yet")
	}
	env.object("demo", "gps.jpg", "image", 1, map[string]any{"model": "X100V", "gps_lat": 48.1, "gps_lon": 11.5, "taken_at_utc": "2020-05-01 10:00:00.000Z"})
	env.object("demo", "plain.jpg", "image", 2, map[string]any{"model": "Pixel 8"})
	user := env.cookieFor(env.authRecord("users", "ann@example.com"))

	res := env.get("/ui/gallery/tiles?camera=X100V", user)
	mustContain(t, res.body, "gps.jpg")
	mustNotContain(t, res.body, "plain.jpg")

	res = env.get("/ui/gallery/tiles?gps=1", user)
	mustContain(t, res.body, "gps.jpg")
	mustNotContain(t, res.body, "plain.jpg")

	res = env.get("/ui/gallery/tiles?from=2020-05-01&to=2020-05-01", user)
	mustContain(t, res.body, "gps.jpg")
	mustNotContain(t, res.body, "plain.jpg")

	page := env.get("/ui/gallery", user)
	mustContain(t, page.body, `name="camera"`, ">X100V</option>", `name="gps"`, `value="taken"`)
}

func TestGalleryPagesAsYouScroll(t *testing.T) {
	env := newTestEnv(t, Options{})
	for i := range pageSize + 3 {
		env.object("demo", "k/"+string(rune('a'+i/26))+string(rune('a'+i%26)), "other", int64(i), nil)
	}
	user := env.cookieFor(env.authRecord("users", "ann@example.com"))

	first := env.get("/ui/gallery/tiles?sort=key&bucket=demo", user)
	if n := strings.Count(first.body, `class="tile"`); n != pageSize {
		t.Fatalf("first page has %d tiles, want %d", n, pageSize)
	}
	mustContain(t, first.body, `hx-trigger="revealed"`, "offset=48")

	second := env.get("/ui/gallery/tiles?sort=key&bucket=demo&offset=48", user)
	if n := strings.Count(second.body, `class="tile"`); n != 3 {
		t.Fatalf("second page has %d tiles, want 3", n)
	}
	mustNotContain(t, second.body, `hx-trigger="revealed"`)

	empty := env.get("/ui/gallery?q=nothing-like-this", user)
	mustContain(t, empty.body, `id="gallery-empty"`)
}
