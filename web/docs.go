package web

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"

	"github.com/pocketbase/pocketbase/core"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
)

// markdown renders docs. It is goldmark without its unsafe option: raw
// HTML in a page becomes a comment and links with script URLs are
// dropped, so an editor cannot put script on a reader's screen.
var markdown = goldmark.New(goldmark.WithExtensions(extension.GFM))

// docView is one rendered docs page.
type docView struct {
	ID        string
	Title     string
	Slug      string
	HTML      template.HTML
	Updated   string
	Dashboard string
	Deleted   bool
}

// docsList is the data of the docs index.
type docsList struct {
	Docs  []*core.Record
	Error string
}

func (s *server) docsPage(e *core.RequestEvent) error {
	return s.page(e, http.StatusOK, "docs", "docs", s.loadDocs(e.Auth))
}

// docsListFragment re-renders the index after a change or reconnect.
func (s *server) docsListFragment(e *core.RequestEvent) error {
	return s.fragment(e, "docs-list", s.loadDocs(e.Auth))
}

func (s *server) loadDocs(auth *core.Record) docsList {
	collection, err := s.app.FindCachedCollectionByNameOrId(docsCollection)
	if err != nil {
		return docsList{Error: "There are no docs yet."}
	}
	query, ok, err := listQuery(s.app, collection, auth)
	if err != nil {
		s.logger.Error("docs query not built", "error", err)
		return docsList{Error: "The docs could not be read."}
	}
	if !ok {
		return docsList{Error: "You may not list docs."}
	}

	var docs []*core.Record
	if err := query.OrderBy(docsCollection + ".title ASC").Limit(1000).All(&docs); err != nil {
		s.logger.Error("docs not listed", "error", err)
		return docsList{Error: "The docs could not be read."}
	}
	return docsList{Docs: docs}
}

func (s *server) docPage(e *core.RequestEvent) error {
	doc, err := s.findDoc(e)
	if err != nil {
		return s.errorPage(e, http.StatusNotFound, "No such page, or you may not read it.")
	}
	return s.page(e, http.StatusOK, "doc", "docs", s.describeDoc(doc))
}

// docFragment re-renders a page's article after a reconnect.
func (s *server) docFragment(e *core.RequestEvent) error {
	doc, err := s.findDoc(e)
	if err != nil {
		return s.fragment(e, "doc-body", docView{Deleted: true})
	}
	return s.fragment(e, "doc-body", s.describeDoc(doc))
}

func (s *server) findDoc(e *core.RequestEvent) (*core.Record, error) {
	doc, err := s.app.FindFirstRecordByData(docsCollection, "slug", e.Request.PathValue("slug"))
	if err != nil {
		return nil, fmt.Errorf("find doc: %w", err)
	}
	if !canView(s.app, doc, e.Auth) {
		return nil, errNotVisible
	}
	return doc, nil
}

func (s *server) describeDoc(doc *core.Record) docView {
	view := docView{
		ID:        doc.Id,
		Title:     doc.GetString("title"),
		Slug:      doc.GetString("slug"),
		Updated:   formatWhen(doc.GetDateTime("updated")),
		Dashboard: dashboardRecordURL(docsCollection, doc.Id),
	}
	html, err := renderMarkdown(doc.GetString("body"))
	if err != nil {
		s.logger.Warn("doc not rendered", "slug", view.Slug, "error", err)
		html = "<p class=error>This page could not be rendered.</p>"
	}
	view.HTML = html
	return view
}

// renderMarkdown turns Markdown into HTML that is safe to show as is.
func renderMarkdown(source string) (template.HTML, error) {
	var out bytes.Buffer
	if err := markdown.Convert([]byte(source), &out); err != nil {
		return "", fmt.Errorf("render markdown: %w", err)
	}
	return template.HTML(out.String()), nil
}
