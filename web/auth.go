package web

import (
	"cmp"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"github.com/pocketbase/pocketbase/core"

	"github.com/arrow-mino/arrow-mino/internal/allowlist"
)

// CookieName holds the PocketBase auth token of a signed-in browser.
const CookieName = "arrow_mino_auth"

// authTokenKey is where loadCookieAuth keeps the cookie's token on the
// request, so a stream can end when that token expires.
const authTokenKey = "webAuthToken"

// loginForm is what the sign-in page shows back after a failed attempt.
type loginForm struct {
	Email string
	Next  string
	Error string
}

// loadCookieAuth sets e.Auth from the auth cookie when no Authorization
// header already did, so PocketBase's rules see the browser's user.
func (s *server) loadCookieAuth(e *core.RequestEvent) error {
	if e.Auth != nil {
		return e.Next()
	}
	cookie, err := e.Request.Cookie(CookieName)
	if err != nil || cookie.Value == "" {
		return e.Next()
	}

	record, err := e.App.FindAuthRecordByToken(cookie.Value, core.TokenTypeAuth)
	if err != nil {
		// An expired or revoked token: forget it rather than fail.
		clearAuthCookie(e)
		return e.Next()
	}
	if record.IsSuperuser() && !superuserIPAllowed(e) {
		return s.errorPage(e, http.StatusForbidden, "Superusers may not sign in from this address.")
	}
	e.Auth = record
	e.Set(authTokenKey, cookie.Value)
	return e.Next()
}

// superuserIPAllowed applies PocketBase's superuser IP allow-list (an
// empty list allows every address). PocketBase's own middleware checks it
// before this interface's cookie is read, so the interface checks again.
func superuserIPAllowed(e *core.RequestEvent) bool {
	ip, err := netip.ParseAddr(e.RealIP())
	return err == nil && allowlist.SuperuserAllowed(e.App, ip)
}

// requireAuth sends signed-out browsers to the sign-in page; HTMX gets a
// client-side redirect header instead of a page in a fragment's place.
func (s *server) requireAuth(e *core.RequestEvent) error {
	if e.Auth != nil {
		return e.Next()
	}
	login := Prefix + "/login?next=" + url.QueryEscape(e.Request.URL.RequestURI())
	if isHTMX(e) {
		e.Response.Header().Set("HX-Redirect", login)
		return e.NoContent(http.StatusUnauthorized)
	}
	if e.Request.URL.Path == Prefix+"/events" {
		return e.NoContent(http.StatusUnauthorized)
	}
	return e.Redirect(http.StatusSeeOther, login)
}

// requireSuperuser keeps the SQL console to superusers: it reads every
// table, beyond any collection rule.
func (s *server) requireSuperuser(e *core.RequestEvent) error {
	if e.Auth == nil || !e.Auth.IsSuperuser() {
		return s.errorPage(e, http.StatusForbidden, "Only superusers may use the SQL console.")
	}
	return e.Next()
}

func (s *server) loginPage(e *core.RequestEvent) error {
	next := safeNext(e.Request.URL.Query().Get("next"))
	if e.Auth != nil {
		return e.Redirect(http.StatusSeeOther, next)
	}
	return s.page(e, http.StatusOK, "login", "login", loginForm{Next: next})
}

// loginSubmit checks email and password against the superusers first,
// then every auth collection that allows password sign-in.
func (s *server) loginSubmit(e *core.RequestEvent) error {
	if !sameOrigin(e) {
		return s.errorPage(e, http.StatusForbidden, "The sign-in form was sent from another site.")
	}
	email := strings.TrimSpace(e.Request.FormValue("email"))
	password := e.Request.FormValue("password")
	form := loginForm{Email: email, Next: safeNext(e.Request.FormValue("next"))}

	ip := e.RealIP()
	if !s.failures.allow(ip) {
		form.Error = "Too many failed attempts; wait a few minutes."
		return s.page(e, http.StatusTooManyRequests, "login", "login", form)
	}
	record := s.findByPassword(email, password)
	if record == nil {
		s.failures.add(ip)
		s.logger.Info("sign-in refused", "email", email, "ip", ip)
		form.Error = "Wrong email or password."
		return s.page(e, http.StatusUnauthorized, "login", "login", form)
	}

	if record.IsSuperuser() && !superuserIPAllowed(e) {
		s.logger.Info("superuser sign-in refused by the IP allow-list", "email", email, "ip", ip)
		form.Error = "Superusers may not sign in from this address."
		return s.page(e, http.StatusForbidden, "login", "login", form)
	}

	token, err := record.NewAuthToken()
	if err != nil {
		s.logger.Error("sign-in token not made", "email", email, "error", err)
		form.Error = "Signing in failed; try again."
		return s.page(e, http.StatusInternalServerError, "login", "login", form)
	}

	http.SetCookie(e.Response, &http.Cookie{
		Name:     CookieName,
		Value:    token,
		Path:     Prefix,
		MaxAge:   int(record.Collection().AuthToken.Duration),
		HttpOnly: true,
		Secure:   e.Request.TLS != nil,
		SameSite: http.SameSiteLaxMode,
	})
	s.logger.Info("signed in", "collection", record.Collection().Name, "email", email)
	return e.Redirect(http.StatusSeeOther, form.Next)
}

// findByPassword returns the auth record with this email and password,
// or nil. Every candidate collection is tried so that the form needs no
// collection picker.
func (s *server) findByPassword(email, password string) *core.Record {
	if email == "" || password == "" {
		return nil
	}
	collections, err := s.app.FindAllCollections(core.CollectionTypeAuth)
	if err != nil {
		s.logger.Error("auth collections not listed", "error", err)
		return nil
	}

	// Superusers first, so an address in both signs in with more rights
	// only when that password matches.
	rank := func(c *core.Collection) int {
		if c.Name == core.CollectionNameSuperusers {
			return 0
		}
		return 1
	}
	slices.SortStableFunc(collections, func(a, b *core.Collection) int { return cmp.Compare(rank(a), rank(b)) })
	for _, collection := range collections {
		// This form asks for no second factor, so accounts that need one
		// sign in through the dashboard instead.
		if !collection.PasswordAuth.Enabled || collection.MFA.Enabled {
			continue
		}
		record, err := s.app.FindAuthRecordByEmail(collection, email)
		if err != nil || !record.ValidatePassword(password) {
			continue
		}

		// The collection's auth rule (for example "verified = true")
		// applies here as in PocketBase's own password sign-in.
		ok, err := s.app.CanAccessRecord(record, requestInfoFor(record), collection.AuthRule)
		if err != nil || !ok {
			s.logger.Info("sign-in refused by auth rule", "collection", collection.Name, "email", email)
			continue
		}
		return record
	}
	return nil
}

func (s *server) logout(e *core.RequestEvent) error {
	if !sameOrigin(e) {
		return s.errorPage(e, http.StatusForbidden, "The sign-out form was sent from another site.")
	}
	clearAuthCookie(e)
	return e.Redirect(http.StatusSeeOther, Prefix+"/login")
}

func clearAuthCookie(e *core.RequestEvent) {
	http.SetCookie(e.Response, &http.Cookie{
		Name: CookieName, Value: "", Path: Prefix, MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
}

// safeNext keeps redirects after sign-in inside the interface, so the
// form cannot be used to bounce people to another site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, Prefix+"/") || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
		return Prefix + "/"
	}
	return next
}

// sameOrigin refuses form posts that a browser marks as coming from
// another origin. SameSite=Lax already keeps the cookie off cross-site
// posts; this also covers the sign-in form, which needs no cookie.
func sameOrigin(e *core.RequestEvent) bool {
	origin := e.Request.Header.Get("Origin")
	if origin == "" || origin == "null" {
		return origin == ""
	}
	parsed, err := url.Parse(origin)
	return err == nil && parsed.Host == e.Request.Host
}
