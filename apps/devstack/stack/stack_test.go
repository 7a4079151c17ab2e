package stack

import (
	"context"
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
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run after cancel = %v", err)
	}
}
