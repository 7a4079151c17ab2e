package verify

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// tinyMain is a whole Go service in a module of its own: the lines of the verifier package's
// Example (quoted in README.md), with os.Getenv, a listener on PORT that it prints and an
// admin listener on a free loopback port.
const tinyMain = `package main

import (
	"fmt"
	"log"
	"net"
	"net/http"
	"os"

	"github.com/keygate/keygate/apps/verifier"
)

func main() {
	ln, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("PORT"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("tiny listening on", ln.Addr())
	adminLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}

	v, err := verifier.NewFromEnv(os.Getenv, "billing")
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()
	mux := http.NewServeMux()
	mux.Handle("/api/", v.RequireToken(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller, _ := verifier.Claims(r.Context())
		fmt.Fprintf(w, "hello %s", caller.Subject)
	})))
	mux.Handle("/ready", v.Ready()) // public: "ready" or "not ready", no detail
	go http.Serve(adminLn, v.AdminHandler()) // /metrics, the detailed /ready
	log.Fatal(http.Serve(ln, mux))
}
`

var tinyPort = regexp.MustCompile(`tiny listening on [^\s]*:(\d+)`)

// TestTinyServiceInItsOwnModule builds a service in a separate module (go.mod with a replace
// of keygate by this repository, nothing fetched: GOPROXY=off) that imports only keygate's
// public verifier package, which the Go toolchain would refuse were it internal, and runs it
// against authd and Redis: a token of its audience is served with the caller's subject, and
// a logged-out token is refused within a second.
func TestTinyServiceInItsOwnModule(t *testing.T) {
	s := startStack(t)
	dir := t.TempDir()
	root := repoRoot(t)
	writeFile(t, filepath.Join(dir, "go.mod"), "module example.com/tiny\n\ngo 1.26.0\n\nrequire github.com/keygate/keygate v0.0.0\n\nreplace github.com/keygate/keygate => "+root+"\n")
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "go.sum"), string(sum))
	writeFile(t, filepath.Join(dir, "main.go"), strings.ReplaceAll(tinyMain, `"billing"`, `"tiny"`))
	build := exec.CommandContext(t.Context(), "go", "build", "-o", "tiny", ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOSUMDB=off", "GOWORK=off")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build of the separate module: %v\n%s", err, out)
	}
	tiny := start(t, "tiny", filepath.Join(dir, "tiny"), s.verifierEnv("tiny"))
	base := "http://127.0.0.1:" + tiny.waitFor(t, tinyPort)
	s.waitReady(t, base+"/ready")

	access, sub := s.session(t)
	if r := s.do(t, "GET", base+"/api/hello", access, nil); r.status != http.StatusOK || string(r.body) != "hello "+sub {
		t.Fatalf("tiny service: %d %q, want 200 hello %s", r.status, r.body, sub)
	}
	if r := s.do(t, "GET", base+"/api/hello", "forged", nil); r.status != http.StatusUnauthorized {
		t.Errorf("forged token: %d, want 401", r.status)
	}
	out := s.logout(t, access)
	for s.do(t, "GET", base+"/api/hello", access, nil).status != http.StatusUnauthorized {
		if time.Since(out) > time.Second {
			t.Fatal("the tiny service still accepts a logged-out token after 1s")
		}
	}
	t.Logf("logout refused by the tiny service %v after authd answered", time.Since(out).Round(time.Millisecond))
}

// TestExampleIsWithinFifteenLines: the service's own lines in the package example (between
// the markers README.md quotes) are at most 15.
func TestExampleIsWithinFifteenLines(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "apps/verifier/example_test.go"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "// service:begin\n")
	body, _, ok2 := strings.Cut(rest, "\t// service:end")
	if !ok || !ok2 {
		t.Fatal("apps/verifier/example_test.go lacks the service:begin and service:end markers")
	}
	n := 0
	for _, line := range strings.Split(body, "\n") {
		if strings.TrimSpace(line) != "" {
			n++
		}
	}
	if n > 15 {
		t.Errorf("the example's service is %d lines, want at most 15:\n%s", n, body)
	}
	readme, err := os.ReadFile(filepath.Join(repoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), dedent(body)) {
		t.Errorf("README.md does not quote the example's service lines:\n%s", dedent(body))
	}
	t.Logf("the example service is %d lines of Go", n)
}

// dedent removes one leading tab from every line.
func dedent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(l, "\t")
	}
	return strings.Join(lines, "\n")
}
