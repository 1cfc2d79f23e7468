// Package web serves the phone app and the pairing page.
// Placeholder surface used by the server while the package is built.
package web

import (
	"log/slog"
	"net/http"

	"github.com/observable-code/observable/internal/store"
)

// Options configure the site.
type Options struct {
	Store     store.Store
	PublicURL string
	Logger    *slog.Logger
}

// Site is the phone app.
type Site struct{ opts Options }

// New builds the site.
func New(opts Options) *Site { return &Site{opts: opts} }

// App serves GET / and the app's files.
func (s *Site) App() http.Handler { return http.NotFoundHandler() }

// PairPage serves GET /pair/{code}.
func (s *Site) PairPage() http.Handler { return http.NotFoundHandler() }
