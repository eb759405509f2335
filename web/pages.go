package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// sharedTemplates hold the layout and the fragments several pages and
// the event stream render.
var sharedTemplates = []string{"templates/layout.html", "templates/fragments.html"}

// pages are the parsed templates, one set per page so that each page can
// define its own "title" and "main" blocks.
type pages struct {
	byName map[string]*template.Template
}

// view is what every page template receives.
type view struct {
	User      *core.Record
	Superuser bool
	Active    string
	Data      any
}

func parsePages() (*pages, error) {
	base, err := template.New("base").Funcs(templateFuncs).ParseFS(templateFiles, sharedTemplates...)
	if err != nil {
		return nil, fmt.Errorf("parse shared templates: %w", err)
	}

	files, err := fs.Glob(templateFiles, "templates/page_*.html")
	if err != nil {
		return nil, fmt.Errorf("list page templates: %w", err)
	}

	p := &pages{byName: map[string]*template.Template{"fragments": base}}
	for _, file := range files {
		clone, err := base.Clone()
		if err != nil {
			return nil, fmt.Errorf("clone templates for %s: %w", file, err)
		}
		if _, err := clone.ParseFS(templateFiles, file); err != nil {
			return nil, fmt.Errorf("parse %s: %w", file, err)
		}
		name := strings.TrimSuffix(strings.TrimPrefix(path.Base(file), "page_"), ".html")
		p.byName[name] = clone
	}
	return p, nil
}

// execute renders one named template of one page set to text.
func (p *pages) execute(page, name string, data any) (string, error) {
	set, ok := p.byName[page]
	if !ok {
		return "", fmt.Errorf("no page %q", page)
	}
	var out bytes.Buffer
	if err := set.ExecuteTemplate(&out, name, data); err != nil {
		return "", fmt.Errorf("render %s/%s: %w", page, name, err)
	}
	return out.String(), nil
}

// page renders a whole page in the layout.
func (s *server) page(e *core.RequestEvent, status int, name, active string, data any) error {
	return s.write(e, status, name, "layout", s.view(e, active, data))
}

// fragment renders a named fragment, for HTMX swaps.
func (s *server) fragment(e *core.RequestEvent, name string, data any) error {
	return s.write(e, http.StatusOK, "fragments", name, data)
}

func (s *server) write(e *core.RequestEvent, status int, page, name string, data any) error {
	html, err := s.pages.execute(page, name, data)
	if err != nil {
		s.logger.Error("render failed", "page", page, "template", name, "error", err)
		return e.HTML(http.StatusInternalServerError, "<p class=error>This page could not be shown.</p>")
	}
	e.Response.Header().Set("Cache-Control", "no-store")
	s.setSecurityHeaders(e.Response.Header())
	return e.HTML(status, html)
}

func (s *server) view(e *core.RequestEvent, active string, data any) view {
	return view{User: e.Auth, Superuser: e.Auth != nil && e.Auth.IsSuperuser(), Active: active, Data: data}
}

// errorPage answers with a readable page, or a fragment when HTMX asked.
func (s *server) errorPage(e *core.RequestEvent, status int, message string) error {
	if isHTMX(e) {
		return s.write(e, status, "fragments", "error", message)
	}
	return s.page(e, status, "error", "", message)
}

func isHTMX(e *core.RequestEvent) bool {
	return e.Request.Header.Get("HX-Request") == "true"
}

// serveStatic serves the embedded stylesheet and vendored scripts.
func serveStatic(e *core.RequestEvent) error {
	sub, err := fs.Sub(staticFiles, "static")
	if err != nil {
		return fmt.Errorf("open embedded static files: %w", err)
	}
	e.Response.Header().Set("Cache-Control", "public, max-age=3600")
	return apis.Static(sub, false)(e)
}

var templateFuncs = template.FuncMap{
	"bytes":     humanBytes,
	"when":      formatWhen,
	"prefix":    func() string { return Prefix },
	"dashboard": dashboardRecordURL,
	"oobOf":     func(data any, swap string) oob { return oob{Data: data, Swap: swap} },
	"kindIcon":  kindIcon,
}

// kindIcon is the placeholder of a tile without a thumbnail.
func kindIcon(kind string) string {
	switch kind {
	case "image":
		return "▣"
	case "video":
		return "▶"
	case "audio":
		return "♪"
	case "document":
		return "¶"
	}
	return "•"
}

// humanBytes prints a size in binary units, as file managers do.
func humanBytes(value any) string {
	var n float64
	switch v := value.(type) {
	case int:
		n = float64(v)
	case int64:
		n = float64(v)
	case float64:
		n = v
	default:
		return fmt.Sprint(value)
	}
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"}
	unit := 0
	for n >= 1024 && unit < len(units)-1 {
		n /= 1024
		unit++
	}
	if unit == 0 {
		return fmt.Sprintf("%.0f B", n)
	}
	return fmt.Sprintf("%.1f %s", n, units[unit])
}

// formatWhen prints a PocketBase date in UTC, or "never".
func formatWhen(value any) string {
	var t time.Time
	switch v := value.(type) {
	case types.DateTime:
		t = v.Time()
	case time.Time:
		t = v
	default:
		return fmt.Sprint(value)
	}
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// dashboardRecordURL opens a record in PocketBase's dashboard.
func dashboardRecordURL(collection, id string) string {
	return "/_/#/collections?collection=" + collection + "&record=" + id
}
