package main

import (
	"bytes"
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/test/apptest"
)

func TestRunNeedsAnAudienceAndAFeed(t *testing.T) {
	err := run(t.Context(), []string{"guardd"}, apptest.Getenv(map[string]string{"PORT": "0"}), &bytes.Buffer{})
	for _, name := range []string{"KEYGATE_AUDIENCE", "REDIS_ADDR"} {
		if err == nil || !strings.Contains(err.Error(), "config: "+name+":") {
			t.Errorf("run = %v, want a line naming %s", err, name)
		}
	}
}

func TestLoadDefaultPort(t *testing.T) {
	c, err := Load(apptest.Getenv(map[string]string{"KEYGATE_AUDIENCE": "billing", "KEYGATE_DEV": "1"}))
	if err != nil || c.Port != DefaultPort || c.AdminAddr != DefaultAdminAddr || c.Verifier.Guard.Audiences[0] != "billing" {
		t.Errorf("Load = %+v, %v; want port %d, admin %s and audience billing", c, err, DefaultPort, DefaultAdminAddr)
	}
}

var servingAddr = regexp.MustCompile(`"msg":"guardd: serving","addr":"[^"]*:(\d+)"`)

// TestRunWithRedisDownAnswers503: guardd started with Redis unreachable answers every
// question 503 with Retry-After, never 200, and stops cleanly; its public /ready says only
// "not ready" and its metrics and Redis's address are on the admin listener only.
func TestRunWithRedisDownAnswers503(t *testing.T) {
	authd := apptest.NewIssuer(false)
	defer authd.Close()
	redis := apptest.ClosedAddr(t)
	env := map[string]string{"PORT": "0", "REDIS_ADDR": redis, "KEYGATE_ISSUER": authd.URL, "KEYGATE_AUDIENCE": "billing",
		"KEYGATE_ADMIN_ADDR": "127.0.0.1:0"}
	out := &apptest.Output{}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"guardd"}, apptest.Getenv(env), out) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	var base string
	for deadline := time.Now().Add(10 * time.Second); base == ""; time.Sleep(10 * time.Millisecond) {
		if m := servingAddr.FindStringSubmatch(out.String()); m != nil {
			base = "http://127.0.0.1:" + m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("guardd did not start:\n%s", out)
		}
	}
	tok := authd.Sign("user-42", "sid-1", "billing")
	for range 20 {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", base+"/verify", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("/verify with Redis down from the start: %d, want 503 with Retry-After", resp.StatusCode)
		}
		time.Sleep(20 * time.Millisecond)
	}
	apptest.CheckInternalsHidden(t, base, apptest.AdminURL(out.String()), redis)
}
