package stack

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/test/apptest"
)

// TestRunIgnoresStoreSettings: the dev stack runs on the memory adapters even when the shell
// it starts from names a Redis and a database (which, alone, authd would refuse).
func TestRunIgnoresStoreSettings(t *testing.T) {
	env := map[string]string{"PORT": "0", "DB_HOST": "db.invalid", "REDIS_ADDR": "redis.invalid:6379", "KEYGATE_MIGRATE": "1"}
	out := &apptest.Output{}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, []string{"devstack"}, func(k string) string { return env[k] }, out) }()
	deadline := time.Now().Add(15 * time.Second)
	for strings.Count(out.String(), `: serving"`) < 3 {
		select {
		case err := <-done:
			t.Fatalf("devstack stopped: %v\n%s", err, out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("devstack did not serve:\n%s", out)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(out.String(), `"profile":"memory"`) {
		t.Errorf("authd did not run on the memory profile:\n%s", out)
	}
	// Each service's metrics are printed on a loopback admin listener, not its public port.
	admins := printedAdmin.FindAllStringSubmatch(out.String(), -1)
	if len(admins) != 3 {
		t.Fatalf("quickstart prints %d admin listeners, want 3:\n%s", len(admins), out)
	}
	for _, m := range admins {
		code, body, _ := apptest.Get(t, m[2])
		if code != 200 || !strings.Contains(body, "keygate_build_info") {
			t.Errorf("%s %s = %d, want 200 with keygate's metrics", m[1], m[2], code)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run after cancel = %v", err)
	}
}

var printedAdmin = regexp.MustCompile(`(?m)^  (authd|orders|payments) +(http://127\.0\.0\.1:\d+/metrics)`)

// TestAdminAddrs: orders and payments take the two ports after authd's admin port.
func TestAdminAddrs(t *testing.T) {
	for in, want := range map[string][3]string{
		"127.0.0.1:9090": {"127.0.0.1:9090", "127.0.0.1:9091", "127.0.0.1:9092"},
		":0":             {":0", ":0", ":0"},
		"":               {"", "", ""},
	} {
		if got := adminAddrs(in); got != want {
			t.Errorf("adminAddrs(%q) = %q, want %q", in, got, want)
		}
	}
}
