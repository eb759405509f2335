package web

import (
	"net/http"

	"github.com/pocketbase/pocketbase/core"
)

// routes lists every page, fragment and stream of the interface.
func (s *server) routes(se *core.ServeEvent) {
	root := se.Router.Group(Prefix)
	root.BindFunc(s.securityHeaders)
	root.BindFunc(s.loadCookieAuth)

	root.GET("/static/{path...}", serveStatic)
	root.GET("/login", s.loginPage)
	root.POST("/login", s.loginSubmit)
	root.POST("/logout", s.logout)

	signedIn := root.Group("")
	signedIn.BindFunc(s.requireAuth)
	signedIn.GET("/{$}", s.overviewPage)
	signedIn.GET("/buckets", s.bucketsFragment)
	signedIn.GET("/health", s.healthFragment)
	signedIn.GET("/gallery", s.galleryPage)
	signedIn.GET("/gallery/tiles", s.tilesFragment)
	signedIn.GET("/gallery/live", s.liveFragment)
	signedIn.GET("/objects/{id}", s.objectPage)
	signedIn.GET("/objects/{id}/body", s.objectFragment)
	signedIn.GET("/docs", s.docsPage)
	signedIn.GET("/docs/list", s.docsListFragment)
	signedIn.GET("/docs/{slug}", s.docPage)
	signedIn.GET("/docs/{slug}/body", s.docFragment)
	signedIn.GET("/events", s.events)

	superusers := signedIn.Group("/console")
	superusers.BindFunc(s.requireSuperuser)
	superusers.GET("", s.consolePage)
	superusers.POST("/run", s.consoleRun)
	superusers.POST("/export", s.consoleExport)

	// Unknown paths, and methods no route of a path takes, get the
	// interface's own page and headers rather than PocketBase's JSON
	// error: every answer under the prefix carries the policy.
	notFound := func(e *core.RequestEvent) error {
		return s.errorPage(e, http.StatusNotFound, "No such page.")
	}
	for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions} {
		root.Route(method, "/{path...}", notFound)
	}

	// The bare prefix is what people type.
	se.Router.GET(Prefix, func(e *core.RequestEvent) error {
		s.setSecurityHeaders(e.Response.Header())
		return e.Redirect(http.StatusSeeOther, Prefix+"/")
	})
}
