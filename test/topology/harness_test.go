package topology_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate/test/apptest"
	"github.com/keygate/keygate/test/containers"
)

var figures = flag.Bool("figures", false, "measure the figures (TestFigure*): refresh throughput, register and login latency, login concurrency")

// Settings every authd replica of a topology shares: all replicas must agree on the refresh
// secret and the key-encryption key.
var (
	refreshSecret = "topology-test-refresh-secret-0123456789abcdef"
	kek           = base64.StdEncoding.EncodeToString([]byte("topology-test-kek-32-bytes-long!"))
)

// bins are the binaries the topologies run, built once per test process.
var bins = apptest.NewBinaries("authd", "ordersd", "keygatectl", "guardd")

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	bins.Remove()
	os.Exit(code)
}

// binary returns the path of the named binary (authd, ordersd, keygatectl or guardd).
func binary(t *testing.T, name string) string { return bins.Path(t, name) }

// proc is one running binary.
type proc struct {
	*apptest.Process
	URL    string // http://127.0.0.1:<port>
	Issuer string // the issuer its serving line names (authd), or ""
}

var (
	servingLine = regexp.MustCompile(`"msg":"(\w+): serving","addr":"[^"]*:(\d+)".*`)
	issuerAttr  = regexp.MustCompile(`"issuer":"([^"]+)"`)
)

// admins maps a process's public base URL to its admin listener's (metrics, the detailed
// /ready), as its serving line says.
var admins sync.Map

// served records the admin listener of the process whose serving line is line, and returns
// its public base URL.
func served(line string) string {
	m := servingLine.FindStringSubmatch(line)
	base := "http://127.0.0.1:" + m[2]
	if a := apptest.AdminURL(m[0]); a != "" {
		admins.Store(base, a)
	}
	return base
}

// adminOf returns the admin listener's base URL of the process serving at base.
func adminOf(t *testing.T, base string) string {
	t.Helper()
	a, ok := admins.Load(base)
	if !ok {
		t.Fatalf("%s: no admin listener in its serving line", base)
	}
	return a.(string)
}

// startProc runs the binary bin as name with exactly env (plus PATH) and returns once it logs
// that it serves. It gets SIGTERM when the test ends and must exit 0; its output is shown if
// the test failed.
func startProc(t *testing.T, name, bin string, env map[string]string) *proc {
	t.Helper()
	p := spawn(t, name, bin, env)
	p.waitServing(t)
	return p
}

// spawn starts the binary as startProc does, with args, without waiting.
func spawn(t *testing.T, name, bin string, env map[string]string, args ...string) *proc {
	t.Helper()
	return &proc{Process: apptest.Start(t, name, exec.Command(bin, args...), env)}
}

// waitServing waits until p logs that it serves, and sets its URL and Issuer.
func (p *proc) waitServing(t *testing.T) {
	t.Helper()
	name := p.Name
	deadline := time.Now().Add(60 * time.Second)
	for {
		if m := servingLine.FindStringSubmatch(p.Out.String()); m != nil {
			p.URL = served(m[0])
			if im := issuerAttr.FindStringSubmatch(m[0]); im != nil {
				p.Issuer = im[1]
			}
			return
		}
		select {
		case <-p.Exited():
			t.Fatalf("%s exited before serving: %v\n%s", name, p.Err(), apptest.Tail(p.Out.String(), 30))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s logged no serving line within 60s:\n%s", name, apptest.Tail(p.Out.String(), 30))
		}
	}
}

// running fails t if the process has exited: recovery must not need a restart.
func (p *proc) running(t *testing.T) {
	t.Helper()
	select {
	case <-p.Exited():
		t.Fatalf("%s exited (%v); it must ride out the outage\n%s", p.Name, p.Err(), apptest.Tail(p.Out.String(), 30))
	default:
	}
}

// runCmd runs bin with args (args[0] is its name) and exactly env (plus PATH) to completion,
// killing it after a minute, and returns its output and error.
func runCmd(t *testing.T, bin string, env map[string]string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args[1:]...)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// authEnv is what every authd of a topology gets: port 0, the shared secrets, limits that
// the tests do not trip unless they mean to.
func authEnv() map[string]string {
	return map[string]string{
		"PORT":                           "0",
		"KEYGATE_REFRESH_SECRET":         refreshSecret,
		"KEYGATE_KEK":                    kek,
		"KEYGATE_LOGIN_LIMIT_IP":         "1000000/1h", // every test client is 127.0.0.1
		"KEYGATE_LOGIN_FAILURES_CLIENT":  "100000/1h",
		"KEYGATE_LOGIN_FAILURES_ACCOUNT": "100000/1h",
		"KEYGATE_REGISTER_LIMIT_ACCOUNT": "100000/1h", // concurrent registration races twelve spellings of one address
	}
}

// balancer is a round-robin HTTP load balancer in front of authd replicas: the issuer URL
// that tokens name and that microservices discover the JWKS from.
type balancer struct {
	URL      string
	backends atomic.Pointer[[]*url.URL]
	next     atomic.Uint64
}

// newBalancer listens on a free port; set gives it its backends.
func newBalancer(t *testing.T) *balancer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &balancer{URL: "http://" + ln.Addr().String()}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			bs := *b.backends.Load()
			r.SetURL(bs[b.next.Add(1)%uint64(len(bs))])
		},
		ErrorLog: nil,
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if bs := b.backends.Load(); bs == nil || len(*bs) == 0 {
			http.Error(w, "no backends", http.StatusBadGateway)
			return
		}
		proxy.ServeHTTP(w, r)
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return b
}

// set replaces the backends.
func (b *balancer) set(t *testing.T, procs ...*proc) {
	t.Helper()
	var us []*url.URL
	for _, p := range procs {
		u, err := url.Parse(p.URL)
		if err != nil {
			t.Fatal(err)
		}
		us = append(us, u)
	}
	b.backends.Store(&us)
}

// reply is one HTTP answer, read whole.
type reply struct {
	status int
	header http.Header
	body   []byte
	err    error // transport error: status is 0
}

func (r reply) String() string {
	if r.err != nil {
		return "error " + r.err.Error()
	}
	return fmt.Sprintf("%d %s", r.status, bytes.TrimSpace(r.body))
}

// str returns a string member of the JSON body, failing t if there is none.
func (r reply) str(t *testing.T, name string) string {
	t.Helper()
	var m map[string]any
	_ = json.Unmarshal(r.body, &m)
	s, _ := m[name].(string)
	if s == "" {
		t.Fatalf("no %q in %s", name, r)
	}
	return s
}

// code returns the problem document's code, or "".
func (r reply) code() string {
	var p struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(r.body, &p)
	return p.Code
}

// client talks to the topology over HTTP.
type client struct{ http *http.Client }

func newClient(conns int) *client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = conns, conns
	return &client{http: &http.Client{Timeout: 15 * time.Second, Transport: tr}}
}

// do sends a request; body is a JSON string (sent as application/json), url.Values (a form)
// or nil. A transport error is returned in the reply, not fatal: an outage is under test.
func (c *client) do(t *testing.T, method, target, bearer string, body any) reply {
	t.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case string:
		rd, ct = strings.NewReader(b), "application/json"
	case url.Values:
		rd, ct = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	default:
		t.Fatalf("body of type %T", body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, target, rd)
	if err != nil {
		t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return reply{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil && !errors.Is(err, io.EOF) {
		return reply{err: err}
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

// want fails t unless r has status.
func want(t *testing.T, r reply, status int, what string) reply {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: got %s, want status %d", what, r, status)
	}
	return r
}

// wantUnavailable fails t unless r is a 503 with a Retry-After of at least one second: what a
// client must see while a store is down (never 400 or 401, which would log users out).
func wantUnavailable(t *testing.T, r reply, what string) {
	t.Helper()
	if r.status != http.StatusServiceUnavailable {
		t.Fatalf("%s: got %s, want 503 with Retry-After", what, r)
	}
	if ra := r.header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Fatalf("%s: 503 with Retry-After %q, want a positive delay", what, ra)
	}
}

func credentials(email, password string) string {
	b, _ := json.Marshal(map[string]string{"email": email, "password": password})
	return string(b)
}

// tokens is what login and refresh answer.
type tokens struct{ access, refresh string }

func (c *client) register(t *testing.T, base, email, password string) reply {
	t.Helper()
	return c.do(t, "POST", base+"/register", "", credentials(email, password))
}

func (c *client) login(t *testing.T, base, email, password string) reply {
	t.Helper()
	return c.do(t, "POST", base+"/login", "", credentials(email, password))
}

func (c *client) refresh(t *testing.T, base, rt string) reply {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"refresh_token": rt})
	return c.do(t, "POST", base+"/refresh", "", string(b))
}

// tokensOf reads the pair of a 200 login or refresh answer.
func tokensOf(t *testing.T, r reply, what string) tokens {
	t.Helper()
	want(t, r, http.StatusOK, what)
	return tokens{access: r.str(t, "access_token"), refresh: r.str(t, "refresh_token")}
}

// signup registers email on base and logs it in.
func (c *client) signup(t *testing.T, base, email, password string) tokens {
	t.Helper()
	want(t, c.register(t, base, email, password), http.StatusCreated, "register "+email)
	return tokensOf(t, c.login(t, base, email, password), "login "+email)
}

// orders is the status a microservice answers GET /api/orders with for an access token.
func (c *client) orders(t *testing.T, base, at string) reply {
	t.Helper()
	return c.do(t, "GET", base+"/api/orders", at, nil)
}

// ready returns the detailed /ready's status code, its overall status (ok, degraded,
// unavailable) and its checks by name, from the admin listener of the process at base.
func (c *client) ready(t *testing.T, base string) (int, string, map[string]check) {
	t.Helper()
	r := c.do(t, "GET", adminOf(t, base)+"/ready", "", nil)
	var doc struct {
		Status string           `json:"status"`
		Checks map[string]check `json:"checks"`
	}
	_ = json.Unmarshal(r.body, &doc)
	return r.status, doc.Status, doc.Checks
}

// check is one /ready check.
type check struct {
	Status string `json:"status"` // ok, degraded, fail
	Error  string `json:"error"`
}

// waitReady waits until every base answers /ready with 200 and status ok: whole, not
// degraded.
func (c *client) waitReady(t *testing.T, within time.Duration, bases ...string) {
	t.Helper()
	for _, base := range bases {
		apptest.Eventually(t, within, base+"/ready answers 200 ok", func() bool {
			code, status, _ := c.ready(t, base)
			return code == http.StatusOK && status == "ok"
		})
	}
}

// wantDegraded fails t unless base answers /ready with 200 "degraded" (it serves what it can
// and must not be pulled from the load balancer) and a check that is not ok and whose name or
// error contains one of words.
func (c *client) wantDegraded(t *testing.T, base, what string, words ...string) {
	t.Helper()
	code, status, checks := c.ready(t, base)
	if code != http.StatusOK || status != "degraded" || !failing(checks, words...) {
		t.Errorf("%s /ready: %d %q %+v, want 200 \"degraded\" naming %v", what, code, status, checks, words)
	}
}

// failing reports whether a check that is not ok names one of words in its name or error.
func failing(checks map[string]check, words ...string) bool {
	for name, ch := range checks {
		if ch.Status == "ok" {
			continue
		}
		s := strings.ToLower(name + " " + ch.Error)
		for _, w := range words {
			if strings.Contains(s, w) {
				return true
			}
		}
	}
	return false
}

// metric returns the sum of the samples of metric name whose labels include every label
// (e.g. `trigger="push"`) in the /metrics of the process at base (on its admin listener).
func (c *client) metric(t *testing.T, base, name string, labels ...string) float64 {
	t.Helper()
	admin := adminOf(t, base)
	r := want(t, c.do(t, "GET", admin+"/metrics", "", nil), http.StatusOK, admin+"/metrics")
	var sum float64
	for _, line := range strings.Split(string(r.body), "\n") {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (rest != "" && rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		match := true
		for _, l := range labels {
			match = match && strings.Contains(rest, l)
		}
		if !match {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(rest[strings.LastIndexByte(rest, ' ')+1:], &v); err == nil {
			sum += v
		}
	}
	return sum
}

// jwks is one JWKS answer: the document, its ETag and the kids it lists.
type jwks struct {
	body []byte
	etag string
	kids []string
}

func (c *client) jwks(t *testing.T, base string) jwks {
	t.Helper()
	r := want(t, c.do(t, "GET", base+"/.well-known/jwks.json", "", nil), http.StatusOK, base+" JWKS")
	var doc struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatalf("%s JWKS: %v: %s", base, err, r.body)
	}
	j := jwks{body: r.body, etag: r.header.Get("ETag")}
	for _, k := range doc.Keys {
		j.kids = append(j.kids, k.Kid)
	}
	return j
}

// kidOf returns the kid in a compact JWS's header.
func kidOf(t *testing.T, jws string) string {
	t.Helper()
	h, _, _ := strings.Cut(jws, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatalf("token header: %v", err)
	}
	var hdr struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(b, &hdr); err != nil {
		t.Fatalf("token header: %v", err)
	}
	return hdr.Kid
}

// redisEnv is the Redis setting of every process of a topology on r.
func redisEnv(r *containers.Redis) map[string]string {
	return map[string]string{"REDIS_ADDR": r.Addr}
}
