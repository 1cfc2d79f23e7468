// Package web serves the phone app (a PWA: an HTML shell, ES modules, a
// service worker and a manifest, all embedded in the binary) and the
// server-rendered pairing page.
package web

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/observable-code/observable/internal/domain"
)

// Store is what the pairing page reads: a pairing (never consumed: the
// API's claim does that) and the session it belongs to.
type Store interface {
	Pairing(ctx context.Context, codeHash []byte) (domain.Pairing, error)
	Session(ctx context.Context, id int64) (domain.Session, error)
}

// Options configure the site.
type Options struct {
	Store Store
	// PublicURL is the server's configured public address; the pairing page
	// names it and treats it as secure when it is https behind a proxy.
	PublicURL string
	Logger    *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Status maps an error code to its HTTP status (api.StatusOf: the one
	// table); nil answers every unavailability with 503.
	Status func(code string) int
}

// Site is the phone app.
type Site struct {
	opts   Options
	log    *slog.Logger
	now    func() time.Time
	assets *assets
	pages  *pages
}

// New builds the site. Its files are embedded, so it cannot fail at run
// time; a broken embed panics here, at start, where tests see it.
func New(opts Options) *Site {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	a := mustLoadAssets()
	return &Site{opts: opts, log: opts.Logger, now: opts.Now, assets: a, pages: mustLoadPages(a)}
}

// Version identifies this build of the app's files; asset URLs carry it.
func (s *Site) Version() string { return s.assets.version }

// App serves the app shell for the app's own paths, its static files, the
// service worker and the manifest; everything else is a 404.
func (s *Site) App() http.Handler {
	// Only GET and HEAD get here: the API's route answers other methods
	// with its 405 (api/ops.go).
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case s.assets.routes.match(p): // app.js's ROUTES: see routes.go
			s.serveShell(w, r)
		case p == "/sw.js":
			s.assets.serveRoot(w, r, s.assets.sw)
		case p == "/manifest.webmanifest":
			s.assets.serveRoot(w, r, s.assets.manifest)
		case strings.HasPrefix(p, "/s/"):
			if !s.assets.serveStatic(w, r) {
				s.notFound(w, r)
			}
		default:
			s.notFound(w, r)
		}
	})
}

// csp forbids inline script and style, so event data that slipped into
// markup could neither run nor restyle the page; Trusted Types make the
// browser refuse HTML string sinks (innerHTML) outright. The one policy,
// "sw", vets the service worker's URL.
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; worker-src 'self'; manifest-src 'self'; object-src 'none'; " +
	"frame-ancestors 'none'; base-uri 'none'; form-action 'self'; " +
	"require-trusted-types-for 'script'; trusted-types sw"

// htmlHeaders are the headers of every HTML answer.
func htmlHeaders(h http.Header) {
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	// Pairing URLs hold codes: never leak one in a Referer.
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	// The camera only for this origin's own page: the not-paired screen
	// scans a pairing QR code with it.
	h.Set("Permissions-Policy", "camera=(self), microphone=(), geolocation=(), payment=()")
}

func (s *Site) serveShell(w http.ResponseWriter, r *http.Request) {
	htmlHeaders(w.Header())
	// The shell names the current asset version, so it is revalidated on
	// every load (cheaply, by ETag) while the assets are cached for good.
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("ETag", s.pages.shellETag)
	http.ServeContent(w, r, "", time.Time{}, strings.NewReader(s.pages.shell))
}

func (s *Site) notFound(w http.ResponseWriter, r *http.Request) {
	s.pages.render(w, http.StatusNotFound, "message", messagePage{
		Title:   "Page not found",
		Heading: "There is nothing here",
		Lines:   []string{"This address is not part of Observable Code."},
		Link:    "/", LinkText: "Open the app",
	}, s.log)
}
