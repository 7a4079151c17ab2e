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
// (it would otherwise accept tokens revoked elsewhere), and /ready and the metrics name Redis.
func TestRunRedisProfileWithRedisDown(t *testing.T) {
	env := map[string]string{"PORT": "0", "REDIS_ADDR": apptest.ClosedAddr(t), "KEYGATE_ISSUER": "http://" + apptest.ClosedAddr(t)}
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
	resp, err := http.Get(base + "/ready")
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
		t.Errorf("/ready %d %+v (%v), want 503 with the feed failing and redis degraded", resp.StatusCode, ready, err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(base + "/metrics")
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
