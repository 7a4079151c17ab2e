package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/test/apptest"
)

func TestRunRefusesToStartWithoutARevocationFeed(t *testing.T) {
	env := map[string]string{"PORT": "0", "KEYGATE_ISSUER": "http://localhost:8080"}
	err := run(t.Context(), []string{"paymentsd"}, func(k string) string { return env[k] }, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "REDIS_ADDR") || !strings.Contains(err.Error(), "KEYGATE_DEV=1") {
		t.Errorf("run = %v, want a refusal naming REDIS_ADDR and KEYGATE_DEV=1", err)
	}
}

func TestRunReportsEveryBadVariable(t *testing.T) {
	env := map[string]string{"PORT": "-1", "KEYGATE_DEV": "1", "KEYGATE_LEEWAY": "10m"}
	err := run(t.Context(), []string{"paymentsd"}, func(k string) string { return env[k] }, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "config: PORT:") || !strings.Contains(err.Error(), "config: KEYGATE_LEEWAY:") {
		t.Errorf("run = %v, want one line for PORT and one for KEYGATE_LEEWAY", err)
	}
}

var servingAddr = regexp.MustCompile(`"msg":"paymentsd: serving","addr":"[^"]*:(\d+)"`)

// TestRunInternalsOnTheAdminListenerOnly: with Redis down from the start paymentsd is not
// ready; its public port says only that and serves no metrics, its admin listener names Redis
// and serves the metrics.
func TestRunInternalsOnTheAdminListenerOnly(t *testing.T) {
	redis := apptest.ClosedAddr(t)
	env := map[string]string{"PORT": "0", "REDIS_ADDR": redis, "KEYGATE_ISSUER": "http://" + apptest.ClosedAddr(t),
		"KEYGATE_ADMIN_ADDR": "127.0.0.1:0"}
	out := &apptest.Output{}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"paymentsd"}, apptest.Getenv(env), out) }()
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
			t.Fatalf("paymentsd did not start:\n%s", out)
		}
	}
	apptest.CheckInternalsHidden(t, base, apptest.AdminURL(out.String()), redis)
}
