package api

import (
	"bufio"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/observable-code/observable/internal/domain"
)

// readSpecCodes reads components.x-error-codes of docs/openapi.yaml: code
// → status.
func readSpecCodes(t *testing.T) map[string]int {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "docs", "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	entry := regexp.MustCompile(`^    ([a-z_]+): \{status: (\d{3}),`)
	out := map[string]int{}
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "  x-error-codes:":
			in = true
		case in && strings.HasPrefix(line, "    #"):
		case in && !strings.HasPrefix(line, "    "):
			in = false
		case in:
			m := entry.FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("docs/openapi.yaml x-error-codes: cannot read %q; write `    code: {status: NNN, description: …}`", line)
			}
			out[m[1]], _ = strconv.Atoi(m[2])
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) < 20 {
		t.Fatalf("docs/openapi.yaml lists only %d error codes under components.x-error-codes", len(out))
	}
	return out
}

// The spec lists every code the server has, with the status the API's
// table gives it, and nothing else.
func TestErrorCodesMatchTheSpec(t *testing.T) {
	spec := readSpecCodes(t)
	have := map[string]bool{}
	for _, c := range domain.Codes {
		if have[c] {
			t.Errorf("domain.Codes lists %q twice", c)
		}
		have[c] = true
		a, ok := statuses[c]
		switch {
		case !ok:
			t.Errorf("code %q has no status in the api's table (errors.go statuses)", c)
		case spec[c] == 0:
			t.Errorf("code %q is not listed in docs/openapi.yaml components.x-error-codes", c)
		case spec[c] != a.status:
			t.Errorf("code %q: docs/openapi.yaml says %d, the server answers %d", c, spec[c], a.status)
		}
	}
	for c := range spec {
		if !have[c] {
			t.Errorf("docs/openapi.yaml lists %q, which no code of domain.Codes is", c)
		}
	}
	for c := range statuses {
		if !have[c] {
			t.Errorf("the api's table maps %q, which is not in domain.Codes", c)
		}
	}
}

// Codes are named, never written as strings: every code given to
// domain.Errorf, domain.Wrap or an Error's (or the wire body's) Code field
// anywhere in internal/ must be a constant of internal/domain/errors.go,
// and every constant there must be in domain.Codes. So the server cannot
// answer a code the spec does not list.
func TestNoCodeOutsideTheList(t *testing.T) {
	root := filepath.Join("..")
	consts := codeConstants(t, filepath.Join(root, "domain", "errors.go"))
	listed := map[string]bool{}
	for _, c := range domain.Codes {
		listed[c] = true
	}
	for name, value := range consts {
		if !listed[value] {
			t.Errorf("domain.%s = %q is missing from domain.Codes", name, value)
		}
	}
	files := sourceFiles(t, root)
	// Functions that take a code and pass it on (a parameter named code):
	// their callers are checked, as callers of domain.Errorf are.
	passOn := map[string]int{"Errorf": 0, "Wrap": 1}
	for _, sf := range files {
		for _, decl := range sf.f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || !returnsError(fn) {
				continue
			}
			i := 0
			for _, field := range fn.Type.Params.List {
				typ, _ := field.Type.(*ast.Ident)
				for _, n := range field.Names {
					if n.Name == "code" && typ != nil && typ.Name == "string" {
						passOn[fn.Name.Name] = i
					}
					i++
				}
			}
		}
	}
	checked := 0
	for _, sf := range files {
		fset, f := sf.fset, sf.f
		inDomain := f.Name.Name == "domain"
		check := func(e ast.Expr) {
			checked++
			name := ""
			switch v := e.(type) {
			case *ast.SelectorExpr:
				if x, ok := v.X.(*ast.Ident); ok && x.Name == "domain" {
					name = v.Sel.Name
				} else if v.Sel.Name == "Code" {
					return // an Error's own code, passed on
				}
			case *ast.Ident:
				if v.Name == "code" {
					return // a parameter passed on: its callers are checked
				}
				if inDomain {
					name = v.Name
				}
			}
			if _, ok := consts[name]; !ok {
				t.Errorf("%s: an error code given as %s; use a constant of internal/domain/errors.go (and list it in docs/openapi.yaml)",
					fset.Position(e.Pos()), exprText(e))
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch v := n.(type) {
			case *ast.CallExpr:
				fn := calledName(v.Fun, inDomain)
				if fn == "" {
					fn = localName(v.Fun)
				}
				if i, ok := passOn[fn]; ok && i < len(v.Args) {
					check(v.Args[i])
				}
			case *ast.CompositeLit:
				if typ := typeName(v.Type); typ == "Error" && (inDomain || isDomainSel(v.Type)) || typ == "apiError" {
					for _, el := range v.Elts {
						if kv, ok := el.(*ast.KeyValueExpr); ok {
							if k, ok := kv.Key.(*ast.Ident); ok && k.Name == "Code" {
								check(kv.Value)
							}
						}
					}
				}
			}
			return true
		})
	}
	if checked < 50 {
		t.Fatalf("only %d codes were checked; the walk is not reading the server's code", checked)
	}
}

type sourceFile struct {
	fset *token.FileSet
	f    *ast.File
}

// sourceFiles parses the server's Go files below root, tests left out.
func sourceFiles(t *testing.T, root string) []sourceFile {
	t.Helper()
	var out []sourceFile
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		out = append(out, sourceFile{fset, f})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// returnsError reports whether fn returns an error (or an *Error), or
// writes an answer (takes an http.ResponseWriter): what a code given to it
// may become.
func returnsError(fn *ast.FuncDecl) bool {
	for _, p := range fn.Type.Params.List {
		if typeName(p.Type) == "ResponseWriter" {
			return true
		}
	}
	if fn.Type.Results == nil {
		return false
	}
	for _, r := range fn.Type.Results.List {
		switch t := r.Type.(type) {
		case *ast.Ident:
			if t.Name == "error" {
				return true
			}
		case *ast.StarExpr:
			if typeName(t.X) == "Error" {
				return true
			}
		}
	}
	return false
}

// localName is the name of a call to a function or method of the package.
func localName(fun ast.Expr) string {
	switch f := fun.(type) {
	case *ast.Ident:
		return f.Name
	case *ast.SelectorExpr:
		if x, ok := f.X.(*ast.Ident); ok && x.Name == "s" {
			return f.Sel.Name // a method of the server or site
		}
	}
	return ""
}

func codeConstants(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, decl := range f.Decls {
		g, ok := decl.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, n := range vs.Names {
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					out[n.Name], _ = strconv.Unquote(lit.Value)
				}
			}
		}
	}
	if len(out) < 20 {
		t.Fatalf("%s: only %d code constants", path, len(out))
	}
	return out
}

// calledName is the name of a call to domain.X (or X inside domain).
func calledName(fun ast.Expr, inDomain bool) string {
	switch f := fun.(type) {
	case *ast.SelectorExpr:
		if isDomainSel(f) {
			return f.Sel.Name
		}
	case *ast.Ident:
		if inDomain {
			return f.Name
		}
	}
	return ""
}

func isDomainSel(e ast.Expr) bool {
	s, ok := e.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	x, ok := s.X.(*ast.Ident)
	return ok && x.Name == "domain"
}

func typeName(e ast.Expr) string {
	switch v := e.(type) {
	case *ast.Ident:
		return v.Name
	case *ast.SelectorExpr:
		return v.Sel.Name
	}
	return ""
}

func exprText(e ast.Expr) string {
	if lit, ok := e.(*ast.BasicLit); ok {
		return lit.Value
	}
	return "an expression"
}
