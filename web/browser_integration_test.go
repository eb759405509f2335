package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"github.com/minio/minio-go/v7"

	"github.com/arrow-mino/arrow-mino/internal/teststack"
)

// screenshotDir is where the browser test leaves its screenshots, under
// the repository's git-ignored .test-artifacts/.
const screenshotDir = "../.test-artifacts/screenshots"

// chromiumPath finds Debian's Chromium. The test fails without it
// rather than skip: `make test` installs it, and a silent skip would
// hide that the interface went untested.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	t.Fatal("Chromium not found (looked for /usr/bin/chromium, chromium, chromium-browser): " +
		"install it with `apt-get update && apt-get install -y chromium` (make test does this)")
	return ""
}

// TestIntegrationBrowserMinIONATS drives a real headless Chromium against
// the real program (MinIO, embedded NATS, PocketBase): sign in, watch a
// gallery in two tabs with different filters and sorts while an upload
// arrives, open the object, edit a docs page live, and query and
// download in the SQL console. No page may break the
// Content-Security-Policy.
func TestIntegrationBrowserMinIONATS(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the browser test starts MinIO, arrow-mino and Chromium")
	}
	chromium := chromiumPath(t)
	if err := os.MkdirAll(screenshotDir, 0o755); err != nil {
		t.Fatal(err)
	}

	s := teststack.Start(t, "demo")
	s.Put("demo", "photos/first.png", testPNG(t, color.RGBA{40, 120, 200, 255}), minio.PutObjectOptions{ContentType: "image/png"})
	s.WaitConverged("demo", 30*time.Second)
	base := "http://" + s.HTTPAddr

	downloads := t.TempDir()
	options := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), options...)
	defer cancelAlloc()
	tab1, cancelTab1 := chromedp.NewContext(allocCtx)
	defer cancelTab1()
	tab1, cancelTimeout := context.WithTimeout(tab1, 3*time.Minute)
	defer cancelTimeout()
	console1 := watchConsole(tab1)

	// Sign in as the generated superuser.
	run(t, tab1, "sign in",
		chromedp.Navigate(base+"/ui/"),
		chromedp.WaitVisible(chromedp.CSS(`#email`)),
		chromedp.SendKeys(chromedp.CSS(`#email`), s.Secrets.SuperuserEmail),
		chromedp.SendKeys(chromedp.CSS(`#password`), s.Secrets.SuperuserPassword),
		screenshot("login.png"),
		chromedp.Click(chromedp.CSS(`.login button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#bucket-list .card`)),
		// The health panel polls: MinIO, NATS and Flight SQL all up, and
		// the first upload counted as an indexed event.
		chromedp.Func(func(ctx context.Context, target *chromedp.Target) error {
			_, err := chromedp.Poll[bool](`document.querySelectorAll('#health .service.ok').length === 3 &&
				document.querySelector('#health [data-field=last-event]').textContent.trim() !== 'none yet'`,
				chromedp.WithPollingTimeout(30*time.Second))(ctx, target)
			return err
		}),
		screenshot("overview.png"),
	)

	noViolations(t, "overview", console1)

	// Two tabs on the gallery; the second shares the first's cookie. The
	// first shows images, newest first, so a new image goes on top; the
	// second sorts by key, where the grid cannot place a live tile.
	tab2, cancelTab2 := chromedp.NewContext(tab1)
	defer cancelTab2()
	console2 := watchConsole(tab2)
	for i, view := range []struct {
		tab   context.Context
		query string
	}{{tab1, "?kind=image"}, {tab2, "?sort=key"}} {
		run(t, view.tab, fmt.Sprintf("open gallery%s in tab %d", view.query, i+1),
			chromedp.Navigate(base+"/ui/gallery"+view.query),
			chromedp.WaitVisible(chromedp.CSS(`#tiles a[title="photos/first.png"]`)),
		)
	}
	// Give both streams time to connect and resync before the upload.
	time.Sleep(1500 * time.Millisecond)

	s.Put("demo", "photos/live-upload.png", testPNG(t, color.RGBA{220, 90, 40, 255}), minio.PutObjectOptions{
		ContentType: "image/png", UserMetadata: map[string]string{"Camera-Note": "uploaded by the browser test"},
	})
	run(t, tab1, "live tile in tab 1",
		chromedp.WaitVisible(chromedp.CSS(`#tiles a[title="photos/live-upload.png"]`)),
		screenshot("gallery-tab1.png"),
	)
	run(t, tab2, "notice instead of a tile in tab 2",
		chromedp.WaitVisible(chromedp.CSS(`#gallery-notice button`)),
		screenshot("gallery-tab2-notice.png"),
	)
	notice, err := chromedp.Run(tab2, chromedp.Evaluate[string](`window.stayedOnPage = true;
		document.querySelector('#gallery-notice').textContent.trim() + '|' +
		document.querySelectorAll('#tiles a[title="photos/live-upload.png"]').length`))
	if err != nil {
		t.Fatalf("read notice: %v", err)
	}
	if notice != "1 new object – show|0" {
		t.Errorf("tab 2 shows %q, want the notice and no tile", notice)
	}

	// "Show" reloads the grid through HTMX, in key order, on the same page.
	run(t, tab2, "show new objects in tab 2",
		chromedp.Click(chromedp.CSS(`#gallery-notice button`)),
		chromedp.WaitVisible(chromedp.CSS(`#tiles a[title="photos/live-upload.png"]`)),
		screenshot("gallery-tab2.png"),
	)
	after, err := chromedp.Run(tab2, chromedp.Evaluate[string](`String(window.stayedOnPage) + '|' +
		document.querySelector('#gallery-notice').childElementCount + '|' +
		[...document.querySelectorAll('#tiles a.tile')].map(a => a.title).join(',')`))
	if err != nil {
		t.Fatalf("read grid: %v", err)
	}
	if after != "true|0|photos/first.png,photos/live-upload.png" {
		t.Errorf("after show, tab 2 is %q; want the same page, no notice, tiles in key order", after)
	}
	noViolations(t, "galleries", console1, console2)

	// The new object's page, with its presigned preview loaded.
	var previewWidth int
	run(t, tab1, "object detail",
		chromedp.Click(chromedp.CSS(`#tiles a[title="photos/live-upload.png"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#object-body h1.key`)),
		chromedp.Func(func(ctx context.Context, target *chromedp.Target) error {
			// The preview comes from MinIO through the presigned URL.
			width, err := chromedp.Poll[int](`document.querySelector('.preview img') && document.querySelector('.preview img').naturalWidth`,
				chromedp.WithPollingTimeout(20*time.Second))(ctx, target)
			previewWidth = width
			return err
		}),
		screenshot("object.png"),
	)
	if previewWidth != 320 {
		t.Errorf("preview is %d px wide, want 320", previewWidth)
	}
	noViolations(t, "object detail", console1)
	detailText, err := chromedp.Run(tab1, chromedp.Text(chromedp.CSS(`#object-body`)))
	if err != nil {
		t.Fatalf("detail text: %v", err)
	}
	for _, want := range []string{"photos/live-upload.png", "uploaded by the browser test", "image/png"} {
		if !strings.Contains(detailText, want) {
			t.Errorf("detail page lacks %q:\n%s", want, detailText)
		}
	}

	// A docs page edited through the REST API updates its open reader.
	token := superuserToken(t, base, s.Secrets.SuperuserEmail, s.Secrets.SuperuserPassword)
	docID := restJSON(t, http.MethodPost, base+"/api/collections/docs/records", token,
		map[string]any{"title": "Welcome", "slug": "welcome", "body": "# Welcome\n\nFirst *draft*.\n\n<script>alert(1)</script>"})["id"].(string)
	run(t, tab2, "doc page",
		chromedp.Navigate(base+"/ui/docs/welcome"),
		chromedp.WaitVisible(chromedp.CSS(`#doc-body em`)),
	)
	time.Sleep(time.Second)
	restJSON(t, http.MethodPatch, base+"/api/collections/docs/records/"+docID, token,
		map[string]any{"body": "# Welcome\n\nSecond version, edited **live**.\n\n| bucket | purpose |\n|---|---|\n| demo | examples |"})
	run(t, tab2, "doc live update",
		chromedp.WaitVisible(chromedp.CSS(`#doc-body table`)),
		screenshot("doc.png"),
	)
	noViolations(t, "doc page", console2)

	// The console: run a query, then download its CSV.
	run(t, tab1, "console query",
		chromedp.Navigate(base+"/ui/console"),
		chromedp.WaitVisible(chromedp.CSS(`#query`)),
		chromedp.SetValue(chromedp.CSS(`#query`), "SELECT bucket, key, size, kind FROM objects ORDER BY key"),
		chromedp.Click(chromedp.CSS(`#console-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#result table.result`)),
		screenshot("console.png"),
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
				Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads,
			})
			return err
		}),
		chromedp.Click(chromedp.CSS(`.downloads button[value=csv]`)),
	)
	csvPath := filepath.Join(downloads, "result.csv")
	s.Eventually(20*time.Second, "CSV downloaded", func() error {
		data, err := os.ReadFile(csvPath)
		if err != nil {
			return err
		}
		if !strings.Contains(string(data), "demo,photos/live-upload.png,") {
			return fmt.Errorf("csv lacks the upload:\n%s", data)
		}
		return nil
	})

	// Restart the program with an upload in between, while both tabs stay
	// open: the streams reconnect and resync, so the gallery shows the
	// object indexed by the restart's reconcile, and the overview's
	// counts follow.
	run(t, tab1, "gallery before restart",
		chromedp.Navigate(base+"/ui/gallery"),
		chromedp.WaitVisible(chromedp.CSS(`#tiles a[title="photos/first.png"]`)),
	)
	run(t, tab2, "overview before restart",
		chromedp.Navigate(base+"/ui/"),
		chromedp.WaitVisible(chromedp.CSS(`#bucket-list .card`)),
	)
	s.RestartApp(func() {
		// While arrow-mino is down the page says live updates paused.
		run(t, tab1, "reconnecting banner while down",
			chromedp.WaitVisible(chromedp.CSS(`.offline-banner`)),
		)
		s.Put("demo", "photos/while-down.png", testPNG(t, color.RGBA{60, 160, 80, 255}), minio.PutObjectOptions{ContentType: "image/png"})
	})
	run(t, tab1, "gallery caught up after reconnect",
		chromedp.WaitVisible(chromedp.CSS(`#tiles a[title="photos/while-down.png"]`)),
		chromedp.WaitNotVisible(chromedp.CSS(`.offline-banner`)),
		screenshot("gallery-after-restart.png"),
	)
	run(t, tab2, "overview counts after reconnect",
		chromedp.Func(func(ctx context.Context, target *chromedp.Target) error {
			_, err := chromedp.Poll[bool](`document.querySelector('#bucket-list [data-field=object_count]').textContent.trim() === '3'`,
				chromedp.WithPollingTimeout(30*time.Second))(ctx, target)
			return err
		}),
		screenshot("overview-after-restart.png"),
	)

	// Narrow screens: the gallery and overview on a phone-sized viewport.
	run(t, tab1, "phone layout",
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile),
		chromedp.Navigate(base+"/ui/gallery"),
		chromedp.WaitVisible(chromedp.CSS(`#tiles a[title="photos/live-upload.png"]`)),
		screenshot("gallery-phone.png"),
	)
	noViolations(t, "every page", console1, console2)

	// The check above proves something only if a violation would be seen:
	// an inline style, which the policy refuses, must show up.
	if _, err := chromedp.Run(tab1, chromedp.Evaluate[bool](
		`document.body.insertAdjacentHTML('beforeend', '<p style="color: red">inline</p>'), true`)); err != nil {
		t.Fatalf("inject inline style: %v", err)
	}
	s.Eventually(10*time.Second, "deliberate violation reported", func() error {
		if len(console1.violations()) == 0 {
			return fmt.Errorf("the console shows no violation for an inline style")
		}
		return nil
	})
}

// consoleWatch gathers what one tab writes to its console, so steps can
// check that the Content-Security-Policy blocked nothing.
type consoleWatch struct {
	mu       sync.Mutex
	messages []chromedp.ConsoleMessage
	checked  int
}

// watchConsole subscribes to a tab's console before its first page.
func watchConsole(tab context.Context) *consoleWatch {
	w := &consoleWatch{}
	messages := chromedp.Console(tab)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			w.mu.Lock()
			w.messages = append(w.messages, m)
			w.mu.Unlock()
		}
	}()
	return w
}

// violations are the console messages about the policy that arrived
// since the last call.
func (w *consoleWatch) violations() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var found []string
	for _, m := range w.messages[w.checked:] {
		if strings.Contains(m.Text, "Content Security Policy") || strings.Contains(m.Text, "Content-Security-Policy") {
			found = append(found, m.String())
		}
	}
	w.checked = len(w.messages)
	return found
}

// noViolations fails the test for any policy violation a tab reported.
func noViolations(t *testing.T, step string, watches ...*consoleWatch) {
	t.Helper()
	for i, w := range watches {
		for _, v := range w.violations() {
			t.Errorf("%s: console %d: %s", step, i+1, v)
		}
	}
}

func run(t *testing.T, ctx context.Context, step string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", step, err)
	}
}

// screenshot saves the whole page under screenshotDir.
func screenshot(name string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, target *chromedp.Target) error {
		data, err := chromedp.FullScreenshot(100)(ctx, target)
		if err != nil {
			return fmt.Errorf("screenshot %s: %w", name, err)
		}
		return os.WriteFile(filepath.Join(screenshotDir, name), data, 0o644)
	})
}

// testPNG is a small picture with a band, so previews are recognisable.
func testPNG(t *testing.T, fill color.RGBA) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 320, 200))
	for y := range 200 {
		for x := range 320 {
			c := fill
			if y > 80 && y < 120 {
				c = color.RGBA{255, 255, 255, 255}
			}
			img.Set(x, y, c)
		}
	}
	var out bytes.Buffer
	if err := png.Encode(&out, img); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// superuserToken signs in to PocketBase's REST API.
func superuserToken(t *testing.T, base, email, password string) string {
	t.Helper()
	body := restJSON(t, http.MethodPost, base+"/api/collections/_superusers/auth-with-password", "",
		map[string]any{"identity": email, "password": password})
	token, _ := body["token"].(string)
	if token == "" {
		t.Fatalf("no token in %v", body)
	}
	return token
}

func restJSON(t *testing.T, method, url, token string, payload map[string]any) map[string]any {
	t.Helper()
	data, _ := json.Marshal(payload)
	req, err := http.NewRequest(method, url, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil || res.StatusCode >= 300 {
		t.Fatalf("%s %s: status %d, %v, %v", method, url, res.StatusCode, body, err)
	}
	return body
}
