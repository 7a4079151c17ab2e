// Package apptest holds what tests need to run keygate's binaries and verifiers: a buffer a running app can
// log into while the test reads it, and a stand-in issuer (Issuer).
package apptest

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// Output collects an app's log lines; safe for the app to write while the test reads.
type Output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

// String returns everything written so far.
func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// ClosedAddr returns a loopback address nothing listens on (a port that was free a moment
// ago), for a dependency that must be down.
func ClosedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// Get fetches url and returns the status, the body and the headers; a transport error fails
// the test.
func Get(t testing.TB, url string) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(b), resp.Header
}

// AdminURL returns the admin listener's base URL (http://127.0.0.1:port) from the serving
// line a keygate service logged in out (`"admin":"[::]:port"`), or "" when there is none.
func AdminURL(out string) string {
	if m := adminLine.FindStringSubmatch(out); m != nil {
		return "http://127.0.0.1:" + m[1]
	}
	return ""
}

var adminLine = regexp.MustCompile(`: serving","addr":"[^"]*","admin":"[^"]*:(\d+)"`)

// CheckInternalsHidden checks a keygate service that is not ready because the dependency at
// addr is down: on the public base, /ready is 503 {"status":"not ready"} with Retry-After and
// shows neither addr nor any error text, and /metrics is 404; on the admin listener, /ready
// is 503 and names addr, and /metrics serves keygate's metrics.
func CheckInternalsHidden(t testing.TB, base, admin, addr string) {
	t.Helper()
	if admin == "" {
		t.Fatal("the service logged no admin listener")
	}
	code, body, hdr := Get(t, base+"/ready")
	if code != http.StatusServiceUnavailable || strings.TrimSpace(body) != `{"status":"not ready"}` || hdr.Get("Retry-After") == "" {
		t.Errorf("public /ready = %d %q Retry-After %q, want 503 {\"status\":\"not ready\"} with Retry-After",
			code, body, hdr.Get("Retry-After"))
	}
	for _, leak := range []string{addr, "refused", "dial", "redis", "jwks"} {
		if strings.Contains(body, leak) {
			t.Errorf("public /ready shows %q: %s", leak, body)
		}
	}
	if code, _, _ := Get(t, base+"/metrics"); code != http.StatusNotFound {
		t.Errorf("public /metrics = %d, want 404", code)
	}
	if code, body, _ := Get(t, admin+"/ready"); code != http.StatusServiceUnavailable || !strings.Contains(body, addr) {
		t.Errorf("admin /ready = %d %s, want 503 naming %s", code, body, addr)
	}
	if code, body, _ := Get(t, admin+"/metrics"); code != http.StatusOK || !strings.Contains(body, "keygate_build_info") ||
		!strings.Contains(body, "keygate_token_validation_duration_seconds") {
		t.Errorf("admin /metrics = %d without keygate's metrics", code)
	}
}
