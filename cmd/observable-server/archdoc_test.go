package main

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// archdocModule is the import path prefix of the module's own packages.
const archdocModule = "github.com/observable-code/observable/"

// TestArchitectureDocMatchesImports keeps docs/architecture.md's "Who
// imports whom" block true: it lists, for every package of the server, the
// module's packages its non-test files import, and must match the source.
func TestArchitectureDocMatchesImports(t *testing.T) {
	doc, err := os.ReadFile("../../docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := archdocParse(t, string(doc))
	actual := map[string]string{}
	for _, root := range []string{"../../internal", "."} {
		err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return err
			}
			if d.Name() == "testdata" || strings.HasPrefix(d.Name(), "_") {
				return filepath.SkipDir
			}
			name, deps, ok := archdocImports(t, path)
			if ok {
				actual[name] = deps
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for pkg, deps := range actual {
		got, ok := documented[pkg]
		switch {
		case !ok:
			t.Errorf("docs/architecture.md lists no imports for %s; add the line: %s → %s", pkg, pkg, deps)
		case got != deps:
			t.Errorf("docs/architecture.md says %s → %s; the source imports %s", pkg, got, deps)
		}
	}
	for pkg := range documented {
		if _, ok := actual[pkg]; !ok {
			t.Errorf("docs/architecture.md lists %s, which has no Go files", pkg)
		}
	}
}

// archdocParse reads the lines "pkg → a, b" of the block after the
// "## Who imports whom" heading.
func archdocParse(t *testing.T, doc string) map[string]string {
	t.Helper()
	_, section, ok := strings.Cut(doc, "## Who imports whom")
	if !ok {
		t.Fatal(`docs/architecture.md has no "## Who imports whom" section`)
	}
	_, block, _ := strings.Cut(section, "```text\n")
	block, _, _ = strings.Cut(block, "```")
	line := regexp.MustCompile(`^(\S+) → (.+)$`)
	out := map[string]string{}
	for _, l := range strings.Split(block, "\n") {
		if m := line.FindStringSubmatch(strings.TrimSpace(l)); m != nil {
			out[m[1]] = m[2]
		}
	}
	if len(out) == 0 {
		t.Fatal(`docs/architecture.md's "Who imports whom" block lists nothing`)
	}
	return out
}

// archdocImports names dir's package as the doc does (cmd/observable-server,
// or the path under internal/) and lists the module's packages its non-test
// files import, the same way, or "(none)".
func archdocImports(t *testing.T, dir string) (string, string, bool) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var deps []string
	found := false
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		parsed, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		found = true
		for _, imp := range parsed.Imports {
			p := strings.Trim(imp.Path.Value, `"`)
			if rest, ok := strings.CutPrefix(p, archdocModule+"internal/"); ok && !slices.Contains(deps, rest) {
				deps = append(deps, rest)
			}
		}
	}
	if !found {
		return "", "", false
	}
	name := "cmd/observable-server"
	if abs, _ := filepath.Abs(dir); strings.Contains(filepath.ToSlash(abs), "/internal") {
		_, name, _ = strings.Cut(filepath.ToSlash(abs), "/internal/")
	}
	if len(deps) == 0 {
		return name, "(none)", true
	}
	slices.Sort(deps)
	return name, strings.Join(deps, ", "), true
}
