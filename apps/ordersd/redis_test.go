package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/test/apptest"
)

var servingAddr = regexp.MustCompile(`"msg":"ordersd: serving","addr":"[^"]*:(\d+)"`)

// TestRunRedisProfileWithRedisDown: with REDIS_ADDR set ordersd starts without a dev-mode
// warning even if Redis is down; until its revocation set was loaded once it is not ready
// (it would otherwise accept tokens revoked elsewhere). The public /ready says only that,
// without Redis's address or any error, and the public port serves no metrics; the admin
// listener's /ready and metrics name Redis.
func TestRunRedisProfileWithRedisDown(t *testing.T) {
	redis, issuer := apptest.ClosedAddr(t), apptest.ClosedAddr(t)
	env := map[string]string{"PORT": "0", "REDIS_ADDR": redis, "KEYGATE_ISSUER": "http://" + issuer, "KEYGATE_ADMIN_ADDR": "127.0.0.1:0"}
	out := &apptest.Output{}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"ordersd"}, func(k string) string { return env[k] }, out) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	var base string
	for deadline := time.Now().Add(10 * time.Second); base == ""; time.Sleep(10 * time.Millisecond) {
		if m := servingAddr.FindStringSubmatch(out.String()); m != nil {
			base = "http://localhost:" + m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("ordersd did not start:\n%s", out)
		}
	}
	if strings.Contains(out.String(), "dev mode") {
		t.Errorf("the Redis profile warned about dev mode:\n%s", out)
	}
	admin := apptest.AdminURL(out.String())
	if admin == "" {
		t.Fatalf("ordersd logged no admin listener:\n%s", out)
	}
	code, body, hdr := apptest.Get(t, base+"/ready")
	if code != http.StatusServiceUnavailable || strings.TrimSpace(body) != `{"status":"not ready"}` || hdr.Get("Retry-After") == "" {
		t.Errorf("public /ready = %d %q, want 503 {\"status\":\"not ready\"} with Retry-After", code, body)
	}
	for _, leak := range []string{redis, issuer, "redis", "refused"} {
		if strings.Contains(body, leak) {
			t.Errorf("public /ready shows %q: %s", leak, body)
		}
	}
	if code, _, _ := apptest.Get(t, base+"/metrics"); code != http.StatusNotFound {
		t.Errorf("public /metrics = %d, want 404", code)
	}
	resp, err := http.Get(admin + "/ready")
	if err != nil {
		t.Fatal(err)
	}
	var ready struct {
		Status string
		Checks map[string]struct{ Status string }
	}
	err = json.NewDecoder(resp.Body).Decode(&ready)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable || ready.Checks["revocation_feed"].Status != "fail" ||
		ready.Checks["redis"].Status != "degraded" {
		t.Errorf("admin /ready %d %+v (%v), want 503 with the feed failing and redis degraded", resp.StatusCode, ready, err)
	}
	if _, body, _ := apptest.Get(t, admin+"/ready"); !strings.Contains(body, redis) {
		t.Errorf("admin /ready does not name Redis at %s: %s", redis, body)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(admin + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), `keygate_dependency_up{dependency="redis"} 0`) &&
			strings.Contains(string(b), `keygate_dependency_up{dependency="jwks"} 0`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics never said redis and jwks are down:\n%s", b)
		}
	}
}
