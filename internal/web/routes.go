package web

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// The app's own paths are listed once, in app.js's ROUTES, which its
// router uses. The server reads that list when it loads the assets, to
// serve the app shell for exactly those paths and to hand them to the
// service worker, a classic script that cannot import a module.
//
// Each entry is a line of its own that starts with an anchored regular
// expression literal: `[/^\/jobs$/, …`. The patterns use only what
// JavaScript and Go's RE2 read alike (escaped slashes, \d, groups,
// counted repeats).
var routeEntry = regexp.MustCompile(`^\s*\[(/\^.*?\$/),`)

// appRoutes is the app's route list, as JavaScript literals (for the
// service worker) and compiled for Go.
type appRoutes struct {
	literals []string
	patterns []*regexp.Regexp
}

func parseAppRoutes(appJS []byte) (appRoutes, error) {
	_, rest, ok := bytes.Cut(appJS, []byte("\nconst ROUTES = [\n"))
	if !ok {
		return appRoutes{}, errors.New("app.js: no `const ROUTES = [` list")
	}
	block, _, ok := bytes.Cut(rest, []byte("\n];"))
	if !ok {
		return appRoutes{}, errors.New("app.js: the ROUTES list does not end with `];` on a line of its own")
	}
	var r appRoutes
	for i, line := range strings.Split(string(block), "\n") {
		m := routeEntry.FindStringSubmatch(line)
		if m == nil {
			return appRoutes{}, fmt.Errorf("app.js: ROUTES line %d (%q) does not start with an anchored pattern such as [/^\\/jobs$/,", i+1, line)
		}
		// (?s): a decoded path may hold a newline, which JavaScript's
		// percent-encoded pathname never does.
		re, err := regexp.Compile("(?s)" + strings.Trim(m[1], "/"))
		if err != nil {
			return appRoutes{}, fmt.Errorf("app.js: ROUTES line %d: %w", i+1, err)
		}
		r.literals = append(r.literals, m[1])
		r.patterns = append(r.patterns, re)
	}
	if len(r.patterns) == 0 {
		return appRoutes{}, errors.New("app.js: ROUTES is empty")
	}
	return r, nil
}

// match reports whether the app's router owns path p.
func (r appRoutes) match(p string) bool {
	for _, re := range r.patterns {
		if re.MatchString(p) {
			return true
		}
	}
	return false
}

// serviceWorkerList is the list as sw.js's APP_PATHS takes it.
func (r appRoutes) serviceWorkerList() []byte {
	return []byte("[" + strings.Join(r.literals, ", ") + "]")
}
