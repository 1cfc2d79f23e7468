package api

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestOperations(t *testing.T) {
	h := newHarness(t)
	if r := h.do("GET", "/healthz", nil); r.status != 200 {
		t.Fatalf("healthz: %d", r.status)
	}
	if r := h.do("GET", "/readyz", nil); r.status != 200 {
		t.Fatalf("readyz: %d", r.status)
	}
	s := h.newSession()
	h.post(s, `{"name":"n","status":"completed"}`)
	h.post(s, `{"name":"n"}`)
	r := h.do("GET", "/metrics", nil)
	for _, want := range []string{
		"observable_events_accepted_total 1",
		`observable_events_rejected_total{reason="invalid"} 1`,
		"observable_ingest_duration_seconds_bucket",
		"observable_commit_batch_events_bucket",
		"observable_stream_subscribers",
		`observable_http_requests_total{code="202",route="POST /api/v1/events"} 1`,
		"go_goroutines",
	} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	h.store.Close()
	if r := h.do("GET", "/readyz", nil); r.status != 503 || r.errorCode(t) != "database_unavailable" || r.header.Get("Retry-After") == "" {
		t.Fatalf("readyz with the database closed: %d %s", r.status, r.body)
	}
	if r := h.do("GET", "/healthz", nil); r.status != 200 {
		t.Fatalf("healthz is about the process, not the database: %d", r.status)
	}
}

func TestUnknownRoutesAndMethods(t *testing.T) {
	h := newHarness(t)
	r := h.do("GET", "/api/v1/nope", nil)
	if r.status != 404 || r.errorCode(t) != "not_found" {
		t.Fatalf("unknown route: %d %s", r.status, r.body)
	}
	r = h.do("PUT", "/api/v1/events", nil)
	if r.status != 405 || r.errorCode(t) != "method_not_allowed" || r.header.Get("Allow") != "GET, POST" {
		t.Fatalf("wrong method: %d Allow %q %s", r.status, r.header.Get("Allow"), r.body)
	}
	if r := h.do("POST", "/", nil); r.status != 405 || r.errorCode(t) != "method_not_allowed" || r.header.Get("Allow") != "GET, HEAD" {
		t.Fatalf("POST to the app: %d Allow %q %s", r.status, r.header.Get("Allow"), r.body)
	}
	if r.header.Get("X-Content-Type-Options") != "nosniff" || r.header.Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("security headers missing: %v", r.header)
	}
}

// TestOpenAPIDescribesEveryRoute fails when a route of the router is
// missing from docs/openapi.yaml (or documented under the wrong method).
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	documented := readOpenAPIPaths(t, filepath.Join("..", "..", "docs", "openapi.yaml"))
	h := newHarness(t)
	routes := h.srv.Routes()
	if len(routes) < 20 {
		t.Fatalf("only %d routes; the check would prove little", len(routes))
	}
	for _, r := range routes {
		if !documented[r.Pattern][strings.ToLower(r.Method)] {
			t.Errorf("%s %s is served but not described in docs/openapi.yaml", r.Method, r.Pattern)
		}
	}
	served := map[string]bool{}
	for _, r := range routes {
		served[strings.ToLower(r.Method)+" "+r.Pattern] = true
	}
	for path, methods := range documented {
		for m := range methods {
			if !served[m+" "+path] {
				t.Errorf("docs/openapi.yaml describes %s %s, which the server does not serve", strings.ToUpper(m), path)
			}
		}
	}
}

// readOpenAPIPaths reads the path → methods of an OpenAPI file written with
// two-space indentation (paths at 2, methods at 4).
func readOpenAPIPaths(t *testing.T, path string) map[string]map[string]bool {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pathLine := regexp.MustCompile(`^  (/[^:]*):\s*$`)
	methodLine := regexp.MustCompile(`^    (get|post|put|patch|delete):\s*$`)
	out := map[string]map[string]bool{}
	inPaths, current := false, ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, " ") && line != "" {
			inPaths = line == "paths:"
			continue
		}
		if !inPaths {
			continue
		}
		if m := pathLine.FindStringSubmatch(line); m != nil {
			current = m[1]
			out[current] = map[string]bool{}
		} else if m := methodLine.FindStringSubmatch(line); m != nil && current != "" {
			out[current][m[1]] = true
		}
	}
	if len(out) == 0 {
		t.Fatal("no paths found in docs/openapi.yaml")
	}
	return out
}
