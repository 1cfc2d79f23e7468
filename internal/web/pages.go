package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"log/slog"
	"net/http"
	"strconv"
)

//go:embed templates
var templateFiles embed.FS

// pages are the server-rendered HTML documents.
type pages struct {
	tmpl *template.Template
	// shell is the app's one HTML document, the same for every app path.
	shell     string
	shellETag string
}

// messagePage is a page that explains something and offers one way on.
type messagePage struct {
	Title, Heading string
	Lines          []string
	// Command is a shell command the reader should run, shown as code.
	Command        string
	Link, LinkText string
}

func mustLoadPages(a *assets) *pages {
	funcs := template.FuncMap{"asset": a.url}
	tmpl, err := template.New("").Funcs(funcs).ParseFS(templateFiles, "templates/*.html")
	if err != nil {
		panic("web: templates: " + err.Error())
	}
	var buf bytes.Buffer
	if err := tmpl.ExecuteTemplate(&buf, "index.html", nil); err != nil {
		panic("web: shell: " + err.Error())
	}
	sum := sha256.Sum256(buf.Bytes())
	return &pages{tmpl: tmpl, shell: buf.String(), shellETag: `"` + hex.EncodeToString(sum[:8]) + `"`}
}

// render writes a page that is never cached: pairing pages describe a
// one-time code whose state changes.
func (p *pages) render(w http.ResponseWriter, status int, name string, data any, log *slog.Logger) {
	var buf bytes.Buffer
	if err := p.tmpl.ExecuteTemplate(&buf, name, data); err != nil {
		log.Error("render page", "page", name, "err", err)
		htmlHeaders(w.Header())
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte("<!doctype html><title>Error</title><p>The server could not show this page; it has been logged."))
		return
	}
	h := w.Header()
	htmlHeaders(h)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Robots-Tag", "noindex, nofollow")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}
