// Package arch keeps keygate's dependency rule (docs/architecture.md) as a test: it reads the
// import graph with `go list -deps -json` and fails naming every offending import.
//
// go test caches a result that depends on a child process only by the files the test itself
// opened, so the test also reads every .go file of the module: editing one invalidates the
// cached result. (make test runs with -count=1 anyway.)
package arch

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/keygate/keygate"

// nouns are the core packages of entities, values and pure rules.
var nouns = []string{"core/audit", "core/backoff", "core/identity", "core/key", "core/onetime", "core/revocation", "core/session", "core/token"}

// drivers are the infrastructure modules core and ports must never reach.
var drivers = []string{
	"github.com/redis/", "github.com/go-sql-driver/", "github.com/jackc/", "github.com/testcontainers/",
	"github.com/go-jose/", "github.com/prometheus/", "github.com/go-chi/", "github.com/google/wire",
	"database/sql", "net/http",
}

type pkg struct {
	ImportPath string
	Standard   bool
	Imports    []string
	Deps       []string
	Module     *struct{ Path string }
}

// rel returns p relative to the module ("core/auth"), or "" for a package outside it.
func rel(p string) string {
	if p == module {
		return "."
	}
	r, ok := strings.CutPrefix(p, module+"/")
	if !ok {
		return ""
	}
	return r
}

func under(r, dir string) bool { return r == dir || strings.HasPrefix(r, dir+"/") }

func isNoun(r string) bool { return slices.Contains(nouns, r) }

// rule is one constraint: applies picks the packages, allowed says whether one of their
// direct imports is permitted (imp is the import path, std whether it is in the standard
// library), and why is the message naming the rule.
type rule struct {
	why     string
	applies func(r string) bool
	allowed func(imp string, std bool) bool
}

var rules = []rule{
	{
		why:     "core/<noun> imports only the standard library",
		applies: isNoun,
		allowed: func(imp string, std bool) bool { return std },
	},
	{
		why:     "a core use case (core/auth, core/guard, core/keyring) imports only ports/, the core nouns and the standard library (never another use case: each takes the others as ports or small interfaces)",
		applies: func(r string) bool { return under(r, "core") && !isNoun(r) },
		allowed: func(imp string, std bool) bool { return std || isNoun(rel(imp)) || rel(imp) == "ports" },
	},
	{
		why:     "ports/ imports only the core nouns and the standard library",
		applies: func(r string) bool { return r == "ports" },
		allowed: func(imp string, std bool) bool { return std || isNoun(rel(imp)) },
	},
	{
		why:     "ports/portstest imports only ports/, the core nouns, go-cmp and the standard library",
		applies: func(r string) bool { return under(r, "ports") && r != "ports" },
		allowed: func(imp string, std bool) bool {
			return std || isNoun(rel(imp)) || rel(imp) == "ports" || strings.HasPrefix(imp, "github.com/google/go-cmp/")
		},
	},
	{
		why:     "an adapter never imports another adapter or apps/ (it may import core/, ports/, internal/version and adapters/internal/)",
		applies: func(r string) bool { return under(r, "adapters") && !under(r, "adapters/internal") },
		allowed: func(imp string, std bool) bool {
			r := rel(imp)
			return r == "" || under(r, "core") || under(r, "ports") || r == "internal/version" || under(r, "adapters/internal")
		},
	},
	{
		why:     "internal/version imports only the standard library (every layer may read it)",
		applies: func(r string) bool { return r == "internal/version" },
		allowed: func(imp string, std bool) bool { return std },
	},
	{
		why:     "adapters/internal/ (what several adapters share) imports only the standard library",
		applies: func(r string) bool { return under(r, "adapters/internal") },
		allowed: func(imp string, std bool) bool { return std },
	},
	{
		why:     "only apps/ imports google/wire",
		applies: func(r string) bool { return !under(r, "apps") },
		allowed: func(imp string, std bool) bool { return !strings.HasPrefix(imp, "github.com/google/wire") },
	},
	{
		why: "a verifier (apps/verifier, guardd, the demo services) is composed from apps/internal/stores, never from the auth service's composition",
		applies: func(r string) bool {
			return under(r, "apps/verifier") || r == "apps/guardd" || r == "apps/internal/demo" || r == "apps/ordersd" || r == "apps/paymentsd"
		},
		allowed: func(imp string, std bool) bool { return rel(imp) != "apps/internal/authsvc" },
	},
	{
		why:     "apps/internal/stores (the profiles) is below the use cases: it imports no core use case and no binary's composition",
		applies: func(r string) bool { return r == "apps/internal/stores" },
		allowed: func(imp string, std bool) bool {
			r := rel(imp)
			return !(under(r, "core") && !isNoun(r)) && r != "apps/internal/authsvc" && r != "apps/verifier"
		},
	},
	{
		why:     "nothing outside apps/ and test/ imports apps/",
		applies: func(r string) bool { return !under(r, "apps") && !under(r, "test") },
		allowed: func(imp string, std bool) bool { return !under(rel(imp), "apps") },
	},
}

// TestDependencyRule checks every rule against every package's direct imports, and that no
// package of core/ or ports/ reaches net/http or a driver even indirectly. It reads the graph
// twice: as built, and with the wireinject tag that selects wire's injector files.
func TestDependencyRule(t *testing.T) {
	touchSources(t)
	for _, tags := range []string{"", "wireinject"} {
		t.Run("tags="+tags, func(t *testing.T) { checkGraph(t, list(t, tags)) })
	}
}

func checkGraph(t *testing.T, pkgs []pkg) {
	t.Helper()
	byPath := map[string]pkg{}
	for _, p := range pkgs {
		byPath[p.ImportPath] = p
	}
	var problems []string
	checked := 0
	for _, p := range pkgs {
		r := rel(p.ImportPath)
		if r == "" {
			continue
		}
		checked++
		for _, ru := range rules {
			if !ru.applies(r) {
				continue
			}
			for _, imp := range p.Imports {
				if !ru.allowed(imp, byPath[imp].Standard) {
					problems = append(problems, r+" imports "+imp+": "+ru.why)
				}
			}
		}
		if under(r, "core") || under(r, "ports") {
			for _, dep := range p.Deps {
				for _, d := range drivers {
					if dep == d || strings.HasPrefix(dep, d) {
						problems = append(problems, r+" depends on "+dep+" (through "+via(byPath, p, dep)+"): core/ and ports/ never reach net/http or a driver")
					}
				}
			}
		}
	}
	if checked < 10 {
		t.Fatalf("only %d packages of %s listed: is the test run inside the module?", checked, module)
	}
	slices.Sort(problems)
	for _, p := range slices.Compact(problems) {
		t.Error(p)
	}
}

// via names a direct import of p through which it reaches dep.
func via(byPath map[string]pkg, p pkg, dep string) string {
	for _, imp := range p.Imports {
		if imp == dep || slices.Contains(byPath[imp].Deps, dep) {
			return imp
		}
	}
	return "?"
}

// TestRulesCatchViolations makes sure the rules reject what they must: a test of the test.
func TestRulesCatchViolations(t *testing.T) {
	tests := []struct {
		pkg, imp string
		std      bool
	}{
		{"core/token", "github.com/keygate/keygate/ports", false},
		{"core/token", "github.com/google/uuid", false},
		{"core/guard", "github.com/keygate/keygate/adapters/jose", false},
		{"core/auth", "github.com/go-jose/go-jose/v4", false},
		{"core/keyring", "github.com/keygate/keygate/adapters/memory", false},
		{"core/keyring", "github.com/keygate/keygate/core/auth", false},
		{"core/auth", "github.com/keygate/keygate/core/keyring", false},
		{"core/auth", "github.com/keygate/keygate/core/guard", false},
		{"ports", "github.com/keygate/keygate/core/auth", false},
		{"adapters/httpapi", "github.com/keygate/keygate/adapters/jose", false},
		{"adapters/redis", "github.com/keygate/keygate/apps/internal/authsvc", false},
		{"adapters/memory", "github.com/google/wire", false},
		{"adapters/internal/migration", "github.com/keygate/keygate/adapters/mysql", false},
		{"adapters/internal/migration", "github.com/jackc/pgx/v5", false},
		{"core/backoff", "github.com/keygate/keygate/ports", false},
		{"test/e2e", "github.com/google/wire", false},
		{"internal/version", "github.com/keygate/keygate/ports", false},
		{"adapters/telemetry", "github.com/keygate/keygate/internal/other", false},
		{"apps/guardd", "github.com/keygate/keygate/apps/internal/authsvc", false},
		{"apps/internal/demo", "github.com/keygate/keygate/apps/internal/authsvc", false},
		{"apps/verifier", "github.com/keygate/keygate/apps/internal/authsvc", false},
		{"apps/ordersd", "github.com/keygate/keygate/apps/internal/authsvc", false},
		{"apps/internal/stores", "github.com/keygate/keygate/core/keyring", false},
		{"apps/internal/stores", "github.com/keygate/keygate/core/auth", false},
		{"apps/internal/stores", "github.com/keygate/keygate/apps/internal/authsvc", false},
	}
	for _, tt := range tests {
		t.Run(tt.pkg+" -> "+tt.imp, func(t *testing.T) {
			for _, ru := range rules {
				if ru.applies(tt.pkg) && !ru.allowed(tt.imp, tt.std) {
					return
				}
			}
			t.Errorf("no rule rejects %s importing %s", tt.pkg, tt.imp)
		})
	}
}

// list returns every package of the module and of its dependencies (non-test code).
func list(t *testing.T, tags string) []pkg {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "go", "list", "-tags="+tags, "-deps", "-json", "./...")
	cmd.Dir = moduleRoot(t)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		t.Fatalf("no go.mod at %s", dir)
	}
	return dir
}

// touchSources reads every .go file of the module so go test's cache keys on them.
func touchSources(t *testing.T) {
	t.Helper()
	root := moduleRoot(t)
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if !d.IsDir() && (strings.HasSuffix(path, ".go") || d.Name() == "go.mod") {
			_, err := os.ReadFile(path)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
