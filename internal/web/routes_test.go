package web

import (
	"encoding/json"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// routesPaths are paths whose ownership the app, the service worker and
// the server must agree on.
var routesPaths = []string{"/", "/jobs", "/jobs/nightly_sync", "/jobs/etl%2Fnightly", "/runs/12", "/runs/1234567890123456789",
	"/settings", "/nope", "/runs/", "/runs/abc", "/runs/12x", "/runs/12345678901234567890", "/jobs/", "/settings/x", "/s/app.js", "/jobsx"}

// The service worker gets the app's route list from the server, the very
// patterns app.js routes by: no second copy to drift.
func TestServiceWorkerGetsTheAppsRoutes(t *testing.T) {
	f := newFixture(t)
	sw := f.get("GET", "/sw.js", nil).Body.String()
	if strings.Contains(sw, "__APP_PATHS__") {
		t.Fatal("sw.js still holds the APP_PATHS placeholder")
	}
	want := "const APP_PATHS = " + string(f.site.assets.routes.serviceWorkerList()) + ";"
	if !strings.Contains(sw, want) || len(f.site.assets.routes.literals) < 5 {
		t.Fatalf("sw.js lacks %q", want)
	}
	app := f.site.assets.static["app.js"].body
	for _, lit := range f.site.assets.routes.literals {
		if !strings.Contains(string(app), "  ["+lit+", ") {
			t.Errorf("%s is not one of app.js's ROUTES", lit)
		}
	}
}

// Go's reading of the patterns must agree with JavaScript's, path by path.
func TestAppRoutesMatchAlikeInGoAndJavaScript(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the Go side is checked by TestShellIsServedForTheAppsPaths alone")
	}
	r := newFixture(t).site.assets.routes
	paths, _ := json.Marshal(routesPaths)
	script := "const res = " + string(r.serviceWorkerList()) + "; const paths = " + string(paths) +
		"; console.log(JSON.stringify(paths.map((p) => res.some((re) => re.test(p)))));"
	out, err := exec.Command(node, "-e", script).Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	var js []bool
	if err := json.Unmarshal(out, &js); err != nil || len(js) != len(routesPaths) {
		t.Fatalf("node answered %q (%v)", out, err)
	}
	for i, p := range routesPaths {
		if js[i] != r.match(p) {
			t.Errorf("%s: JavaScript says %v, Go says %v", p, js[i], r.match(p))
		}
	}
}

func TestAppRoutesRefuseWhatTheyCannotRead(t *testing.T) {
	for name, src := range map[string]string{
		"no list":    "const X = [];\n",
		"unanchored": "\nconst ROUTES = [\n  [/\\/jobs/, 'jobs', 'Jobs', jobsView],\n];\n",
		"not a line": "\nconst ROUTES = [\n  [/^\\/$/, 'feed', 'Feed', feedView], [/^\\/x$/, 'x', 'X', x],\n  jobs,\n];\n",
		"no end":     "\nconst ROUTES = [\n  [/^\\/$/, 'feed', 'Feed', feedView],\n",
		"not RE2":    "\nconst ROUTES = [\n  [/^\\/(?=x)$/, 'feed', 'Feed', feedView],\n];\n",
	} {
		if _, err := parseAppRoutes([]byte(src)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	r, err := parseAppRoutes([]byte("\nconst ROUTES = [\n  [/^\\/$/, 'feed', 'Feed', feedView],\n  [/^\\/runs\\/(\\d{1,19})$/, 'feed', 'Run', runView],\n];\n"))
	if err != nil || !r.match("/runs/7") || r.match("/runs/x") || !regexp.MustCompile(`^\[/\^`).Match(r.serviceWorkerList()) {
		t.Fatalf("a well-formed list: %+v, %v", r, err)
	}
}
