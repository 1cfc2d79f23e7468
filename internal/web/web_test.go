package web

import (
	"context"
	"encoding/json"
	"github.com/observable-code/observable/internal/api"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/observable-code/observable/internal/store"
	"github.com/observable-code/observable/internal/store/sqlstore"
)

// fixture is a site on a real SQLite store, with a clock the test moves.
type fixture struct {
	t     *testing.T
	store store.Store
	site  *Site
	now   time.Time
	mux   *http.ServeMux
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db, err := sqlstore.OpenSQLite(context.Background(), t.TempDir()+"/x.db", sqlstore.SQLiteOptions{})
	if err != nil {
		t.Fatalf("open SQLite: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	f := &fixture{t: t, store: db, now: time.Date(2026, 5, 12, 14, 3, 0, 0, time.UTC)}
	f.build("http://192.168.1.20:3000")
	return f
}

// build makes the site and routes it as main.go and the API do.
func (f *fixture) build(publicURL string) {
	// The API's table, as the instance wires it: the page and the API
	// answer a code alike.
	f.site = New(Options{Store: f.store, PublicURL: publicURL, Now: func() time.Time { return f.now },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Status: api.StatusOf})
	f.mux = http.NewServeMux()
	f.mux.Handle("GET /pair/{code}", f.site.PairPage())
	f.mux.Handle("/", f.site.App())
}

// get serves one request; edit may change it first (headers, TLS).
func (f *fixture) get(method, path string, edit func(*http.Request)) *httptest.ResponseRecorder {
	f.t.Helper()
	req := httptest.NewRequest(method, path, nil)
	req.Host = "192.168.1.20:3000"
	if edit != nil {
		edit(req)
	}
	rec := httptest.NewRecorder()
	f.mux.ServeHTTP(rec, req)
	return rec
}

func TestShellIsServedForTheAppsPaths(t *testing.T) {
	f := newFixture(t)
	for _, path := range []string{"/", "/jobs", "/jobs/nightly_sync", "/jobs/etl%2Fnightly", "/jobs/a%20b", "/runs/12", "/settings"} {
		t.Run(path, func(t *testing.T) {
			rec := f.get("GET", path, nil)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d, want 200", rec.Code)
			}
			checkHTMLHeaders(t, rec)
			if cc := rec.Header().Get("Cache-Control"); cc != "no-cache" {
				t.Errorf("Cache-Control %q, want no-cache (the shell names the current assets)", cc)
			}
			if !strings.Contains(rec.Body.String(), `<div id="view"`) || rec.Header().Get("ETag") == "" {
				t.Errorf("not the app shell, or no ETag")
			}
		})
	}
}

func TestEverythingElseIsNotFound(t *testing.T) {
	f := newFixture(t)
	for _, path := range []string{"/nope", "/index.html", "/runs/", "/runs/abc", "/runs/12x", "/runs/99999999999999999999", "/jobs/",
		"/settings/x", "/s/", "/s/" + f.site.Version() + "/", "/s/" + f.site.Version() + "/nope.js",
		"/static/app.js", "/favicon.ico", "/sw.js/x"} {
		t.Run(path, func(t *testing.T) {
			rec := f.get("GET", path, nil)
			if rec.Code != http.StatusNotFound {
				t.Fatalf("status %d, want 404", rec.Code)
			}
			checkHTMLHeaders(t, rec)
			if !strings.Contains(rec.Body.String(), "There is nothing here") {
				t.Errorf("404 page body: %s", rec.Body)
			}
		})
	}
}

// Other methods never get here: the API answers them with its 405
// (api TestOps, "POST /").
func TestHeadIsGetWithoutBody(t *testing.T) {
	f := newFixture(t)
	head := f.get("HEAD", "/jobs", nil)
	if head.Code != http.StatusOK || head.Body.Len() != 0 || head.Header().Get("Content-Length") == "" {
		t.Errorf("HEAD /jobs: status %d, %d body bytes, Content-Length %q", head.Code, head.Body.Len(), head.Header().Get("Content-Length"))
	}
}

func TestShellRevalidatesByETag(t *testing.T) {
	f := newFixture(t)
	etag := f.get("GET", "/", nil).Header().Get("ETag")
	rec := f.get("GET", "/settings", func(r *http.Request) { r.Header.Set("If-None-Match", etag) })
	if rec.Code != http.StatusNotModified {
		t.Errorf("If-None-Match %s: status %d, want 304", etag, rec.Code)
	}
}

var assetRef = regexp.MustCompile(`(?:href|src)="(/s/[^"]+)"`)

func TestAssetsAreCachedForGoodUnderTheirVersion(t *testing.T) {
	f := newFixture(t)
	refs := assetRef.FindAllStringSubmatch(f.get("GET", "/", nil).Body.String(), -1)
	if len(refs) < 10 {
		t.Fatalf("the shell references %d assets", len(refs))
	}
	types := map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png"}
	for _, m := range refs {
		path := m[1]
		rec := f.get("GET", path, nil)
		if rec.Code != http.StatusOK {
			t.Errorf("%s: status %d", path, rec.Code)
			continue
		}
		ext := path[strings.LastIndex(path, "."):]
		if got := rec.Header().Get("Content-Type"); got != types[ext] {
			t.Errorf("%s: Content-Type %q, want %q", path, got, types[ext])
		}
		if cc := rec.Header().Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
			t.Errorf("%s: Cache-Control %q", path, cc)
		}
		etag := rec.Header().Get("ETag")
		if again := f.get("GET", path, func(r *http.Request) { r.Header.Set("If-None-Match", etag) }); etag == "" || again.Code != http.StatusNotModified {
			t.Errorf("%s: ETag %q, revalidation status %d", path, etag, again.Code)
		}
	}
	// An old shell asking for its old version gets today's file, not to be
	// cached for good under the old URL.
	old := f.get("GET", "/s/0ld0ld0ld00/app.css", nil)
	if old.Code != http.StatusOK || old.Header().Get("Cache-Control") != "no-cache" {
		t.Errorf("old version: status %d, Cache-Control %q; want 200 and no-cache", old.Code, old.Header().Get("Cache-Control"))
	}
}

func TestServiceWorkerAndManifest(t *testing.T) {
	f := newFixture(t)
	sw := f.get("GET", "/sw.js", nil)
	body := sw.Body.String()
	if sw.Code != http.StatusOK || sw.Header().Get("Content-Type") != "text/javascript; charset=utf-8" || sw.Header().Get("Cache-Control") != "no-cache" {
		t.Fatalf("/sw.js: status %d, %q, %q", sw.Code, sw.Header().Get("Content-Type"), sw.Header().Get("Cache-Control"))
	}
	if strings.Contains(body, "__VERSION__") || strings.Contains(body, "__ASSETS__") || !strings.Contains(body, `"`+f.site.Version()+`"`) {
		t.Errorf("/sw.js still has placeholders or lacks the version")
	}
	var list []string
	start := strings.Index(body, "const ASSETS = ") + len("const ASSETS = ")
	if err := json.Unmarshal([]byte(body[start:start+strings.Index(body[start:], ";")]), &list); err != nil || len(list) < 10 {
		t.Fatalf("precache list: %v, %d entries", err, len(list))
	}
	for _, path := range list {
		if rec := f.get("GET", path, nil); rec.Code != http.StatusOK {
			t.Errorf("precached %s: status %d", path, rec.Code)
		}
	}

	mf := f.get("GET", "/manifest.webmanifest", nil)
	var manifest struct {
		Name, StartURL, Display string
		Icons                   []struct{ Src, Sizes, Purpose string }
	}
	if mf.Header().Get("Content-Type") != "application/manifest+json" {
		t.Errorf("manifest Content-Type %q", mf.Header().Get("Content-Type"))
	}
	if err := json.Unmarshal(mf.Body.Bytes(), &manifest); err != nil || manifest.Display != "standalone" || len(manifest.Icons) < 3 {
		t.Fatalf("manifest: %v, %+v", err, manifest)
	}
	for _, icon := range manifest.Icons {
		if rec := f.get("GET", icon.Src, nil); rec.Code != http.StatusOK {
			t.Errorf("manifest icon %s: status %d", icon.Src, rec.Code)
		}
	}
}

// checkHTMLHeaders holds every HTML answer to the same rules: a CSP that
// allows no inline script or style, and no framing.
func checkHTMLHeaders(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	h := rec.Header()
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "object-src 'none'", "require-trusted-types-for 'script'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %s", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-") {
		t.Errorf("CSP allows unsafe sources: %q", csp)
	}
	for k, want := range map[string]string{
		"Content-Type": "text/html; charset=utf-8", "X-Content-Type-Options": "nosniff",
		"X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
}
