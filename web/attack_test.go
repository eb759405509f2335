package web

import (
	"bufio"
	"context"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"
)

// specEvent is one dispatched server-sent event as a browser's
// EventSource sees it.
type specEvent struct {
	name string
	data string

	// fields are every field name the event was built from, in order,
	// so a field smuggled in by data shows up.
	fields []string
}

// specStream reads one event stream the way the EventSource spec does:
// a line ends at CR, LF or CRLF, which the repository's own helper
// (bufio.ScanLines) does not honour.
type specStream struct {
	events chan specEvent
	closed chan struct{}
	cancel context.CancelFunc
}

// specStreamOf opens an event stream with its own client, so closing it
// leaves no idle connection behind.
func (env *testEnv) specStreamOf(path string, cookie *http.Cookie) *specStream {
	env.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	env.t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, env.server.URL+path, nil)
	if err != nil {
		env.t.Fatal(err)
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	res, err := client.Do(req)
	if err != nil {
		env.t.Fatalf("open stream %s: %v", path, err)
	}
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		res.Body.Close()
		env.t.Fatalf("stream %s: status %d, type %q", path, res.StatusCode, res.Header.Get("Content-Type"))
	}

	s := &specStream{events: make(chan specEvent, 10_000), closed: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(s.closed)
		defer res.Body.Close()
		reader := bufio.NewReader(res.Body)
		var name string
		var data []string
		var fields []string
		for {
			line, err := readSpecLine(reader)
			if err != nil {
				return
			}
			if line == "" {
				if len(data) > 0 {
					if name == "" {
						name = "message"
					}
					s.events <- specEvent{name: name, data: strings.Join(data, "\n"), fields: fields}
				}
				name, data, fields = "", nil, nil
				continue
			}
			if strings.HasPrefix(line, ":") {
				continue
			}
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			fields = append(fields, field)
			switch field {
			case "event":
				name = value
			case "data":
				data = append(data, value)
			}
		}
	}()
	return s
}

// readSpecLine reads up to CR, LF or CRLF.
func readSpecLine(reader *bufio.Reader) (string, error) {
	var line strings.Builder
	for {
		b, err := reader.ReadByte()
		if err != nil {
			return "", err
		}
		switch b {
		case '\n':
			return line.String(), nil
		case '\r':
			if next, err := reader.Peek(1); err == nil && next[0] == '\n' {
				reader.ReadByte()
			}
			return line.String(), nil
		}
		line.WriteByte(b)
	}
}

// next is the next event of any name, or fails.
func (s *specStream) next(t *testing.T) specEvent {
	t.Helper()
	select {
	case event := <-s.events:
		return event
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
	}
	return specEvent{}
}

// none asserts that no event arrives for a while.
func (s *specStream) none(t *testing.T, within time.Duration) {
	t.Helper()
	select {
	case event := <-s.events:
		t.Fatalf("unexpected %q event: %s", event.name, clip(event.data))
	case <-time.After(within):
	}
}

// hidePrivateBucket lets signed-in users list and view only objects of
// the bucket "public".
func (env *testEnv) hidePrivateBucket() {
	env.t.Helper()
	objects, err := env.app.FindCollectionByNameOrId(objectsCollection)
	if err != nil {
		env.t.Fatal(err)
	}
	objects.ListRule = types.Pointer("@request.auth.id != '' && bucket = 'public'")
	objects.ViewRule = objects.ListRule
	if err := env.app.Save(objects); err != nil {
		env.t.Fatal(err)
	}
}

// TestAttackHostileKeysAreEscapedInLiveTiles sends object keys full of
// markup, quotes, HTMX attributes, SSE field names after newlines and
// long or odd unicode through the stream: each tile must be exactly the
// template's tile with the key as escaped text, and the notice of another
// tab must carry no byte of the key.
func TestAttackHostileKeysAreEscapedInLiveTiles(t *testing.T) {
	env := newTestEnv(t, Options{})
	root := env.cookieFor(env.authRecord("_superusers", "root@example.com"))
	parsed, err := parsePages()
	if err != nil {
		t.Fatal(err)
	}

	newest := env.specStreamOf("/ui/events?view=gallery", root)
	byKey := env.specStreamOf("/ui/events?view=gallery&sort=key", root)
	for _, s := range []*specStream{newest, byKey} {
		if event := s.next(t); event.name != eventResync {
			t.Fatalf("first event %q", event.name)
		}
	}

	keys := []string{
		`<script>alert(1)</script>.jpg`,
		`"><img src=x onerror=alert(1)>.jpg`,
		`' hx-get='/ui/logout' hx-trigger='load' x='.jpg`,
		`dir/<svg onload=alert(1)>`,
		`a/b" hx-swap-oob="outerHTML:body`,
		"x\n\nevent: resync\ndata: <b>bold</b>\n\n/y.jpg",
		"\u202egpj.exe \u2028\u2029 🎞️ ß/ユニコード",
		`{{.}} javascript:alert(1) </a></div><div hx-swap-oob="delete" id="tiles">`,
		strings.Repeat(`<"'&`, 256),
	}
	for i, key := range keys {
		record := env.object("demo", key, "image", int64(i), map[string]any{"etag": "e"})

		// The tile is the template's own, with only the key's text in it.
		event := newest.next(t)
		if event.name != eventUpdate {
			t.Fatalf("key %q: event %q", key, event.name)
		}
		name := key[strings.LastIndex(key, "/")+1:]
		got := strings.Replace(event.data, `title="`+template.HTMLEscapeString(key)+`"`, `title="KEY"`, 1)
		got = strings.Replace(got, `<span class="name">`+template.HTMLEscapeString(name)+`</span>`, `<span class="name">NAME</span>`, 1)
		benign, err := parsed.execute("fragments", "tile-wrapped", oob{
			Data: tile{ID: record.Id, Key: "KEY", Name: "NAME", Kind: "image", Size: int64(i)},
			Swap: "afterbegin:#tiles",
		})
		if err != nil {
			t.Fatal(err)
		}
		if want := deleteOOB("gallery-empty") + benign; got != want {
			t.Errorf("key %q: tile\n got %s\nwant %s", key, got, want)
		}
		for _, field := range event.fields {
			if field != "event" && field != "data" {
				t.Errorf("key %q: smuggled SSE field %q", key, field)
			}
		}

		// The notice of the tab that cannot place it says only a count.
		notice := byKey.next(t)
		want := `<div id="gallery-notice" hx-swap-oob="innerHTML"><button type="button" class="show-new" hx-get="/ui/gallery/live?sort=key" hx-target="#gallery-live" hx-swap="outerHTML">` +
			strconv.Itoa(i+1) + ` new object` + map[bool]string{true: "", false: "s"}[i == 0] + ` – show</button></div>`
		if notice.name != eventUpdate || notice.data != want {
			t.Errorf("key %q: notice %q\n%s", key, notice.name, notice.data)
		}
	}
}

// TestAttackCarriageReturnInKeyCannotRewriteTheStream puts bare CRs in a
// key. EventSource ends a line at CR as at LF, so a CR that reaches the
// stream unescaped ends the data line and lets the key add its own SSE
// fields: rename the event, set the retry delay or the last event id.
func TestAttackCarriageReturnInKeyCannotRewriteTheStream(t *testing.T) {
	env := newTestEnv(t, Options{})
	root := env.cookieFor(env.authRecord("_superusers", "root@example.com"))
	newest := env.specStreamOf("/ui/events?view=gallery", root)
	if event := newest.next(t); event.name != eventResync {
		t.Fatalf("first event %q", event.name)
	}

	record := env.object("demo", "evil\revent: resync\rretry: 1\rid: 666\r/cat.jpg", "image", 1, nil)

	event := newest.next(t)
	if event.name != eventUpdate {
		t.Errorf("the key renamed the event to %q", event.name)
	}
	for _, field := range event.fields {
		if field != "event" && field != "data" {
			t.Errorf("the key added the SSE field %q", field)
		}
	}
	mustContain(t, event.data, `id="obj-`+record.Id+`"`, `<span class="name">cat.jpg</span>`, "</a></div>")
}

// TestAttackHiddenObjectUpdatesStaySilent changes an object the user's
// list rule hides. No tab of that user may receive anything: not a tile,
// not a delete naming its id, not an event whose timing tells of it.
func TestAttackHiddenObjectUpdatesStaySilent(t *testing.T) {
	env := newTestEnv(t, Options{})
	env.hidePrivateBucket()
	user := env.cookieFor(env.authRecord("users", "ann@example.com"))
	newest := env.specStreamOf("/ui/events?view=gallery", user)
	byKey := env.specStreamOf("/ui/events?view=gallery&sort=key&kind=image", user)
	for _, s := range []*specStream{newest, byKey} {
		s.next(t)
	}

	secret := env.object("private", "secret.jpg", "image", 1, nil)
	newest.none(t, 300*time.Millisecond)
	byKey.none(t, 300*time.Millisecond)

	secret.Set("size", 2)
	if err := env.app.Save(secret); err != nil {
		t.Fatal(err)
	}
	newest.none(t, 300*time.Millisecond)
	byKey.none(t, 300*time.Millisecond)
}

// TestAttackHiddenObjectDeletesStaySilent deletes an object the user's
// list rule hides: its id and the moment it went must not reach the
// user's gallery tabs.
func TestAttackHiddenObjectDeletesStaySilent(t *testing.T) {
	env := newTestEnv(t, Options{})
	env.hidePrivateBucket()
	user := env.cookieFor(env.authRecord("users", "ann@example.com"))
	newest := env.specStreamOf("/ui/events?view=gallery", user)
	newest.next(t)

	secret := env.object("private", "secret.jpg", "image", 1, nil)
	newest.none(t, 300*time.Millisecond)

	if err := env.app.Delete(secret); err != nil {
		t.Fatal(err)
	}
	newest.none(t, 300*time.Millisecond)
}

// TestAttackDetailStreamOfHiddenObjectStaysSilent opens the detail
// stream of an object the user may not view. The detail page answers
// 404 to hide whether it exists; its stream must not tell either, when
// the object is deleted.
func TestAttackDetailStreamOfHiddenObjectStaysSilent(t *testing.T) {
	env := newTestEnv(t, Options{})
	env.hidePrivateBucket()
	user := env.cookieFor(env.authRecord("users", "ann@example.com"))
	secret := env.object("private", "secret.jpg", "image", 1, nil)
	if res := env.get("/ui/objects/"+secret.Id, user); res.status != http.StatusNotFound {
		t.Fatalf("detail page of a hidden object: status %d", res.status)
	}

	detail := env.specStreamOf("/ui/events?view=object&id="+secret.Id, user)
	detail.next(t)
	secret.Set("size", 2)
	if err := env.app.Save(secret); err != nil {
		t.Fatal(err)
	}
	detail.none(t, 300*time.Millisecond)

	if err := env.app.Delete(secret); err != nil {
		t.Fatal(err)
	}
	detail.none(t, 300*time.Millisecond)
}

// TestAttackOverviewHidesDeletedHiddenBuckets deletes a bucket the user's
// rules hide: the overview stream must not name it or react at all.
func TestAttackOverviewHidesDeletedHiddenBuckets(t *testing.T) {
	env := newTestEnv(t, Options{})
	buckets, err := env.app.FindCollectionByNameOrId(bucketsCollection)
	if err != nil {
		t.Fatal(err)
	}
	buckets.ListRule = types.Pointer("@request.auth.id != '' && name = 'public'")
	buckets.ViewRule = buckets.ListRule
	if err := env.app.Save(buckets); err != nil {
		t.Fatal(err)
	}
	user := env.cookieFor(env.authRecord("users", "ann@example.com"))
	overview := env.specStreamOf("/ui/events?view=overview", user)
	overview.next(t)

	hidden := core.NewRecord(buckets)
	hidden.Set("name", "private")
	if err := env.app.Save(hidden); err != nil {
		t.Fatal(err)
	}
	overview.none(t, 300*time.Millisecond)

	if err := env.app.Delete(hidden); err != nil {
		t.Fatal(err)
	}
	overview.none(t, 300*time.Millisecond)
}

// TestAttackFilterValuesNeverWidenTheRule opens gallery streams and tile
// pages with SQL injection attempts, huge, repeated and invalid filter
// values. Each must open normally, and none may show an object the list
// rule hides, even one whose key and camera echo the injected text.
func TestAttackFilterValuesNeverWidenTheRule(t *testing.T) {
	env := newTestEnv(t, Options{})
	env.hidePrivateBucket()
	user := env.cookieFor(env.authRecord("users", "ann@example.com"))

	queries := []string{
		"bucket=" + url.QueryEscape(`' OR 1=1 --`),
		"bucket=" + url.QueryEscape(`public' OR bucket='private`),
		"bucket=private&bucket=public",
		"bucket=public&bucket=private",
		"q=" + url.QueryEscape(`%' OR '1'='1`),
		"q=" + url.QueryEscape(`secret' OR '1'='1`) + "&sort=key",
		"q=%25&q=_",
		"q=" + strings.Repeat("%25", 100_000),
		"q=" + url.QueryEscape("\x00\r\n\\") + "&sort=size",
		"camera=" + url.QueryEscape(`x') OR ('1'='1`),
		"camera=" + url.QueryEscape(`Cam' OR '1'='1`) + "&gps=1",
		"from=2024-13-45&to=9999-99-99",
		"from=" + url.QueryEscape(`2026-03-01' OR '1'='1`),
		"from=0000-01-01&to=9999-12-31&sort=taken",
		"sort=" + url.QueryEscape("newest; DROP TABLE objects; --"),
		"sort=" + url.QueryEscape("key\nevent: update\ndata: x"),
		"kind=" + url.QueryEscape(`image' OR '1'='1`),
		"kind=video&kind=image",
		"gps=1%27%20OR%201=1&offset=-5",
		"offset=999999999999999999999999",
		"view=overview&bucket=private",
	}
	var streams []*specStream
	for _, query := range queries {
		streams = append(streams, env.specStreamOf("/ui/events?view=gallery&"+query, user))
	}
	for i, s := range streams {
		if event := s.next(t); event.name != eventResync {
			t.Fatalf("%s: first event %q", queries[i], event.name)
		}
	}

	secret := env.object("private", `secret' OR '1'='1 %_.jpg`, "image", 1, map[string]any{"model": `Cam' OR '1'='1`, "gps_lat": 1.5})
	env.object("public", "cat.jpg", "image", 1, nil)
	time.Sleep(500 * time.Millisecond)
	for i, s := range streams {
		for drained := false; !drained; {
			select {
			case event := <-s.events:
				mustNotContain(t, event.data, secret.Id, "secret", "<script")
			default:
				drained = true
			}
		}
		select {
		case <-s.closed:
			t.Errorf("%s: the stream ended", queries[i])
		default:
		}
	}

	for _, query := range queries {
		res := env.get("/ui/gallery/tiles?"+query, user)
		if res.status != http.StatusOK {
			t.Errorf("tiles?%s: status %d", clip(query), res.status)
		}
		mustNotContain(t, res.body, secret.Id, "secret", "could not be read")
	}

	// The table the injections aimed at is still there.
	if _, err := env.app.FindRecordById(objectsCollection, secret.Id); err != nil {
		t.Errorf("objects after the attempts: %v", err)
	}
}

// TestAttackUnknownViewIsRefusedAndEscaped names a view with markup and
// an SSE field after a newline: the stream is refused with a page that
// shows the name as text, never as a stream.
func TestAttackUnknownViewIsRefusedAndEscaped(t *testing.T) {
	env := newTestEnv(t, Options{})
	user := env.cookieFor(env.authRecord("users", "ann@example.com"))

	res := env.get("/ui/events?view="+url.QueryEscape("<script>alert(1)</script>\r\nevent: update"), user)

	if res.status != http.StatusBadRequest || strings.HasPrefix(res.header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("status %d, type %q", res.status, res.header.Get("Content-Type"))
	}
	mustNotContain(t, res.body, "<script>alert")
	mustContain(t, res.body, "&lt;script&gt;")
}

// TestAttackStreamEndsWhenTheUserIsDeleted deletes the account behind an
// open gallery stream: the stream must stop telling that browser about
// new objects.
func TestAttackStreamEndsWhenTheUserIsDeleted(t *testing.T) {
	env := newTestEnv(t, Options{})
	ann := env.authRecord("users", "ann@example.com")
	newest := env.specStreamOf("/ui/events?view=gallery", env.cookieFor(ann))
	newest.next(t)

	if err := env.app.Delete(ann); err != nil {
		t.Fatal(err)
	}
	env.object("demo", "after-delete.jpg", "image", 1, nil)

	select {
	case event := <-newest.events:
		t.Errorf("a deleted user got a %q event: %s", event.name, clip(event.data))
	case <-newest.closed:
	case <-time.After(time.Second):
	}
}

// TestAttackStreamEndsWhenTheSessionExpires lets the auth token of an
// open stream expire: a page request with that cookie is signed out, and
// the stream must not keep sending new objects either.
func TestAttackStreamEndsWhenTheSessionExpires(t *testing.T) {
	env := newTestEnv(t, Options{})
	ann := env.authRecord("users", "ann@example.com")
	token, err := ann.NewStaticAuthToken(2 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	cookie := &http.Cookie{Name: CookieName, Value: token}
	newest := env.specStreamOf("/ui/events?view=gallery", cookie)
	newest.next(t)

	time.Sleep(3500 * time.Millisecond)
	if res := env.get("/ui/", cookie); res.status != http.StatusSeeOther {
		t.Fatalf("the token did not expire: status %d", res.status)
	}
	env.object("demo", "after-expiry.jpg", "image", 1, nil)

	select {
	case event := <-newest.events:
		t.Errorf("an expired session got a %q event: %s", event.name, clip(event.data))
	case <-newest.closed:
	case <-time.After(time.Second):
	}
}

// TestAttackSignedOutStreamIsRefused opens streams with no cookie, a
// forged token and a token of a deleted user.
func TestAttackSignedOutStreamIsRefused(t *testing.T) {
	env := newTestEnv(t, Options{})
	gone := env.authRecord("users", "gone@example.com")
	goneCookie := env.cookieFor(gone)
	if err := env.app.Delete(gone); err != nil {
		t.Fatal(err)
	}

	for name, cookie := range map[string]*http.Cookie{
		"no cookie":    nil,
		"forged":       {Name: CookieName, Value: "eyJhbGciOiJub25lIn0.eyJpZCI6IngifQ."},
		"deleted user": goneCookie,
	} {
		res := env.get("/ui/events?view=gallery", cookie)
		if res.status != http.StatusUnauthorized || res.body != "" {
			t.Errorf("%s: status %d, body %q", name, res.status, clip(res.body))
		}
	}
}

// noticeCount reads the count of a gallery notice; -1 when the fragment
// has no notice.
var noticeCount = regexp.MustCompile(`<div id="gallery-notice" hx-swap-oob="innerHTML">(?:<button[^>]*>(\d+) new objects? – show</button>)?</div>`)

// TestAttackThousandsOfEventsKeepTheCountAndNoGoroutines creates 2000
// objects and deletes 500 at about a thousand changes a second while
// three tabs watch: the "newest" tab gets every tile, the "key" tab's
// notice ends at exactly 1500 (unless the tab was told to resync, which
// re-fetches the grid), the video tab gets no tile or notice, and
// closing the tabs leaves no goroutine behind.
func TestAttackThousandsOfEventsKeepTheCountAndNoGoroutines(t *testing.T) {
	const created, deleted = 2000, 500
	env := newTestEnv(t, Options{})
	user := env.cookieFor(env.authRecord("users", "ann@example.com"))
	col, err := env.app.FindCollectionByNameOrId(objectsCollection)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	before := runtime.NumGoroutine()

	newest := env.specStreamOf("/ui/events?view=gallery", user)
	byKey := env.specStreamOf("/ui/events?view=gallery&sort=key", user)
	videos := env.specStreamOf("/ui/events?view=gallery&kind=video", user)
	var mu sync.Mutex
	tiles, videoEvents, count := 0, 0, -1
	resyncs := map[*specStream]int{}
	var wg sync.WaitGroup
	watch := func(s *specStream, on func(specEvent)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case event := <-s.events:
					mu.Lock()
					on(event)
					mu.Unlock()
				case <-s.closed:
					return
				}
			}
		}()
	}
	first := func(s *specStream, event specEvent) bool {
		if event.name == eventResync {
			resyncs[s]++
			return true
		}
		return false
	}
	watch(newest, func(e specEvent) {
		if !first(newest, e) && strings.Contains(e.data, `hx-swap-oob="afterbegin:#tiles"`) {
			tiles++
		}
	})
	watch(byKey, func(e specEvent) {
		if first(byKey, e) {
			return
		}
		if m := noticeCount.FindStringSubmatch(e.data); m != nil {
			count, _ = strconv.Atoi(m[1])
		}
	})
	// Deletes reach every tab as a removal of a tile it may not have;
	// anything else would be a tile or notice of a non-video.
	removal := regexp.MustCompile(`^<div id="obj-[a-z0-9]+" hx-swap-oob="delete"></div>$`)
	watch(videos, func(e specEvent) {
		if !first(videos, e) && !removal.MatchString(e.data) {
			videoEvents++
		}
	})

	start := time.Now()
	var records []*core.Record
	for i := range created {
		record := core.NewRecord(col)
		record.Set("bucket", "load")
		record.Set("key", "k"+strconv.Itoa(i))
		record.Set("kind", "image")
		record.Set("last_modified", time.Now())
		if err := env.app.Save(record); err != nil {
			t.Fatal(err)
		}
		records = append(records, record)

		// About a thousand changes a second: a busy bucket, not a flood
		// the broker is meant to shed.
		if i%50 == 49 {
			time.Sleep(30 * time.Millisecond)
		}
	}
	for _, record := range records[:deleted] {
		if err := env.app.Delete(record); err != nil {
			t.Fatal(err)
		}
	}

	want := created - deleted
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		done := (tiles == created || resyncs[newest] > 1) && (count == want || resyncs[byKey] > 1)
		mu.Unlock()
		if done || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("%d changes in %s", created+deleted, time.Since(start))
	// A tab that fell behind is told to resync and re-fetches; one that
	// was not told must have every change exactly.
	mu.Lock()
	t.Logf("resyncs: newest %d, key %d, video %d", resyncs[newest], resyncs[byKey], resyncs[videos])
	if resyncs[newest] == 1 && tiles != created {
		t.Errorf("newest tab: %d tiles, want %d", tiles, created)
	}
	if resyncs[byKey] == 1 && count != want {
		t.Errorf("key tab: notice count %d, want %d", count, want)
	}
	if videoEvents != 0 {
		t.Errorf("video tab: %d tiles or notices of images", videoEvents)
	}
	if resyncs[newest]+resyncs[byKey] > 3 {
		t.Errorf("paced changes still dropped %d times", resyncs[newest]+resyncs[byKey]-2)
	}
	mu.Unlock()

	for _, s := range []*specStream{newest, byKey, videos} {
		s.cancel()
	}
	wg.Wait()
	deadline = time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if after := runtime.NumGoroutine(); after > before+2 {
		t.Errorf("%d goroutines before the streams, %d after they closed", before, after)
	}
}

// TestAttackManyStreamsLeaveNoGoroutines opens and drops 200 streams,
// half of them mid-event, and expects the goroutine count back where it
// was.
func TestAttackManyStreamsLeaveNoGoroutines(t *testing.T) {
	env := newTestEnv(t, Options{})
	user := env.cookieFor(env.authRecord("users", "ann@example.com"))
	time.Sleep(200 * time.Millisecond)
	before := runtime.NumGoroutine()

	var streams []*specStream
	for i := range 200 {
		s := env.specStreamOf("/ui/events?view=gallery&sort=key&q=k"+strconv.Itoa(i%7), user)
		s.next(t)
		streams = append(streams, s)
	}
	for i, s := range streams {
		if i%2 == 0 {
			s.cancel()
		}
	}
	for i := range 20 {
		env.object("demo", "k"+strconv.Itoa(i), "image", 1, nil)
	}
	for _, s := range streams {
		s.cancel()
		<-s.closed
	}

	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if after := runtime.NumGoroutine(); after > before+2 {
		t.Errorf("%d goroutines before 200 streams, %d after they closed", before, after)
	}
}

// TestAttackRenameInsideTheSearchIsNotAnnounced renames an object the
// tab already shows to another key that still matches its search: the
// tile is replaced, and the notice must not count it as new.
func TestAttackRenameInsideTheSearchIsNotAnnounced(t *testing.T) {
	env := newTestEnv(t, Options{})
	shown := env.object("demo", "cat1.jpg", "image", 1, nil)
	user := env.cookieFor(env.authRecord("users", "ann@example.com"))
	if res := env.get("/ui/gallery?q=cat&sort=key", user); !strings.Contains(res.body, `id="obj-`+shown.Id+`"`) {
		t.Fatalf("the tile is not shown:\n%s", clip(res.body))
	}
	byKey := env.specStreamOf("/ui/events?view=gallery&q=cat&sort=key", user)
	byKey.next(t)

	shown.Set("key", "cat2.jpg")
	if err := env.app.Save(shown); err != nil {
		t.Fatal(err)
	}

	update := byKey.next(t)
	mustContain(t, update.data, `id="obj-`+shown.Id+`"`, `hx-swap-oob="true"`, "cat2.jpg")
	mustNotContain(t, update.data, "new object")
}

// TestAttackObjectEnteringTheRuleIsAnnounced moves an object from a
// bucket the user may not list into one they may: the tab did not show
// it, so it must be placed or counted, not sent as a swap of a tile the
// page does not have.
func TestAttackObjectEnteringTheRuleIsAnnounced(t *testing.T) {
	env := newTestEnv(t, Options{})
	env.hidePrivateBucket()
	user := env.cookieFor(env.authRecord("users", "ann@example.com"))
	byKey := env.specStreamOf("/ui/events?view=gallery&sort=key", user)
	byKey.next(t)
	moved := env.object("private", "moved.jpg", "image", 1, nil)
	byKey.none(t, 300*time.Millisecond)

	moved.Set("bucket", "public")
	if err := env.app.Save(moved); err != nil {
		t.Fatal(err)
	}

	mustContain(t, byKey.next(t).data, "1 new object – show")
}

// policyHeadersOf lists what a /ui answer lacks of the policy headers.
func policyHeadersOf(res response) []string {
	var missing []string
	for name, want := range map[string]string{
		"Content-Security-Policy": wantPolicy,
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "same-origin",
		"X-Frame-Options":         "DENY",
	} {
		if got := res.header.Get(name); got != want {
			missing = append(missing, name+"="+strconv.Quote(got))
		}
	}
	return missing
}

// uiPaths are pages, fragments, forms, unknown paths and static files.
var uiPaths = []string{
	"/ui/", "/ui/gallery", "/ui/gallery/tiles", "/ui/gallery/live", "/ui/no/such",
	"/ui/static/none.js", "/ui/static/vendor/README.md", "/ui/login", "/ui/logout",
	"/ui/events?view=bogus", "/ui/objects/nope/body", "/ui/docs/nope", "/ui/console/run",
}

// TestAttackEveryRoutedUIResponseCarriesThePolicy sends GET and HEAD to
// every kind of /ui path, and POST to the forms, signed in and out, as
// a page and as an HTMX request: each answer has the policy headers.
func TestAttackEveryRoutedUIResponseCarriesThePolicy(t *testing.T) {
	env := newTestEnv(t, Options{})
	user := env.cookieFor(env.authRecord("users", "ann@example.com"))

	type probe struct{ method, path string }
	var probes []probe
	for _, path := range uiPaths {
		probes = append(probes, probe{http.MethodGet, path}, probe{http.MethodHead, path})
	}
	for _, path := range []string{"/ui/login", "/ui/logout", "/ui/console/run", "/ui/console/export"} {
		probes = append(probes, probe{http.MethodPost, path})
	}

	for _, p := range probes {
		for _, cookie := range []*http.Cookie{nil, user} {
			for _, htmx := range []string{"", "true"} {
				res := env.do(p.method, p.path, cookie, nil, map[string]string{"HX-Request": htmx, "Origin": "http://evil.example"})
				if missing := policyHeadersOf(res); missing != nil {
					t.Errorf("%s %s (signed in %v, htmx %q): status %d, wrong %v", p.method, p.path, cookie != nil, htmx, res.status, missing)
				}
			}
		}
	}
}

// TestAttackUnroutedMethodsUnderUICarryThePolicy sends methods no /ui
// route takes: the answer is still under /ui and must carry the policy.
func TestAttackUnroutedMethodsUnderUICarryThePolicy(t *testing.T) {
	env := newTestEnv(t, Options{})
	user := env.cookieFor(env.authRecord("users", "ann@example.com"))

	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions} {
		for _, path := range []string{"/ui/", "/ui/gallery", "/ui/no/such", "/ui/static/app.js"} {
			res := env.do(method, path, user, nil, nil)
			if missing := policyHeadersOf(res); missing != nil {
				t.Errorf("%s %s: status %d, wrong %v, body %q", method, path, res.status, missing, clip(res.body))
			}
		}
	}
}
