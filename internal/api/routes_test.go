package api

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// Each route says what it needs, and serve holds it to that: without a
// credential every route that needs one answers 401 before its handler
// runs, and the others never do.
func TestRoutesAuthenticateAsTheTableSays(t *testing.T) {
	h := newHarness(t)
	path := strings.NewReplacer("{code}", "AAAAAAAAAAAAAAAAAAAAAA", "{seq}", "1", "{name}", "job").Replace
	for _, rt := range h.srv.Routes() {
		r := h.do(rt.Method, path(rt.Pattern), nil)
		if needs := rt.Auth&either != 0; needs != (r.status == 401) {
			t.Errorf("%s %s (auth %d) without a credential: %d %s", rt.Method, rt.Pattern, rt.Auth, r.status, r.body)
		}
	}
}

// Authentication happens in one place: no handler calls authenticate.
func TestOnlyServeAuthenticates(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Name.Name == "withCaller" {
				continue
			}
			ast.Inspect(fn, func(n ast.Node) bool {
				if call, ok := n.(*ast.CallExpr); ok {
					if sel, ok := call.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "authenticate" {
						t.Errorf("%s: %s calls authenticate; give its route the credentials it needs instead", fset.Position(call.Pos()), fn.Name.Name)
					}
				}
				return true
			})
		}
	}
}
