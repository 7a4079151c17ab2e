package deploy

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// App is one keygate binary as the deployment files must see it.
type App struct {
	Name string
	Port int32
	// AdminPort is the admin listener's default port (KEYGATE_ADMIN_ADDR): /metrics and the
	// detailed /ready, for Prometheus only, in no Service.
	AdminPort int32
	// Sections of docs/configuration.md whose variables this binary reads (by the start of
	// their heading).
	Sections []string
}

// Apps are the binaries and the ports they listen on by default (PORT and KEYGATE_ADMIN_ADDR
// in docs/configuration.md). /health is liveness and /ready readiness for all three, on the
// API's port.
var Apps = []App{
	{Name: "authd", Port: 8080, AdminPort: 9090, Sections: []string{"Every binary", "authd"}},
	{Name: "ordersd", Port: 8081, AdminPort: 9091, Sections: []string{"Every binary", "ordersd, paymentsd"}},
	{Name: "paymentsd", Port: 8082, AdminPort: 9092, Sections: []string{"Every binary", "ordersd, paymentsd"}},
	// keygatectl migrate reads the database settings of authd.
	{Name: "keygatectl", Sections: []string{"Every binary", "authd"}},
}

const (
	livenessPath  = "/health"
	readinessPath = "/ready"
)

// appOf returns the keygate binary an image runs ("keygate/authd:v1",
// "registry.example.com/keygate/ordersd" -> authd, ordersd), or false for other images.
func appOf(image string) (App, bool) {
	name := image
	if i := strings.LastIndex(name, "/"); i >= 0 {
		if !strings.HasSuffix(name[:i], "keygate") {
			return App{}, false
		}
		name = name[i+1:]
	} else {
		return App{}, false
	}
	if i := strings.IndexAny(name, ":@"); i >= 0 {
		name = name[:i]
	}
	for _, a := range Apps {
		if a.Name == name {
			return a, true
		}
	}
	return App{}, false
}

// repoRoot returns the repository root (the directory holding go.mod).
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
}

// readFile reads a file of the repository, by a path relative to its root.
func readFile(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Docs is what docs/configuration.md declares.
type Docs struct {
	// Vars maps each section ("Every binary", "authd", "ordersd, paymentsd") to its variables.
	Vars map[string]map[string]bool
	// Metrics are the names of the metrics table.
	Metrics []string
}

var backticked = regexp.MustCompile("`([^`]+)`")
var envName = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)

// parseDocs reads the tables of docs/configuration.md: under "## Environment variables", each
// "### section" table's rows name variables in backticks (a row may name several, and its
// meaning may name other variables it depends on); under
// "## Metrics", the first column of each row is a metric name.
func parseDocs(t *testing.T) Docs {
	t.Helper()
	d := Docs{Vars: map[string]map[string]bool{}}
	var part, section string
	sc := bufio.NewScanner(strings.NewReader(string(readFile(t, "docs/configuration.md"))))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "## "):
			part, section = strings.TrimPrefix(line, "## "), ""
			continue
		case strings.HasPrefix(line, "### "):
			section = strings.TrimPrefix(line, "### ")
			continue
		case !strings.HasPrefix(line, "|") || strings.HasPrefix(line, "|---") || strings.HasPrefix(line, "| name") || strings.HasPrefix(line, "| variable"):
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		switch {
		case strings.HasPrefix(part, "Environment variables") && section != "":
			if d.Vars[section] == nil {
				d.Vars[section] = map[string]bool{}
			}
			for _, m := range backticked.FindAllStringSubmatch(line, -1) {
				if envName.MatchString(m[1]) {
					d.Vars[section][m[1]] = true
				}
			}
		case strings.HasPrefix(part, "Metrics"):
			if m := backticked.FindStringSubmatch(cells[0]); m != nil {
				d.Metrics = append(d.Metrics, m[1])
			}
		}
	}
	if len(d.Vars) == 0 || len(d.Metrics) == 0 {
		t.Fatalf("docs/configuration.md: found %d variable sections and %d metrics; has its layout changed?", len(d.Vars), len(d.Metrics))
	}
	return d
}

// readsVar reports whether app reads the variable name, per docs/configuration.md.
func (d Docs) readsVar(app App, name string) bool {
	for _, want := range app.Sections {
		for section, vars := range d.Vars {
			if strings.HasPrefix(section, want) && vars[name] {
				return true
			}
		}
	}
	return false
}
