package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/keygate/keygate/test/containers"
)

const nginxConf = "deploy/nginx/nginx.conf"

var includeLine = regexp.MustCompile(`(?m)^\s*include\s+/etc/nginx/keygate/([^\s;]+);`)

func TestNginxConfigIsTheSameForComposeAndKubernetes(t *testing.T) {
	conf := readFile(t, nginxConf)
	if k8s := readFile(t, "deploy/k8s/base/nginx/nginx.conf"); !bytes.Equal(conf, k8s) {
		t.Errorf("deploy/k8s/base/nginx/nginx.conf differs from %s: copy it (kustomize reads files below the base only)", nginxConf)
	}
	var includes [][]string
	for _, inc := range includeLine.FindAllStringSubmatch(string(conf), -1) {
		if !strings.Contains(inc[1], "*") { // a glob may match nothing (realip*.conf)
			includes = append(includes, inc)
		}
	}
	if len(includes) != 3 {
		t.Fatalf("%s includes %d server lists, want authd, ordersd, paymentsd", nginxConf, len(includes))
	}
	for _, inc := range includes {
		for _, dir := range []string{"deploy/nginx/compose", "deploy/k8s/base/nginx"} {
			if _, err := os.Stat(filepath.Join(repoRoot(t), dir, inc[1])); err != nil {
				t.Errorf("%s includes %s, missing in %s", nginxConf, inc[1], dir)
			}
		}
	}
	// In Kubernetes, each list names its Service on the app's port: the base's for authd, the
	// demos component's for the demos (the base's lists for them hold one server marked down).
	for _, a := range Apps {
		if a.Port == 0 {
			continue
		}
		file := "deploy/k8s/base/nginx/" + a.Name + ".servers"
		if isDemo(a.Name) {
			file = "deploy/k8s/components/demos/nginx/" + a.Name + ".servers"
		}
		servers := serversIn(t, file)
		if len(servers) == 0 {
			t.Errorf("%s names no server", file)
		}
		for _, s := range servers {
			if want := fmt.Sprintf("%s:%d", a.Name, a.Port); s != want {
				t.Errorf("%s names %s, want the Service %s", file, s, want)
			}
		}
	}
}

func TestNginxConfigHasTheDirectivesThatMatter(t *testing.T) {
	conf := string(readFile(t, nginxConf))
	for _, want := range []string{
		"least_conn;", "keepalive 32;", "proxy_http_version 1.1;", `proxy_set_header Connection "";`,
		"proxy_next_upstream error timeout http_502 http_503;",
		"proxy_set_header X-Request-ID $keygate_request_id;", "add_header X-Request-ID $keygate_request_id always;",
		"proxy_set_header X-Forwarded-For", "location = /health", "client_max_body_size",
		"proxy_connect_timeout", "proxy_read_timeout",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("%s lacks %q", nginxConf, want)
		}
	}
	// non_idempotent only where a replay is harmless.
	for _, line := range strings.Split(conf, "\n") {
		if strings.Contains(line, "non_idempotent") && !strings.HasPrefix(strings.TrimSpace(line), "#") {
			if !strings.Contains(line, "proxy_next_upstream") {
				continue
			}
			i := strings.Index(conf, line)
			block := conf[strings.LastIndex(conf[:i], "location"):i]
			if !strings.Contains(block, "revoke|logout") {
				t.Errorf("%s: non_idempotent retries outside the revoke/logout location: %q", nginxConf, block)
			}
		}
	}
}

// TestNginxNeverReachesAnAdminListener: no nginx upstream of any deployment (compose,
// Kubernetes, the guardd sidecar) is an app's admin listener (metrics, the detailed /ready),
// and the edge configuration refuses the services' operational paths outright.
func TestNginxNeverReachesAnAdminListener(t *testing.T) {
	admin := map[string]bool{fmt.Sprint(guardd.AdminPort): true}
	for _, a := range Apps {
		if a.AdminPort != 0 {
			admin[fmt.Sprint(a.AdminPort)] = true
		}
	}
	server := regexp.MustCompile(`(?m)^\s*server\s+[^\s;]+:(\d+)`)
	var files []string
	for _, pattern := range []string{"deploy/nginx/*.conf", "deploy/nginx/*/*.conf", "deploy/nginx/*/*.servers",
		"deploy/k8s/*/nginx/*", "deploy/k8s/*/*/nginx/*", "deploy/k8s/examples/*/nginx.conf"} {
		m, err := filepath.Glob(filepath.Join(repoRoot(t), pattern))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	var servers int
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range server.FindAllStringSubmatch(string(b), -1) {
			servers++
			if admin[m[1]] {
				t.Errorf("%s: upstream %q is an admin listener", f, strings.TrimSpace(m[0]))
			}
		}
	}
	if servers < 5 {
		t.Errorf("found %d upstream servers in %d files; the globs miss the configuration", servers, len(files))
	}
	if conf := string(readFile(t, nginxConf)); !strings.Contains(conf, "location ~ ^/auth/(metrics|ready|health)$") {
		t.Errorf("%s does not refuse /auth/metrics, /auth/ready and /auth/health", nginxConf)
	}
}

// backend is a stand-in for one service behind nginx: it answers every request with what it
// received, and can answer 503 or stop listening.
type backend struct {
	name    string
	ln      net.Listener
	srv     *http.Server
	hits    atomic.Int32
	fail503 atomic.Bool
}

// seen is what a backend tells the client about the request it received.
type seen struct {
	Backend   string `json:"backend"`
	URI       string `json:"uri"`
	Method    string `json:"method"`
	RequestID string `json:"request_id"`
	XFF       string `json:"xff"`
	RealIP    string `json:"real_ip"`
	Host      string `json:"host"`
}

func startBackend(t *testing.T, name string) *backend {
	t.Helper()
	// All interfaces: nginx reaches it from its container through the bridge's gateway.
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{name: name, ln: ln}
	b.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Request-ID", "set-by-the-backend")
		if b.fail503.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(seen{
			Backend: name, URI: r.URL.RequestURI(), Method: r.Method, RequestID: r.Header.Get("X-Request-ID"),
			XFF: r.Header.Get("X-Forwarded-For"), RealIP: r.Header.Get("X-Real-IP"), Host: r.Host,
		})
	})}
	go func() { _ = b.srv.Serve(ln) }()
	t.Cleanup(func() { _ = b.srv.Close() })
	return b
}

func (b *backend) port() int { return b.ln.Addr().(*net.TCPAddr).Port }

// stop closes the listener: connections to it are refused from now on.
func (b *backend) stop() { _ = b.srv.Close() }

// needImage returns the image named by the variable env (default def) and makes sure it is
// present, pulling it once if not. An image that cannot be had skips the test (fails it with
// KEYGATE_REQUIRE_DOCKER=1).
func needImage(t *testing.T, env, def string) string {
	t.Helper()
	containers.RequireDocker(t)
	img := containers.Image(env, def)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		t.Fatalf("docker client: %v", err)
	}
	defer cli.Close()
	if _, err := cli.ImageInspect(ctx, img); err == nil {
		return img
	}
	r, err := cli.ImagePull(ctx, img, client.ImagePullOptions{})
	if err == nil {
		_, err = io.Copy(io.Discard, r)
		r.Close()
		if err == nil {
			_, err = cli.ImageInspect(ctx, img)
		}
	}
	if err == nil {
		return img
	}
	if os.Getenv(containers.EnvRequireDocker) == "1" {
		t.Fatalf("image %s cannot be had (%v) and %s=1; %s", img, err, containers.EnvRequireDocker, containers.HowToEnable)
	}
	t.Skipf("image %s cannot be had (%v); %s", img, err, containers.HowToEnable)
	return ""
}

// gatewayHost is the name by which a container reaches this host (Docker's host-gateway).
const gatewayHost = "host.docker.internal"

func TestNginxRoutesRetriesAndCarriesRequestIDs(t *testing.T) {
	img := needImage(t, containers.EnvNginxImage, containers.DefaultNginxImage)

	authd1, authd2 := startBackend(t, "authd-1"), startBackend(t, "authd-2")
	orders, payments := startBackend(t, "ordersd-1"), startBackend(t, "paymentsd-1")

	// The real nginx.conf, with server lists pointing at the backends on this host.
	// max_fails=0 keeps every backend eligible, so each case below sees the same topology.
	dir := t.TempDir()
	files := map[string]string{
		"authd.servers": fmt.Sprintf("server %s:%d max_fails=0;\nserver %s:%d max_fails=0;\n",
			gatewayHost, authd1.port(), gatewayHost, authd2.port()),
		"ordersd.servers":   fmt.Sprintf("server %s:%d max_fails=0;\n", gatewayHost, orders.port()),
		"paymentsd.servers": fmt.Sprintf("server %s:%d max_fails=0;\n", gatewayHost, payments.port()),
	}
	var cfiles []testcontainers.ContainerFile
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		cfiles = append(cfiles, testcontainers.ContainerFile{HostFilePath: p, ContainerFilePath: "/etc/nginx/keygate/" + name, FileMode: 0o644})
	}
	root := repoRoot(t)
	cfiles = append(cfiles, testcontainers.ContainerFile{HostFilePath: filepath.Join(root, nginxConf), ContainerFilePath: "/etc/nginx/keygate/nginx.conf", FileMode: 0o644})
	// The compose and Kubernetes server lists too, for nginx -t.
	for _, variant := range []struct{ name, dir string }{{"compose", "deploy/nginx/compose"}, {"k8s", "deploy/k8s/base/nginx"}} {
		for name := range files {
			cfiles = append(cfiles, testcontainers.ContainerFile{HostFilePath: filepath.Join(root, variant.dir, name), ContainerFilePath: "/etc/nginx/" + variant.name + "/" + name, FileMode: 0o644})
		}
	}
	// prod: the Kubernetes lists and prod's realip.conf.
	for name := range files {
		cfiles = append(cfiles, testcontainers.ContainerFile{HostFilePath: filepath.Join(root, "deploy/k8s/base/nginx", name), ContainerFilePath: "/etc/nginx/prod/" + name, FileMode: 0o644})
	}
	cfiles = append(cfiles, testcontainers.ContainerFile{HostFilePath: filepath.Join(root, "deploy/k8s/overlays/prod/nginx/realip.conf"), ContainerFilePath: "/etc/nginx/prod/realip.conf", FileMode: 0o644})
	// Names of the compose and Kubernetes server lists, resolvable for nginx -t.
	hosts := []string{gatewayHost + ":host-gateway"}
	for _, h := range []string{"authd", "ordersd", "paymentsd", "authd-1", "authd-2", "ordersd-1", "ordersd-2", "paymentsd-1"} {
		hosts = append(hosts, h+":127.0.0.1")
	}

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	c, err := testcontainers.Run(ctx, img,
		testcontainers.WithFiles(cfiles...),
		testcontainers.WithCmd("nginx", "-c", "/etc/nginx/keygate/nginx.conf", "-g", "daemon off;"),
		testcontainers.WithExposedPorts("8080/tcp"),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) { hc.ExtraHosts = hosts }),
		testcontainers.WithWaitStrategy(wait.ForHTTP("/health").WithPort("8080/tcp").WithStartupTimeout(time.Minute)),
	)
	if c != nil {
		t.Cleanup(func() {
			if err := testcontainers.TerminateContainer(c); err != nil {
				t.Logf("terminate nginx: %v", err)
			}
		})
	}
	if err != nil {
		t.Fatalf("start nginx (%s): %v", img, err)
	}
	nx := &containers.Container{Container: c}

	t.Run("nginx -t accepts every variant", func(t *testing.T) {
		for _, variant := range []string{"keygate", "compose", "k8s", "prod"} {
			script := fmt.Sprintf("set -e; mkdir -p /tmp/t-%[1]s; sed 's#/etc/nginx/keygate/#/etc/nginx/%[1]s/#' /etc/nginx/keygate/nginx.conf >/tmp/t-%[1]s/nginx.conf; nginx -t -c /tmp/t-%[1]s/nginx.conf", variant)
			if code, out, err := nx.ExecCode("sh", "-c", script); err != nil || code != 0 {
				t.Errorf("nginx -t with the %s server lists: exit %d, %v:\n%s", variant, code, err, out)
			}
		}
	})

	base, err := c.PortEndpoint(ctx, "8080/tcp", "http")
	if err != nil {
		t.Fatal(err)
	}
	do := func(t *testing.T, method, path string, body io.Reader, header http.Header) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, base+path, body)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range header {
			req.Header[k] = v
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, b
	}
	decode := func(t *testing.T, b []byte) seen {
		t.Helper()
		var s seen
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatalf("backend answer %q: %v", b, err)
		}
		return s
	}
	resetHits := func(bs ...*backend) {
		for _, b := range bs {
			b.hits.Store(0)
			b.fail503.Store(false)
		}
	}

	t.Run("routes", func(t *testing.T) {
		tests := []struct {
			name, method, path string
			backends           []string
			uri                string
		}{
			{"auth prefix stripped", http.MethodGet, "/auth/.well-known/jwks.json", []string{"authd-1", "authd-2"}, "/.well-known/jwks.json"},
			{"auth query kept", http.MethodGet, "/auth/sessions?limit=5", []string{"authd-1", "authd-2"}, "/sessions?limit=5"},
			{"login", http.MethodPost, "/auth/login", []string{"authd-1", "authd-2"}, "/login"},
			{"revoke", http.MethodPost, "/auth/revoke", []string{"authd-1", "authd-2"}, "/revoke"},
			{"logout all", http.MethodPost, "/auth/logout/all", []string{"authd-1", "authd-2"}, "/logout/all"},
			{"orders collection", http.MethodPost, "/api/orders", []string{"ordersd-1"}, "/api/orders"},
			{"orders path kept", http.MethodPost, "/api/orders/42", []string{"ordersd-1"}, "/api/orders/42"},
			{"payments collection", http.MethodGet, "/api/payments", []string{"paymentsd-1"}, "/api/payments"},
			{"payments path kept", http.MethodGet, "/api/payments/7?x=1", []string{"paymentsd-1"}, "/api/payments/7?x=1"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				res, b := do(t, tt.method, tt.path, strings.NewReader("{}"), nil)
				if res.StatusCode != http.StatusOK {
					t.Fatalf("status %d, body %q", res.StatusCode, b)
				}
				s := decode(t, b)
				if !slices.Contains(tt.backends, s.Backend) || s.URI != tt.uri || s.Method != tt.method {
					t.Errorf("reached %s with %s %s, want one of %v with %s %s", s.Backend, s.Method, s.URI, tt.backends, tt.method, tt.uri)
				}
			})
		}
	})

	t.Run("nginx answers itself", func(t *testing.T) {
		resetHits(authd1, authd2, orders, payments)
		tests := []struct {
			name, method, path string
			body               string
			status             int
		}{
			{"health", http.MethodGet, "/health", "", http.StatusOK},
			{"authd metrics hidden", http.MethodGet, "/auth/metrics", "", http.StatusNotFound},
			{"authd readiness hidden", http.MethodGet, "/auth/ready", "", http.StatusNotFound},
			{"unknown path", http.MethodGet, "/admin", "", http.StatusNotFound},
			{"body too large", http.MethodPost, "/auth/register", strings.Repeat("x", 65*1024), http.StatusRequestEntityTooLarge},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				res, b := do(t, tt.method, tt.path, strings.NewReader(tt.body), nil)
				if res.StatusCode != tt.status {
					t.Errorf("status %d, want %d (body %q)", res.StatusCode, tt.status, b)
				}
			})
		}
		if n := authd1.hits.Load() + authd2.hits.Load() + orders.hits.Load() + payments.hits.Load(); n != 0 {
			t.Errorf("%d requests reached a backend, want 0", n)
		}
	})

	t.Run("request id and client address", func(t *testing.T) {
		hex32 := regexp.MustCompile(`^[0-9a-f]{32}$`)
		tests := []struct {
			name     string
			incoming string
			keep     bool
		}{
			{"none: nginx makes one", "", false},
			{"caller's id kept", "lb-7f3a.42", true},
			{"unsafe id replaced", "bad id\"", false},
			{"id the services would refuse replaced", "a:b", false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				h := http.Header{"X-Forwarded-For": {"203.0.113.9"}}
				if tt.incoming != "" {
					h.Set("X-Request-ID", tt.incoming)
				}
				res, b := do(t, http.MethodGet, "/auth/me", nil, h)
				s := decode(t, b)
				returned := res.Header.Values("X-Request-ID")
				if len(returned) != 1 || returned[0] != s.RequestID {
					t.Fatalf("response X-Request-ID %q, backend saw %q: want the same, once", returned, s.RequestID)
				}
				if tt.keep && s.RequestID != tt.incoming {
					t.Errorf("request id %q, want the caller's %q", s.RequestID, tt.incoming)
				}
				if !tt.keep && !hex32.MatchString(s.RequestID) {
					t.Errorf("request id %q, want nginx's 32 hex digits", s.RequestID)
				}
				if s.XFF == "" || strings.Contains(s.XFF, "203.0.113.9") || s.XFF != s.RealIP {
					t.Errorf("X-Forwarded-For %q, X-Real-IP %q: want the address nginx saw, not the client's claim", s.XFF, s.RealIP)
				}
			})
		}
	})

	t.Run("least_conn spreads over both authd", func(t *testing.T) {
		resetHits(authd1, authd2)
		var wg sync.WaitGroup
		for range 40 {
			wg.Go(func() { do(t, http.MethodGet, "/auth/me", nil, nil) })
		}
		wg.Wait()
		if authd1.hits.Load() == 0 || authd2.hits.Load() == 0 {
			t.Errorf("hits authd-1 %d, authd-2 %d: want both used", authd1.hits.Load(), authd2.hits.Load())
		}
	})

	t.Run("a 503 is retried on the other authd for GET and revoke, never for login", func(t *testing.T) {
		tests := []struct {
			name, method, path string
			wantHits           int32
		}{
			{"GET retried", http.MethodGet, "/auth/me", 2},
			{"revoke retried", http.MethodPost, "/auth/revoke", 2},
			{"logout retried", http.MethodPost, "/auth/logout", 2},
			{"login not replayed", http.MethodPost, "/auth/login", 1},
			{"refresh not replayed", http.MethodPost, "/auth/refresh", 1},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				resetHits(authd1, authd2)
				authd1.fail503.Store(true)
				authd2.fail503.Store(true)
				res, _ := do(t, tt.method, tt.path, strings.NewReader("{}"), nil)
				if res.StatusCode != http.StatusServiceUnavailable {
					t.Errorf("status %d, want 503", res.StatusCode)
				}
				if got := authd1.hits.Load() + authd2.hits.Load(); got != tt.wantHits {
					t.Errorf("authd received it %d times, want %d", got, tt.wantHits)
				}
			})
		}
		resetHits(authd1, authd2)
	})

	t.Run("one authd down: every request still answered", func(t *testing.T) {
		resetHits(authd1, authd2)
		authd2.stop()
		for i := range 10 {
			for _, q := range []struct{ method, path string }{{http.MethodPost, "/auth/login"}, {http.MethodGet, "/auth/me"}} {
				res, b := do(t, q.method, q.path, strings.NewReader("{}"), nil)
				if res.StatusCode != http.StatusOK {
					t.Fatalf("request %d %s %s with authd-2 down: status %d, body %q", i, q.method, q.path, res.StatusCode, b)
				}
				if s := decode(t, b); s.Backend != "authd-1" {
					t.Errorf("answered by %s, want authd-1", s.Backend)
				}
			}
		}
		if authd1.hits.Load() != 20 {
			t.Errorf("authd-1 received %d requests, want 20", authd1.hits.Load())
		}
	})
}
