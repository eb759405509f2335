package web

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"
)

func TestBrokerNeverBlocksAndMarksSlowClients(t *testing.T) {
	broker := NewBroker()
	slow := broker.Subscribe()
	record := &core.Record{}

	done := make(chan struct{})
	go func() {
		for range clientBuffer * 3 {
			broker.Publish(Change{Collection: "objects", Action: ActionCreate, Record: record})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Publish blocked on a client that reads nothing")
	}

	if len(slow.Changes) != clientBuffer {
		t.Errorf("buffered %d changes, want %d", len(slow.Changes), clientBuffer)
	}
	select {
	case <-slow.Resync:
	default:
		t.Error("the slow client was not told to resync")
	}

	broker.Unsubscribe(slow)
	broker.Close()
	broker.Close()
	<-broker.Done()
	if broker.Len() != 0 {
		t.Errorf("%d clients after close", broker.Len())
	}
}

// sseStream reads one event stream's events in the background.
type sseStream struct {
	events chan [2]string
	cancel context.CancelFunc
}

func (env *testEnv) stream(path string, cookie *http.Cookie) *sseStream {
	env.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	env.t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, env.server.URL+path, nil)
	req.AddCookie(cookie)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		env.t.Fatalf("open stream: %v", err)
	}
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		env.t.Fatalf("stream: status %d, type %q", res.StatusCode, res.Header.Get("Content-Type"))
	}

	s := &sseStream{events: make(chan [2]string, 100), cancel: cancel}
	go func() {
		defer res.Body.Close()
		scanner := bufio.NewScanner(res.Body)
		var name string
		var data []string
		for scanner.Scan() {
			line := scanner.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				data = append(data, strings.TrimPrefix(line, "data: "))
			case line == "" && name != "":
				s.events <- [2]string{name, strings.Join(data, "\n")}
				name, data = "", nil
			}
		}
	}()
	return s
}

// next waits for the next event of this name, or fails.
func (s *sseStream) next(t *testing.T, name string) string {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case event := <-s.events:
			if event[0] == name {
				return event[1]
			}
		case <-timeout:
			t.Fatalf("no %q event within 5s", name)
		}
	}
}

// none asserts that no update arrives for a while.
func (s *sseStream) none(t *testing.T, within time.Duration) {
	t.Helper()
	select {
	case event := <-s.events:
		t.Fatalf("unexpected event %s: %s", event[0], event[1])
	case <-time.After(within):
	}
}

func TestGalleryStreamSendsOnlyVisibleTiles(t *testing.T) {
	env := newTestEnv(t, Options{})
	objects, _ := env.app.FindCollectionByNameOrId("objects")
	objects.ListRule = types.Pointer("@request.auth.id != '' && bucket = 'public'")
	objects.ViewRule = objects.ListRule
	if err := env.app.Save(objects); err != nil {
		t.Fatal(err)
	}
	user := env.cookieFor(env.authRecord("users", "ann@example.com"))
	root := env.cookieFor(env.authRecord("_superusers", "root@example.com"))

	userStream := env.stream("/ui/events?view=gallery", user)
	rootStream := env.stream("/ui/events?view=gallery&kind=image", root)
	userStream.next(t, eventResync)
	rootStream.next(t, eventResync)

	secret := env.object("private", "secret.jpg", "image", 1, nil)
	mustContain(t, rootStream.next(t, eventUpdate), `hx-swap-oob="afterbegin:#tiles"`, "secret.jpg", `id="gallery-empty" hx-swap-oob="delete"`)
	userStream.none(t, 300*time.Millisecond)

	public := env.object("public", "cat.jpg", "image", 1, nil)
	mustContain(t, userStream.next(t, eventUpdate), "cat.jpg", `id="obj-`+public.Id+`"`)
	mustContain(t, rootStream.next(t, eventUpdate), "cat.jpg")

	// An update that leaves the filter removes the tile.
	public.Set("kind", "video")
	if err := env.app.Save(public); err != nil {
		t.Fatal(err)
	}
	mustContain(t, rootStream.next(t, eventUpdate), `id="obj-`+public.Id+`" hx-swap-oob="delete"`)
	mustContain(t, userStream.next(t, eventUpdate), `hx-swap-oob="true"`, "video")

	if err := env.app.Delete(secret); err != nil {
		t.Fatal(err)
	}
	mustContain(t, rootStream.next(t, eventUpdate), `id="obj-`+secret.Id+`" hx-swap-oob="delete"`)
}

func TestOverviewAndDetailStreams(t *testing.T) {
	env := newTestEnv(t, Options{})
	user := env.cookieFor(env.authRecord("users", "ann@example.com"))
	object := env.object("demo", "a.txt", "document", 1, nil)

	overview := env.stream("/ui/events?view=overview", user)
	detail := env.stream("/ui/events?view=object&id="+object.Id, user)
	overview.next(t, eventResync)
	detail.next(t, eventResync)

	buckets, _ := env.app.FindCollectionByNameOrId("buckets")
	bucket := core.NewRecord(buckets)
	bucket.Set("name", "demo")
	bucket.Set("object_count", 1)
	if err := env.app.Save(bucket); err != nil {
		t.Fatal(err)
	}
	mustContain(t, overview.next(t, eventUpdate), `hx-swap-oob="afterbegin:#bucket-list"`, `id="bucket-`+bucket.Id+`"`, `class="totals" hx-swap-oob="true"`, `id="buckets-empty" hx-swap-oob="delete"`)

	bucket.Set("object_count", 42)
	if err := env.app.Save(bucket); err != nil {
		t.Fatal(err)
	}
	mustContain(t, overview.next(t, eventUpdate), `hx-swap-oob="true"`, ">42<")

	object.Set("content_type", "text/plain")
	if err := env.app.Save(object); err != nil {
		t.Fatal(err)
	}
	mustContain(t, detail.next(t, eventUpdate), `hx-swap-oob="innerHTML:#object-body"`, "text/plain")

	if err := env.app.Delete(object); err != nil {
		t.Fatal(err)
	}
	mustContain(t, detail.next(t, eventUpdate), "This object was deleted")
}

func TestDocStreamUpdatesReaders(t *testing.T) {
	env := newTestEnv(t, Options{})
	user := env.cookieFor(env.authRecord("users", "ann@example.com"))
	doc := env.doc("intro", "Intro", "first")

	reader := env.stream("/ui/events?view=doc&id="+doc.Id, user)
	index := env.stream("/ui/events?view=docs", user)
	reader.next(t, eventResync)
	index.next(t, eventResync)

	doc.Set("body", "*second* <script>x()</script>")
	if err := env.app.Save(doc); err != nil {
		t.Fatal(err)
	}
	update := reader.next(t, eventUpdate)
	mustContain(t, update, "<em>second</em>", `hx-swap-oob="innerHTML:#doc-body"`)
	mustNotContain(t, update, "<script>")
	index.next(t, eventResync)

	if res := env.get("/ui/events?view=nonsense", user); res.status != http.StatusBadRequest {
		t.Errorf("unknown view: status %d", res.status)
	}
}
