package migrations

import (
	"github.com/pocketbase/pocketbase/core"
	m "github.com/pocketbase/pocketbase/migrations"
)

// DocsCollection holds the pages the web interface renders from
// Markdown; they are edited in PocketBase's dashboard.
const DocsCollection = "docs"

// docsBodyMax bounds one page's Markdown source.
const docsBodyMax = 200_000

func init() {
	m.Register(createDocs, dropDocs)
}

func createDocs(app core.App) error {
	docs := core.NewBaseCollection(DocsCollection)
	docs.ListRule = signedInOnly
	docs.ViewRule = signedInOnly
	docs.Fields.Add(
		&core.TextField{Name: "title", Required: true, Max: 200, Presentable: true},
		&core.TextField{Name: "slug", Required: true, Max: 100, Pattern: `^[a-z0-9]+(?:-[a-z0-9]+)*$`,
			Help: "The page's address under /ui/docs/: lower-case words joined by dashes."},
		// Plain text, not the editor field: the body is Markdown source,
		// and the rich-text editor would store HTML instead.
		&core.TextField{Name: "body", Max: docsBodyMax, Help: "Markdown. Raw HTML is not rendered."},
		&core.AutodateField{Name: "created", OnCreate: true},
		&core.AutodateField{Name: "updated", OnCreate: true, OnUpdate: true},
	)
	docs.AddIndex("idx_docs_slug", true, "slug", "")
	return app.Save(docs)
}

func dropDocs(app core.App) error {
	docs, err := app.FindCollectionByNameOrId(DocsCollection)
	if err != nil {
		return nil
	}
	return app.Delete(docs)
}
