package state

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// declaredTypes reads the package source for every Type* string constant,
// so that a new command type is checked without editing this test.
func declaredTypes(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]string{} // value -> name
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, spec := range g.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, id := range vs.Names {
					if !strings.HasPrefix(id.Name, "Type") || i >= len(vs.Values) {
						continue
					}
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						t.Fatalf("%s: command types are string literals", id.Name)
					}
					v, err := strconv.Unquote(lit.Value)
					if err != nil {
						t.Fatal(err)
					}
					if prev, dup := types[v]; dup {
						t.Errorf("%s and %s are both %q", prev, id.Name, v)
					}
					types[v] = id.Name
				}
			}
		}
	}
	return types
}

// Every declared command type is applied, and nothing else is.
func TestDispatchCoversEveryCommandType(t *testing.T) {
	types := declaredTypes(t)
	if len(types) < 12 {
		t.Fatalf("found only %d command types: %v", len(types), types)
	}
	for v, name := range types {
		if builtin[v] == nil {
			t.Errorf("%s (%q) has no handler in the dispatch table", name, v)
		}
	}
	for v := range builtin {
		if _, ok := types[v]; !ok {
			t.Errorf("handler for %q, which is not a declared Type constant", v)
		}
	}
}
