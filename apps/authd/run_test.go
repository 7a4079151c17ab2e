package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/test/apptest"
)

func TestRunRefusesMemoryWithoutDevMode(t *testing.T) {
	err := run(t.Context(), []string{"authd"}, func(k string) string { return map[string]string{"PORT": "0"}[k] }, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "KEYGATE_DEV") {
		t.Errorf("run = %v, want a refusal naming KEYGATE_DEV", err)
	}
}

func TestRunRejectsArguments(t *testing.T) {
	err := run(t.Context(), []string{"authd", "--port=1"}, func(string) string { return "" }, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "environment variables") {
		t.Errorf("run = %v, want a pointer to the environment variables", err)
	}
}

var (
	servingAddr = regexp.MustCompile(`"msg":"authd: serving","addr":"[^"]*:(\d+)"`)
	adminAddr   = regexp.MustCompile(`"msg":"authd: serving","addr":"[^"]*","admin":"[^"]*:(\d+)"`)
)

// TestRunOnPortZero: the real wiring starts on a free port, its issuer names that port, and
// it stops cleanly when the context ends.
func TestRunOnPortZero(t *testing.T) {
	env := map[string]string{"PORT": "0", "KEYGATE_DEV": "1"}
	out := &apptest.Output{}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"authd"}, func(k string) string { return env[k] }, out) }()

	var port string
	deadline := time.Now().Add(15 * time.Second)
	for port == "" {
		if m := servingAddr.FindStringSubmatch(out.String()); m != nil {
			port = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("authd did not start:\n%s", out)
		}
		time.Sleep(10 * time.Millisecond)
	}
	base := "http://localhost:" + port
	resp, err := http.Get(base + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Issuer string `json:"issuer"`
	}
	err = json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if err != nil || doc.Issuer != base {
		t.Errorf("issuer = %q (%v), want %q", doc.Issuer, err, base)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run after cancel = %v, want nil", err)
	}
	if !strings.Contains(out.String(), "dev mode") {
		t.Error("no dev-mode warning in the log")
	}
}

// start runs authd with env until the test ends and returns its base URL.
func start(t *testing.T, env map[string]string) (string, *apptest.Output) {
	t.Helper()
	base, _, out := startAdmin(t, env)
	return base, out
}

// startAdmin runs authd with env until the test ends and returns its base URL and its admin
// listener's.
func startAdmin(t *testing.T, env map[string]string) (string, string, *apptest.Output) {
	t.Helper()
	out := &apptest.Output{}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"authd"}, func(k string) string { return env[k] }, out) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		if m := servingAddr.FindStringSubmatch(out.String()); m != nil {
			admin := ""
			if a := adminAddr.FindStringSubmatch(out.String()); a != nil {
				admin = "http://localhost:" + a[1]
			}
			return "http://localhost:" + m[1], admin, out
		}
		select {
		case err := <-done:
			t.Fatalf("authd stopped: %v\n%s", err, out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("authd did not start:\n%s", out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRunRedisDown: authd on the Redis profile with Redis unreachable starts (the key ring is
// in memory here), answers login and register with 503 and Retry-After (never 401 or
// invalid_grant), reports Redis down on /ready and in keygate_dependency_up, and still serves
// its JWKS.
func TestRunRedisDown(t *testing.T) {
	redis := apptest.ClosedAddr(t)
	base, admin, out := startAdmin(t, map[string]string{"PORT": "0", "KEYGATE_DEV": "1", "REDIS_ADDR": redis})
	if !strings.Contains(out.String(), "without a database") {
		t.Errorf("no warning about running without a database:\n%s", out)
	}
	for _, path := range []string{"/register", "/login"} {
		resp, err := http.Post(base+path, "application/json",
			strings.NewReader(`{"email":"a@example.com","password":"correct horse battery"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s: %d Retry-After %q, want 503 with Retry-After", path, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
	resp, err := http.Get(base + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("JWKS: %d, want 200 with Redis down", resp.StatusCode)
	}
	var ready struct {
		Status string
		Checks map[string]struct{ Status string }
	}
	resp, err = http.Get(admin + "/ready")
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(resp.Body).Decode(&ready)
	resp.Body.Close()
	if err != nil || ready.Checks["redis"].Status != "degraded" {
		t.Errorf("admin /ready %d %+v (%v), want redis degraded", resp.StatusCode, ready, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(admin + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), `keygate_dependency_up{dependency="redis"} 0`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics never said redis is down:\n%s", b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRunInternalsOnTheAdminListenerOnly: with Redis down, the public port says only whether
// authd is ready (no dependency, address or error) and serves no metrics; the admin listener
// serves the metrics and the detailed report naming Redis's address.
func TestRunInternalsOnTheAdminListenerOnly(t *testing.T) {
	redis := apptest.ClosedAddr(t)
	base, admin, _ := startAdmin(t, map[string]string{"PORT": "0", "KEYGATE_DEV": "1", "REDIS_ADDR": redis,
		"KEYGATE_ADMIN_ADDR": "127.0.0.1:0"})
	if admin == "" {
		t.Fatal("authd logged no admin listener")
	}
	code, body, hdr := apptest.Get(t, base+"/ready")
	if code != http.StatusServiceUnavailable || strings.TrimSpace(body) != `{"status":"not ready"}` || hdr.Get("Retry-After") == "" {
		t.Errorf("public /ready = %d %q Retry-After %q, want 503 {\"status\":\"not ready\"} with Retry-After", code, body, hdr.Get("Retry-After"))
	}
	for _, leak := range []string{redis, "redis", "refused", "dial"} {
		if strings.Contains(body, leak) {
			t.Errorf("public /ready shows %q: %s", leak, body)
		}
	}
	if code, _, _ := apptest.Get(t, base+"/metrics"); code != http.StatusNotFound {
		t.Errorf("public /metrics = %d, want 404", code)
	}
	code, body, _ = apptest.Get(t, admin+"/ready")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, redis) || !strings.Contains(body, `"redis":{"status":"degraded"`) {
		t.Errorf("admin /ready = %d %s, want 503 naming redis at %s", code, body, redis)
	}
	code, body, _ = apptest.Get(t, admin+"/metrics")
	for _, name := range []string{"keygate_build_info", "keygate_signing_key_age_seconds", "keygate_dependency_up"} {
		if code != http.StatusOK || !strings.Contains(body, name) {
			t.Errorf("admin /metrics = %d without %s", code, name)
		}
	}
	if code, _, _ := apptest.Get(t, admin+"/health"); code != http.StatusOK {
		t.Errorf("admin /health = %d, want 200", code)
	}
}

// TestRunAdminAddrTaken: a taken admin address stops authd with the listener and the address
// named; KEYGATE_ADMIN_ADDR=off serves no admin listener.
func TestRunAdminAddrTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	env := map[string]string{"PORT": "0", "KEYGATE_DEV": "1", "KEYGATE_ADMIN_ADDR": taken.Addr().String()}
	err = run(t.Context(), []string{"authd"}, func(k string) string { return env[k] }, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "admin listener (KEYGATE_ADMIN_ADDR) "+taken.Addr().String()) {
		t.Errorf("run = %v, want a failure naming the admin listener and %s", err, taken.Addr())
	}
	_, _, out := startAdmin(t, map[string]string{"PORT": "0", "KEYGATE_DEV": "1", "KEYGATE_ADMIN_ADDR": "off"})
	if !strings.Contains(out.String(), `"admin":"off"`) {
		t.Errorf("KEYGATE_ADMIN_ADDR=off: serving line does not say the admin listener is off:\n%s", out)
	}
}

// TestRunMemoryReady: the memory profile is ready with nothing degraded (the admin report),
// and the public port says ready.
func TestRunMemoryReady(t *testing.T) {
	base, admin, _ := startAdmin(t, map[string]string{"PORT": "0", "KEYGATE_DEV": "1"})
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(admin + "/ready")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK && strings.Contains(string(b), `"status":"ok"`) {
			if code, body, _ := apptest.Get(t, base+"/ready"); code != http.StatusOK || strings.TrimSpace(body) != `{"status":"ready"}` {
				t.Errorf("public /ready = %d %s, want 200 {\"status\":\"ready\"}", code, body)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/ready: %d %s", resp.StatusCode, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRunDatabaseDownAtStart: with the database unreachable authd stops at start with one
// clear line (its key ring lives there; the orchestrator restarts it).
func TestRunDatabaseDownAtStart(t *testing.T) {
	host, port, _ := net.SplitHostPort(apptest.ClosedAddr(t))
	for _, driver := range []string{"mysql", "postgres"} {
		t.Run(driver, func(t *testing.T) {
			env := map[string]string{"PORT": "0", "REDIS_ADDR": apptest.ClosedAddr(t), "DB_DRIVER": driver, "DB_HOST": host,
				"DB_PORT": port, "DB_NAME": "keygate", "DB_USER": "keygate",
				"KEYGATE_REFRESH_SECRET": strings.Repeat("s", 32), "KEYGATE_KEK": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}
			err := run(t.Context(), []string{"authd"}, func(k string) string { return env[k] }, &bytes.Buffer{})
			// The adapter's prefix shows the profile's injector opened the right driver.
			if err == nil || !strings.Contains(err.Error(), "database unreachable at start: "+driver+":") {
				t.Errorf("run = %v, want a stop naming the unreachable %s database", err, driver)
			}
		})
	}
}
