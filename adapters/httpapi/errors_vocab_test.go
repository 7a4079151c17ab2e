package httpapi

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// module is the import path of the repository's module.
const module = "github.com/keygate/keygate"

// umbrellas: a sentinel declared by calling the constructor on the left is covered by the row
// of the sentinel on the right (every token refusal matches token.ErrInvalid).
var umbrellas = map[string]string{
	module + "/core/token.refused": module + "/core/token.ErrInvalid",
}

// TestErrorTableComplete keeps errorTable the one error vocabulary. It finds the sentinels by
// reading the source (every exported package-level Err* var of ports and core, and this
// package's err* vars) and fails when a sentinel has no row (it would silently become a 500),
// when a row maps an error nothing returns, or when a row is shadowed by an earlier one.
func TestErrorTableComplete(t *testing.T) {
	root := moduleRoot(t)
	files := parseModule(t, root)

	sentinels := map[string]*ast.ValueSpec{} // "import/path.ErrX" -> its declaration
	for _, f := range files {
		own := f.pkg == module+"/adapters/httpapi"
		if !own && f.pkg != module+"/ports" && !strings.HasPrefix(f.pkg, module+"/core/") {
			continue
		}
		for _, spec := range topLevelVars(f.ast) {
			for _, n := range spec.Names {
				if sentinelName(n.Name, own) {
					sentinels[f.pkg+"."+n.Name] = spec
				}
			}
		}
	}
	rows := tableRows(t, files)
	if len(rows) != len(errorTable) {
		t.Fatalf("read %d rows of errorTable in the source, the table has %d", len(rows), len(errorTable))
	}
	produced := producedSentinels(files, sentinels)

	named := map[string]bool{}
	for i, name := range rows {
		named[name] = true
		if _, ok := sentinels[name]; !ok {
			t.Errorf("errorTable row %d maps %s, which is not a sentinel of ports, core or httpapi: delete the row", i, short(name))
		}
		for j := range i {
			if errors.Is(errorTable[i].err, errorTable[j].err) {
				t.Errorf("errorTable row %d (%s) can never match: row %d (%s) matches it first", i, short(name), j, short(rows[j]))
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(sentinels)) {
		if !produced[name] {
			t.Errorf("%s is declared but never returned by any code (only declared, mapped or tested): delete it and its errorTable row, or return it", short(name))
			continue
		}
		if named[name] || named[umbrellas[constructor(sentinels[name], name)]] {
			continue
		}
		s := short(name)
		t.Errorf("%s has no row in errorTable (adapters/httpapi/errors.go) and would answer an opaque 500: add\n"+
			"\t{%s, http.StatusXXX, \"stable_code\", \"Title\", \"A fixed detail.\", \"\"},\n"+
			"if a client can cause it, or\n\tinternal(%s),\nif it is the server's fault", s, s, s)
	}
}

type parsedFile struct {
	pkg  string // import path
	ast  *ast.File
	name string
}

// moduleRoot is the repository's root: go test runs in adapters/httpapi.
func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// parseModule parses every non-test Go file of the module.
func parseModule(t *testing.T, root string) []parsedFile {
	t.Helper()
	var out []parsedFile
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); p != root && (strings.HasPrefix(n, ".") || n == "node_modules" || n == "testdata" || n == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(p))
		out = append(out, parsedFile{pkg: path.Join(module, filepath.ToSlash(rel)), ast: f, name: p})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func topLevelVars(f *ast.File) []*ast.ValueSpec {
	var out []*ast.ValueSpec
	for _, d := range f.Decls {
		if gd, ok := d.(*ast.GenDecl); ok && gd.Tok == token.VAR {
			for _, s := range gd.Specs {
				out = append(out, s.(*ast.ValueSpec))
			}
		}
	}
	return out
}

// tableRows returns the sentinel each row of errorTable names, in order, as read in errors.go.
func tableRows(t *testing.T, files []parsedFile) []string {
	t.Helper()
	for _, f := range files {
		if f.pkg != module+"/adapters/httpapi" {
			continue
		}
		for _, spec := range topLevelVars(f.ast) {
			if spec.Names[0].Name != "errorTable" {
				continue
			}
			var rows []string
			for _, e := range spec.Values[0].(*ast.CompositeLit).Elts {
				var first ast.Expr
				switch e := e.(type) {
				case *ast.CompositeLit:
					first = e.Elts[0]
				case *ast.CallExpr: // internal(err)
					first = e.Args[0]
				default:
					t.Fatalf("errorTable row of an unexpected shape at %s", f.name)
				}
				rows = append(rows, refName(imports(f.ast), f.pkg, first))
			}
			return rows
		}
	}
	t.Fatal("errorTable not found in adapters/httpapi")
	return nil
}

// producedSentinels reports the sentinels some code uses other than by declaring them, mapping
// them in errorTable, or testing for them (errors.Is, ==, !=).
func producedSentinels(files []parsedFile, sentinels map[string]*ast.ValueSpec) map[string]bool {
	produced := map[string]bool{}
	for _, f := range files {
		imps := imports(f.ast)
		ast.Inspect(f.ast, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.ValueSpec:
				if n.Names[0].Name == "errorTable" {
					return false
				}
				for _, v := range n.Values { // the names are declarations, the values uses
					ast.Inspect(v, func(m ast.Node) bool { return use(m, imps, f.pkg, sentinels, produced) })
				}
				return false
			case *ast.CallExpr:
				if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Is" && len(n.Args) == 2 && isIdent(sel.X, "errors") {
					ast.Inspect(n.Args[0], func(m ast.Node) bool { return use(m, imps, f.pkg, sentinels, produced) })
					return false
				}
			case *ast.BinaryExpr:
				if n.Op == token.EQL || n.Op == token.NEQ {
					return false
				}
			}
			return use(n, imps, f.pkg, sentinels, produced)
		})
	}
	return produced
}

func use(n ast.Node, imps map[string]string, pkg string, sentinels map[string]*ast.ValueSpec, produced map[string]bool) bool {
	switch n := n.(type) {
	case *ast.SelectorExpr, *ast.Ident:
		if name := refName(imps, pkg, n.(ast.Expr)); sentinels[name] != nil {
			produced[name] = true
		}
		_, isSel := n.(*ast.SelectorExpr)
		return !isSel
	}
	return true
}

// refName names what e refers to: "import/path.Name" for pkg.Name or for Name in package pkg.
func refName(imps map[string]string, pkg string, e ast.Expr) string {
	switch e := e.(type) {
	case *ast.SelectorExpr:
		if x, ok := e.X.(*ast.Ident); ok && imps[x.Name] != "" {
			return imps[x.Name] + "." + e.Sel.Name
		}
	case *ast.Ident:
		return pkg + "." + e.Name
	}
	return ""
}

func imports(f *ast.File) map[string]string {
	m := map[string]string{}
	for _, imp := range f.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		local := path.Base(p)
		if imp.Name != nil {
			local = imp.Name.Name
		}
		m[local] = p
	}
	return m
}

// constructor names the function a sentinel's declaration calls ("import/path.refused").
func constructor(spec *ast.ValueSpec, name string) string {
	pkg := name[:strings.LastIndex(name, ".")]
	for i, n := range spec.Names {
		if pkg+"."+n.Name == name && i < len(spec.Values) {
			if call, ok := spec.Values[i].(*ast.CallExpr); ok {
				if id, ok := call.Fun.(*ast.Ident); ok {
					return pkg + "." + id.Name
				}
			}
		}
	}
	return ""
}

// sentinelName reports whether a package-level var is named as a sentinel: ErrX, or errX in
// this package.
func sentinelName(name string, own bool) bool {
	if len(name) < 4 || !unicode.IsUpper(rune(name[3])) {
		return false
	}
	return strings.HasPrefix(name, "Err") || own && strings.HasPrefix(name, "err")
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}

// short turns "github.com/keygate/keygate/core/token.ErrExpired" into "token.ErrExpired".
func short(name string) string { return path.Base(name) }
