package web

import (
	"io/fs"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// Event data must never reach an HTML parser or a code compiler; this
// keeps the sinks out of the app's code altogether (the CSP's Trusted
// Types enforce the same in the browser).
func TestScriptsUseNoHTMLOrCodeSinks(t *testing.T) {
	sinks := regexp.MustCompile(`\.innerHTML|\.outerHTML\s*=|insertAdjacentHTML|document\.write|\beval\(|new Function|setTimeout\(\s*['"\x60]|createContextualFragment|DOMParser`)
	err := fs.WalkDir(files, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".js") {
			return err
		}
		body, _ := fs.ReadFile(files, path)
		for i, line := range strings.Split(string(body), "\n") {
			if m := sinks.FindString(line); m != "" {
				t.Errorf("%s:%d uses %s", path, i+1, m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The CSP forbids inline script, inline style and handler attributes; a
// page that had them would break, so none may be written.
func TestPagesHaveNoInlineScriptOrStyle(t *testing.T) {
	f := newFixture(t)
	code := f.pairing("ana-laptop", false)
	script := regexp.MustCompile(`<script([^>]*)>([^<]*)</script>`)
	inline := regexp.MustCompile(`\sstyle=|\son[a-z]+=|<style`)
	for _, path := range []string{"/", "/pair/" + code, "/pair/unknown", "/nope"} {
		body := f.get("GET", path, nil).Body.String()
		if m := inline.FindString(body); m != "" {
			t.Errorf("%s has inline style or handlers: %q", path, m)
		}
		if strings.Count(body, "<script") != len(script.FindAllString(body, -1)) {
			t.Errorf("%s has a script tag this test cannot read", path)
		}
		for _, m := range script.FindAllStringSubmatch(body, -1) {
			if !strings.Contains(m[1], ` src="/s/`) || strings.TrimSpace(m[2]) != "" {
				t.Errorf("%s has an inline script: %q", path, m[0])
			}
		}
	}
}

var importRef = regexp.MustCompile(`(?m)^import\s[^'"]*['"]\./([^'"]+)['"]`)

// The shell preloads every module app.js imports, directly or not, so the
// phone fetches them in parallel rather than one import level at a time.
func TestShellPreloadsTheWholeModuleGraph(t *testing.T) {
	f := newFixture(t)
	shell := f.get("GET", "/", nil).Body.String()
	seen := map[string]bool{}
	var walk func(name string)
	walk = func(name string) {
		if seen[name] {
			return
		}
		seen[name] = true
		body, err := fs.ReadFile(files, "static/"+name)
		if err != nil {
			t.Fatalf("app.js imports %s, which does not exist: %v", name, err)
		}
		for _, m := range importRef.FindAllStringSubmatch(string(body), -1) {
			walk(m[1])
		}
	}
	walk("app.js")
	for name := range seen {
		if name == "app.js" {
			continue
		}
		if !strings.Contains(shell, `<link rel="modulepreload" href="`+f.site.assets.url(name)+`">`) {
			t.Errorf("the shell does not preload %s", name)
		}
	}
	for _, m := range regexp.MustCompile(`modulepreload" href="/s/[^/]+/([^"]+)"`).FindAllStringSubmatch(shell, -1) {
		if !seen[m[1]] {
			t.Errorf("the shell preloads %s, which the app does not import", m[1])
		}
	}
}

// The budget: the shell and everything it references, the modules they
// import and the manifest, before compression, under 100 KB. (The browser
// tests measure the same on the wire: e2e TestFirstLoadIsUnder100KB.)
func TestFirstLoadBudget(t *testing.T) {
	f := newFixture(t)
	shell := f.get("GET", "/", nil)
	total := shell.Body.Len()
	var parts []string
	seen := map[string]bool{}
	var add func(path string)
	add = func(path string) {
		if seen[path] {
			return
		}
		seen[path] = true
		rec := f.get("GET", path, nil)
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: status %d", path, rec.Code)
		}
		total += rec.Body.Len()
		parts = append(parts, path)
		if strings.HasSuffix(path, ".js") {
			for _, m := range importRef.FindAllStringSubmatch(rec.Body.String(), -1) {
				add(f.site.assets.url(m[1]))
			}
		}
	}
	for _, m := range assetRef.FindAllStringSubmatch(shell.Body.String(), -1) {
		add(m[1])
	}
	add("/manifest.webmanifest")
	slices.Sort(parts)
	t.Logf("first load: %d bytes (%.1f KB) in %d files besides the shell", total, float64(total)/1024, len(parts))
	if total >= 100*1024 {
		t.Errorf("first load is %d bytes, over the 100 KB budget: %v", total, parts)
	}
}
