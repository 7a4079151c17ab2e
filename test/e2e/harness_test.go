// Package e2e tests keygate end to end over HTTP: the dev stack (authd, orders and payments
// in one process on the memory adapters) is started through its real wiring on free ports,
// and every test talks to it only as a client would.
package e2e

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/apps/devstack/stack"
	"github.com/keygate/keygate/test/apptest"
)

// adminEmail and adminPassword are the bootstrap admin of every stack started here.
const (
	adminEmail    = "admin@example.com"
	adminPassword = "admin password for e2e"
)

// devStack is a running dev stack.
type devStack struct {
	auth, orders, payments string
	admin                  map[string]string // each service's admin listener (metrics, detailed /ready), by name
	http                   *http.Client
}

var (
	urlLine   = regexp.MustCompile(`(?m)^  (authd|orders|payments)\s+(http://\S+)$`)
	adminLine = regexp.MustCompile(`(?m)^  (authd|orders|payments)\s+(http://\S+)/metrics\s`)
)

// startStack runs the dev stack on PORT=0 with env added to the defaults and waits until
// every service is ready (keys fetched, revocation sets synced). It stops the stack, and
// checks it stopped cleanly, when the test ends.
func startStack(t *testing.T, env map[string]string) *devStack {
	t.Helper()
	vars := map[string]string{
		"PORT":                           "0",
		"KEYGATE_ADMIN_PASSWORD":         adminPassword,
		"KEYGATE_LOGIN_LIMIT_IP":         "100000/1h", // every test client is 127.0.0.1
		"KEYGATE_LOGIN_FAILURES_CLIENT":  "1000/1h",   // TestLoginRateLimits checks the limits
		"KEYGATE_LOGIN_FAILURES_ACCOUNT": "1000/1h",
		"KEYGATE_LOG_LEVEL":              "warn",
	}
	for k, v := range env {
		vars[k] = v
	}
	out := &apptest.Output{}
	done := make(chan error, 1)
	ctx, cancel := contextWithCancel(t)
	go func() { done <- stack.Run(ctx, []string{"devstack"}, func(k string) string { return vars[k] }, out) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("dev stack stopped with %v\n%s", err, out)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("dev stack did not stop within 20s")
		}
	})

	s := &devStack{http: defaultClient()}
	deadline := time.Now().Add(15 * time.Second)
	for {
		urls := map[string]string{}
		for _, m := range urlLine.FindAllStringSubmatch(out.String(), -1) {
			urls[m[1]] = m[2]
		}
		admin := map[string]string{}
		for _, m := range adminLine.FindAllStringSubmatch(out.String(), -1) {
			admin[m[1]] = m[2]
		}
		if len(urls) == 3 && len(admin) == 3 {
			s.auth, s.orders, s.payments, s.admin = urls["authd"], urls["orders"], urls["payments"], admin
			break
		}
		select {
		case err := <-done:
			t.Fatalf("dev stack exited before printing its URLs: %v\n%s", err, out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("dev stack printed no URLs within 15s:\n%s", out)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, base := range []string{s.auth, s.orders, s.payments} {
		apptest.Eventually(t, 15*time.Second, base+"/ready answers 200", func() bool {
			resp, err := s.http.Get(base + "/ready")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == 200
		})
	}
	return s
}

func defaultClient() *http.Client { return &http.Client{Timeout: 10 * time.Second} }

// reply is one HTTP answer, read whole.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body into a map.
func (r reply) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %s", err, r.body)
	}
	return m
}

// str returns a string member of the JSON body.
func (r reply) str(t *testing.T, name string) string {
	t.Helper()
	s, _ := r.json(t)[name].(string)
	if s == "" {
		t.Fatalf("no %q in %s", name, r.body)
	}
	return s
}

// call sends a request. body is a JSON string (sent as application/json), url.Values (sent
// as a form), or nil. headers are name, value pairs (a name may repeat).
func (s *devStack) call(t *testing.T, method, target, bearer string, body any, headers ...string) reply {
	t.Helper()
	var rd io.Reader
	contentType := ""
	switch b := body.(type) {
	case nil:
	case string:
		rd, contentType = strings.NewReader(b), "application/json"
	case url.Values:
		rd, contentType = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	case io.Reader:
		rd = b
	default:
		t.Fatalf("body of type %T", body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, target, rd)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	resp, err := s.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("%s %s: read body: %v", method, target, err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

// want fails the test unless r has status.
func want(t *testing.T, r reply, status int, what string) reply {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d, want %d; body %s", what, r.status, status, r.body)
	}
	return r
}

// tokens is what login and refresh answer.
type tokens struct{ access, refresh string }

func credentials(email, password string) string {
	b, _ := json.Marshal(map[string]string{"email": email, "password": password})
	return string(b)
}

func (s *devStack) register(t *testing.T, email, password string) string {
	t.Helper()
	r := want(t, s.call(t, "POST", s.auth+"/register", "", credentials(email, password)), 201, "register "+email)
	return r.str(t, "id")
}

func (s *devStack) login(t *testing.T, email, password string) tokens {
	t.Helper()
	r := want(t, s.call(t, "POST", s.auth+"/login", "", credentials(email, password)), 200, "login "+email)
	return tokens{access: r.str(t, "access_token"), refresh: r.str(t, "refresh_token")}
}

func (s *devStack) refresh(t *testing.T, rt string) reply {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"refresh_token": rt})
	return s.call(t, "POST", s.auth+"/refresh", "", string(b))
}

// ordersStatus is the status orders answers GET /api/orders with for access token at.
func (s *devStack) ordersStatus(t *testing.T, at string) int {
	t.Helper()
	return s.call(t, "GET", s.orders+"/api/orders", at, nil).status
}

// refusedSoon waits, briefly, until orders refuses at: a revocation must reach the
// microservice within milliseconds, pushed over the bus, not at the next poll.
func (s *devStack) refusedSoon(t *testing.T, at, why string) {
	t.Helper()
	apptest.Eventually(t, 500*time.Millisecond, "orders refuses the token after "+why, func() bool {
		return s.ordersStatus(t, at) == http.StatusUnauthorized
	})
}
