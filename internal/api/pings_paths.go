package api

// The paths of Healthchecks' ping routes, read as Django's converters read
// them (hc/api/urls.py), and the methods they are served by.

import (
	"net/http"
	"strings"
)

// isPathUUID is Django's uuid converter, which Healthchecks' /ping/<uuid>
// routes use: lowercase and dashed only. An uppercase UUID matches none of
// those routes there (it is 404 `not found`), so it is none here either.
func isPathUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f':
		default:
			return false
		}
	}
	return true
}

// parseRunID reads ?rid=, which Healthchecks parses with Python's UUID():
// either case, so that macOS's uuidgen (uppercase) pairs a start with its
// end as Linux's does. The lowercase form is kept, as UUID() gives it.
func parseRunID(s string) (string, bool) {
	lower := strings.ToLower(s)
	return lower, isPathUUID(lower)
}

// isSlug is Django's slug converter: [-a-zA-Z0-9_]+.
func isSlug(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c == '-' || c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// slugify is Django's slugify for ASCII names: lowercase, characters other
// than letters, digits, _, - and spaces dropped, runs of spaces and dashes
// made one dash, dashes and underscores trimmed from the ends.
func slugify(name string) string {
	var b strings.Builder
	dash := false
	for _, c := range strings.ToLower(name) {
		switch {
		case c == ' ' || c == '-' || c == '\t' || c == '\n':
			dash = true
		case c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z':
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(c)
		}
	}
	return strings.Trim(b.String(), "-_")
}

// pingMethods answers a ping URL that no ping route takes: another method
// is 405 with the methods a ping is served by (the catch-all web route
// would otherwise answer, naming only its own GET and HEAD), and a path no
// route matches (/ping/) is `not found`.
func (s *Server) pingMethods(w http.ResponseWriter, r *http.Request) error {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost:
		return pingText(w, http.StatusNotFound, "not found")
	}
	w.Header().Set("Allow", "GET, HEAD, POST")
	return pingText(w, http.StatusMethodNotAllowed, "method not allowed")
}
