package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/keygate/keygate/test/apptest"
	"github.com/keygate/keygate/test/containers"
)

// pythonService is a service that is not Go: it answers every request with the X-Keygate-*
// headers it received (names in lower case) and counts the requests that reached it
// (GET /_count, asked directly, not through nginx).
const pythonService = `
import http.server, json, threading
hits = 0
lock = threading.Lock()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    def answer(self):
        global hits
        if self.path == "/_count":
            body = json.dumps({"hits": hits}).encode()
        else:
            with lock:
                hits += 1
            seen = {k.lower(): v for k, v in self.headers.items() if k.lower().startswith("x-keygate-")}
            seen["path"] = self.path
            body = json.dumps(seen).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_GET = do_POST = answer
    def log_message(self, *args):
        pass
s = http.server.ThreadingHTTPServer(("0.0.0.0", 0), H)
print("python listening on", s.server_address[1], flush=True)
s.serve_forever()
`

var pythonPort = regexp.MustCompile(`python listening on (\d+)`)

// gatewayHost is the name by which a container reaches this host (Docker's host-gateway).
const gatewayHost = "host.docker.internal"

// startNginx runs deploy/nginx/auth-request/nginx.conf in a container, its upstreams pointed
// at guardd and the service on this host, and returns its base URL.
func startNginx(t *testing.T, guarddPort, servicePort string) string {
	t.Helper()
	img := containers.Image(containers.EnvNginxImage, containers.DefaultNginxImage)
	conf, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy/nginx/auth-request/nginx.conf"))
	if err != nil {
		t.Fatal(err)
	}
	rendered := strings.Replace(string(conf), "server 127.0.0.1:8083;", "server "+gatewayHost+":"+guarddPort+";", 1)
	rendered = strings.Replace(rendered, "server 127.0.0.1:8000;", "server "+gatewayHost+":"+servicePort+";", 1)
	if rendered == string(conf) {
		t.Fatal("the nginx example no longer names guardd at 127.0.0.1:8083 and the service at 127.0.0.1:8000")
	}
	path := filepath.Join(t.TempDir(), "nginx.conf")
	writeFile(t, path, rendered)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	c, err := testcontainers.Run(ctx, img,
		testcontainers.WithFiles(testcontainers.ContainerFile{HostFilePath: path, ContainerFilePath: "/etc/nginx/keygate/nginx.conf", FileMode: 0o644}),
		testcontainers.WithCmd("nginx", "-c", "/etc/nginx/keygate/nginx.conf", "-g", "daemon off;"),
		testcontainers.WithExposedPorts("8080/tcp"),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) { hc.ExtraHosts = []string{gatewayHost + ":host-gateway"} }),
		testcontainers.WithWaitStrategy(wait.ForHTTP("/_nginx/health").WithPort("8080/tcp").WithStartupTimeout(time.Minute)),
	)
	if c != nil {
		t.Cleanup(func() { _ = testcontainers.TerminateContainer(c) })
	}
	if err != nil {
		t.Fatalf("start nginx (%s): %v", img, err)
	}
	base, err := c.PortEndpoint(ctx, "8080/tcp", "http")
	if err != nil {
		t.Fatal(err)
	}
	return base
}

// TestPythonServiceBehindNginxAndGuardd puts a Python http.server behind nginx auth_request
// and guardd, next to ordersd on the same authd and Redis: a valid token reaches the service
// with the caller's identity (and a client's own X-Keygate-* headers are replaced); requests
// without a valid token never reach it; logged-out tokens are refused through nginx within
// the bound ordersd keeps (p50/p99 over many logouts, measured in the same run); with guardd
// gone nginx answers 503, never the service.
func TestPythonServiceBehindNginxAndGuardd(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not found")
	}
	s := startStack(t, "guardd", "ordersd")
	guardd, guarddURL := serve(t, "guardd", filepath.Join(s.bins, "guardd"), s.verifierEnv("pyservice"))
	_, ordersURL := serve(t, "ordersd", filepath.Join(s.bins, "ordersd"), s.verifierEnv("orders"))
	py := start(t, "python", "/usr/bin/python3", nil, "-c", pythonService)
	pyPort := py.waitFor(t, pythonPort)
	pyURL := "http://127.0.0.1:" + pyPort
	nginx := startNginx(t, guarddURL[strings.LastIndex(guarddURL, ":")+1:], pyPort)
	s.waitReady(t, guarddURL+"/ready")
	s.waitReady(t, ordersURL+"/ready")
	hits := func() int {
		var c struct{ Hits int }
		r := s.do(t, "GET", pyURL+"/_count", "", nil)
		_ = json.Unmarshal(r.body, &c)
		return c.Hits
	}

	access, sub := s.session(t)
	t.Run("a valid token reaches the service with the identity", func(t *testing.T) {
		r := s.do(t, "POST", nginx+"/api/things?x=1", access, nil, "X-Keygate-Subject", "admin", "X-Keygate-Roles", "admin")
		var seen map[string]string
		if r.status != http.StatusOK || json.Unmarshal(r.body, &seen) != nil {
			t.Fatalf("through nginx: %d %s", r.status, r.body)
		}
		if seen["x-keygate-subject"] != sub || seen["x-keygate-session"] == "" || seen["x-keygate-roles"] == "admin" ||
			seen["x-keygate-audience"] == "" || seen["x-keygate-expires"] == "" || seen["path"] != "/api/things?x=1" {
			t.Errorf("the service saw %v, want subject %s, a session, expiry and audience, and not the client's own headers", seen, sub)
		}
	})
	t.Run("refused requests never reach the service", func(t *testing.T) {
		before := hits()
		for _, tc := range []struct{ bearer, auth string }{{"", "Bearer"}, {"forged", `Bearer error="invalid_token"`}} {
			r := s.do(t, "GET", nginx+"/api/things", tc.bearer, nil)
			if r.status != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") != tc.auth {
				t.Errorf("token %q: %d WWW-Authenticate %q, want 401 %q", tc.bearer, r.status, r.header.Get("WWW-Authenticate"), tc.auth)
			}
		}
		if n := hits() - before; n != 0 {
			t.Errorf("%d refused requests reached the service", n)
		}
	})

	t.Run("logout bound, guardd through nginx against ordersd", func(t *testing.T) {
		n := 200
		email := fmt.Sprintf("bound-%d@example.com", time.Now().UnixNano())
		if r := s.do(t, "POST", s.auth+"/register", "", map[string]string{"email": email, "password": "correct horse battery"}); r.status != http.StatusCreated {
			t.Fatalf("register: %d", r.status)
		}
		tokens := make([]string, n)
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				for i := w; i < n; i += 4 {
					tokens[i], _ = s.login(t, email)
				}
			})
		}
		wg.Wait()
		var viaGuardd, viaOrders []time.Duration
		refused := func(url, tok string, out time.Time, into *[]time.Duration, mu *sync.Mutex) {
			for s.do(t, "GET", url, tok, nil).status != http.StatusUnauthorized {
				if time.Since(out) > 2*time.Second {
					t.Errorf("%s still accepts a logged-out token 2s after the logout", url)
					return
				}
			}
			mu.Lock()
			*into = append(*into, time.Since(out))
			mu.Unlock()
		}
		var mu sync.Mutex
		for _, tok := range tokens {
			if a, b := s.do(t, "GET", nginx+"/api/x", tok, nil).status, s.do(t, "GET", ordersURL+"/api/orders", tok, nil).status; a != 200 || b != 200 {
				t.Fatalf("before logout: nginx %d, ordersd %d", a, b)
			}
			out := s.logout(t, tok)
			var wg sync.WaitGroup
			wg.Go(func() { refused(nginx+"/api/x", tok, out, &viaGuardd, &mu) })
			wg.Go(func() { refused(ordersURL+"/api/orders", tok, out, &viaOrders, &mu) })
			wg.Wait()
		}
		if t.Failed() {
			return
		}
		g50, g99 := apptest.Percentile(viaGuardd, 0.5), apptest.Percentile(viaGuardd, 0.99)
		o50, o99 := apptest.Percentile(viaOrders, 0.5), apptest.Percentile(viaOrders, 0.99)
		t.Logf("logout answered -> refused, %d logouts: guardd via nginx p50 %v p99 %v; ordersd p50 %v p99 %v",
			n, g50.Round(10*time.Microsecond), g99.Round(10*time.Microsecond), o50.Round(10*time.Microsecond), o99.Round(10*time.Microsecond))
		// The same feed and the same Redis: guardd's bound is ordersd's, plus one more hop.
		if g99 > 2*o99+20*time.Millisecond {
			t.Errorf("guardd's p99 %v is outside ordersd's bound (p99 %v)", g99, o99)
		}
	})

	t.Run("latency per request, same run", func(t *testing.T) {
		tok, _ := s.session(t)
		measure := func(url, bearer string) time.Duration {
			var ds []time.Duration
			for range 300 {
				start := time.Now()
				if r := s.do(t, "GET", url, bearer, nil); r.status != http.StatusOK {
					t.Fatalf("%s: %d", url, r.status)
				}
				ds = append(ds, time.Since(start))
			}
			return apptest.Percentile(ds, 0.5)
		}
		t.Logf("p50 of 300 sequential requests: ordersd (in-process middleware) %v; guardd /verify alone %v; python direct %v; nginx+guardd+python %v",
			measure(ordersURL+"/api/orders", tok), measure(guarddURL+"/verify", tok), measure(pyURL+"/api/x", ""), measure(nginx+"/api/x", tok))
	})

	t.Run("guardd gone: 503, never the service", func(t *testing.T) {
		guardd.stop(t)
		before := hits()
		if r := s.do(t, "GET", nginx+"/api/x", access, nil); r.status != http.StatusServiceUnavailable {
			t.Errorf("with guardd gone: %d, want 503", r.status)
		}
		if hits() != before {
			t.Error("a request reached the service with guardd gone")
		}
	})
}
