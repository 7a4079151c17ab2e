package verify

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keygate/keygate/test/apptest"
	"github.com/keygate/keygate/test/containers"
)

// repoRoot is the repository root, two levels up from this package.
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// buildApps builds keygate binaries into a temporary directory.
func buildApps(t *testing.T, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	for _, n := range names {
		args = append(args, "./apps/"+n)
	}
	cmd := exec.CommandContext(t.Context(), "go", args...)
	cmd.Dir = repoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return dir
}

// proc is a process a test runs.
type proc struct {
	name   string
	cmd    *exec.Cmd
	out    *apptest.Output
	exited chan struct{}
	err    error
}

// start runs bin with exactly env (plus PATH); it gets SIGTERM when the test ends.
func start(t *testing.T, name, bin string, env map[string]string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, cmd: exec.Command(bin, args...), out: &apptest.Output{}, exited: make(chan struct{})}
	p.cmd.Env = []string{"PATH=/usr/bin:/bin"}
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() { p.stop(t) })
	return p
}

// stop sends SIGTERM and waits (at most 20s) for the process to end.
func (p *proc) stop(t *testing.T) {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		t.Errorf("%s did not stop within 20s of SIGTERM", p.name)
	}
	if t.Failed() {
		t.Logf("%s output:\n%s", p.name, tailLines(p.out.String(), 30))
	}
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// waitFor waits until the process prints a line matching re and returns its first group.
func (p *proc) waitFor(t *testing.T, re *regexp.Regexp) string {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if m := re.FindStringSubmatch(p.out.String()); m != nil {
			return m[1]
		}
		select {
		case <-p.exited:
			t.Fatalf("%s exited: %v\n%s", p.name, p.err, tailLines(p.out.String(), 30))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s printed no %s within 60s:\n%s", p.name, re, tailLines(p.out.String(), 30))
		}
	}
}

var servingPort = regexp.MustCompile(`"msg":"\w+: serving","addr":"[^"]*:(\d+)"`)

// serve starts a keygate binary and returns its base URL once it logs that it serves.
func serve(t *testing.T, name, bin string, env map[string]string) (*proc, string) {
	t.Helper()
	p := start(t, name, bin, env)
	return p, "http://127.0.0.1:" + p.waitFor(t, servingPort)
}

// stack is Redis and an authd on it whose tokens name every audience the tests use.
type stack struct {
	redis *containers.Redis
	auth  string // authd's base URL, which is also the issuer
	http  *http.Client
	bins  string
	mu    sync.Mutex
	users int
}

// audiences are the audiences authd puts in every token.
var audiences = []string{"orders", "payments", "pyservice", "tiny"}

func startStack(t *testing.T, apps ...string) *stack {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binaries and runs Redis in a container")
	}
	containers.RequireDocker(t)
	s := &stack{http: &http.Client{Timeout: 10 * time.Second}}
	s.bins = buildApps(t, append([]string{"authd"}, apps...)...)
	s.redis = containers.StartRedis(t)
	_, s.auth = serve(t, "authd", filepath.Join(s.bins, "authd"), map[string]string{
		"PORT": "0", "KEYGATE_DEV": "1", "REDIS_ADDR": s.redis.Addr,
		"KEYGATE_AUDIENCES":      strings.Join(audiences, ","),
		"KEYGATE_LOGIN_LIMIT_IP": "1000000/1h", "KEYGATE_LOGIN_FAILURES_CLIENT": "100000/1h",
		"KEYGATE_LOGIN_FAILURES_ACCOUNT": "100000/1h",
	})
	return s
}

// verifierEnv is what a verifier of audience on this stack is set.
func (s *stack) verifierEnv(audience string) map[string]string {
	// authd was started on PORT=0, so its issuer is http://localhost:<port>.
	return map[string]string{"PORT": "0", "KEYGATE_ISSUER": strings.Replace(s.auth, "127.0.0.1", "localhost", 1),
		"KEYGATE_AUDIENCE": audience, "REDIS_ADDR": s.redis.Addr}
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (s *stack) do(t testing.TB, method, url, bearer string, body any, header ...string) reply {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := s.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, b}
}

// session registers a new user and logs in; it returns the access token and the user's id.
func (s *stack) session(t testing.TB) (access, subject string) {
	t.Helper()
	s.mu.Lock()
	s.users++
	email := fmt.Sprintf("user%d-%d@example.com", s.users, time.Now().UnixNano())
	s.mu.Unlock()
	cred := map[string]string{"email": email, "password": "correct horse battery"}
	if r := s.do(t, "POST", s.auth+"/register", "", cred); r.status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	return s.login(t, email)
}

// login logs email in again: a new session.
func (s *stack) login(t testing.TB, email string) (access, subject string) {
	t.Helper()
	r := s.do(t, "POST", s.auth+"/login", "", map[string]string{"email": email, "password": "correct horse battery"})
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if r.status != http.StatusOK || json.Unmarshal(r.body, &tok) != nil {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	return tok.AccessToken, subjectOf(t, tok.AccessToken)
}

// subjectOf reads the sub claim of a JWS (unverified: the test only compares it).
func subjectOf(t testing.TB, jws string) string {
	t.Helper()
	parts := strings.Split(jws, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", jws)
	}
	b, err := decodeSegment(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Sub string `json:"sub"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c.Sub
}

// logout logs the session of access out and returns when authd has answered.
func (s *stack) logout(t testing.TB, access string) time.Time {
	t.Helper()
	if r := s.do(t, "POST", s.auth+"/logout", access, nil); r.status != http.StatusNoContent {
		t.Fatalf("logout: %d %s", r.status, r.body)
	}
	return time.Now()
}

// waitReady waits until GET url answers 200.
func (s *stack) waitReady(t *testing.T, url string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if r, err := s.http.Get(url); err == nil {
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not 200 within 30s", url)
		}
	}
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func decodeSegment(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }
