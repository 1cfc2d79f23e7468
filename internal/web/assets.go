package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"
)

// static holds the app's files, served under /s/<version>/; root holds the
// two files that must live at the origin's root: the service worker (its
// scope is its directory) and the manifest.
//
//go:embed static root
var files embed.FS

// asset is one file, ready to serve.
type asset struct {
	body        []byte
	etag        string
	contentType string
}

type assets struct {
	// version is a hash of every static file: asset URLs carry it, so a
	// changed file gets a new URL and old URLs can be cached for good.
	version  string
	static   map[string]*asset
	names    []string
	sw       *asset
	manifest *asset
	// routes are the app's own paths, read from app.js (see routes.go).
	routes appRoutes
}

var contentTypes = map[string]string{
	".js":          "text/javascript; charset=utf-8",
	".css":         "text/css; charset=utf-8",
	".svg":         "image/svg+xml",
	".png":         "image/png",
	".webmanifest": "application/manifest+json",
}

func newAsset(name string, body []byte) *asset {
	sum := sha256.Sum256(body)
	ct, ok := contentTypes[path.Ext(name)]
	if !ok {
		panic("web: no content type for " + name)
	}
	return &asset{body: body, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, contentType: ct}
}

func mustLoadAssets() *assets {
	a, err := loadAssets(files)
	if err != nil {
		panic("web: embedded files: " + err.Error())
	}
	return a
}

func loadAssets(fsys fs.FS) (*assets, error) {
	a := &assets{static: map[string]*asset{}}
	all := sha256.New()
	err := fs.WalkDir(fsys, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(p, "static/")
		a.static[name] = newAsset(name, body)
		a.names = append(a.names, name)
		fmt.Fprintf(all, "%s\x00%d\x00", name, len(body))
		all.Write(body)
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(a.names)
	a.version = hex.EncodeToString(all.Sum(nil)[:6])

	// The service worker precaches every asset of this version; its bytes
	// change with the version, which is what makes browsers update it.
	list := make([]string, 0, len(a.names))
	for _, n := range a.names {
		list = append(list, a.url(n))
	}
	listJSON, _ := json.Marshal(list)
	app, ok := a.static["app.js"]
	if !ok {
		return nil, errors.New("static/app.js is missing")
	}
	if a.routes, err = parseAppRoutes(app.body); err != nil {
		return nil, err
	}
	sw, err := fs.ReadFile(fsys, "root/sw.js")
	if err != nil {
		return nil, err
	}
	sw = bytes.ReplaceAll(sw, []byte(`"__VERSION__"`), []byte(`"`+a.version+`"`))
	sw = bytes.ReplaceAll(sw, []byte(`["__ASSETS__"]`), listJSON)
	sw = bytes.ReplaceAll(sw, []byte(`[/__APP_PATHS__/]`), a.routes.serviceWorkerList())
	a.sw = newAsset("sw.js", sw)

	manifest, err := fs.ReadFile(fsys, "root/manifest.webmanifest")
	if err != nil {
		return nil, err
	}
	manifest = bytes.ReplaceAll(manifest, []byte("/s/__VERSION__/"), []byte("/s/"+a.version+"/"))
	a.manifest = newAsset("manifest.webmanifest", manifest)
	return a, nil
}

// url is where a static file of this version is served.
func (a *assets) url(name string) string { return "/s/" + a.version + "/" + name }

// serveStatic serves /s/<version>/<name>, reporting false when there is no
// such file. A request for another version (an old shell still open) gets
// today's file, but is not allowed to cache it under the old URL for good.
func (a *assets) serveStatic(w http.ResponseWriter, r *http.Request) bool {
	rest := strings.TrimPrefix(r.URL.Path, "/s/")
	version, name, ok := strings.Cut(rest, "/")
	f := a.static[name]
	if !ok || f == nil || version == "" {
		return false
	}
	h := w.Header()
	if version == a.version {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	a.serve(w, r, f)
	return true
}

// serveRoot serves the service worker or the manifest: their URLs never
// change, so browsers revalidate them (by ETag) on each check.
func (a *assets) serveRoot(w http.ResponseWriter, r *http.Request, f *asset) {
	w.Header().Set("Cache-Control", "no-cache")
	a.serve(w, r, f)
}

func (a *assets) serve(w http.ResponseWriter, r *http.Request, f *asset) {
	h := w.Header()
	h.Set("Content-Type", f.contentType)
	h.Set("ETag", f.etag)
	h.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}
