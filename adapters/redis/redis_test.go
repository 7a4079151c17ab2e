package redis_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	redisadapter "github.com/keygate/keygate/adapters/redis"
	"github.com/keygate/keygate/core/onetime"
	"github.com/keygate/keygate/core/revocation"
	"github.com/keygate/keygate/ports"
	"github.com/keygate/keygate/ports/portstest"
	"github.com/keygate/keygate/test/containers"
)

// prefixes numbers the key prefixes of this process, so every instance a suite opens on a
// shared server is empty.
var prefixes atomic.Int64

// server starts one Redis for a top-level test and returns a function that gives each call a
// client config with a fresh prefix.
func server(t *testing.T) func(t *testing.T) (goredis.UniversalClient, redisadapter.Config) {
	t.Helper()
	r := containers.StartRedis(t)
	return func(t *testing.T) (goredis.UniversalClient, redisadapter.Config) {
		t.Helper()
		cfg := redisadapter.Config{Addrs: []string{r.Addr}, Prefix: fmt.Sprintf("test-%d-%d", time.Now().UnixNano(), prefixes.Add(1))}
		c, closeFn, err := redisadapter.NewClient(cfg)
		if err != nil {
			t.Fatalf("NewClient: %v", err)
		}
		t.Cleanup(closeFn)
		return c, cfg
	}
}

func must[T any](t *testing.T) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func TestRevocationStore(t *testing.T) {
	open := server(t)
	portstest.RunRevocationStore(t, func(t *testing.T) ports.RevocationStore {
		return must[*redisadapter.RevocationStore](t)(redisadapter.NewRevocationStore(open(t)))
	})
}

func TestRevocationLog(t *testing.T) {
	open := server(t)
	portstest.RunRevocationLog(t, func(t *testing.T, keep int) ports.RevocationStore {
		c, cfg := open(t)
		cfg.ReplayLog = keep
		return must[*redisadapter.RevocationStore](t)(redisadapter.NewRevocationStore(c, cfg))
	})
}

// TestRevocationStoreChunked runs the suite with snapshots read 3 entries a call, so that
// every multi-entry snapshot is assembled from chunks and the log.
func TestRevocationStoreChunked(t *testing.T) {
	open := server(t)
	portstest.RunRevocationStore(t, func(t *testing.T) ports.RevocationStore {
		c, cfg := open(t)
		cfg.SnapshotChunk = 3
		return must[*redisadapter.RevocationStore](t)(redisadapter.NewRevocationStore(c, cfg))
	})
}

// TestRevokeWaitsForReplicas: a store told to wait for a replica, on a server that has none,
// refuses to acknowledge (ErrUnavailable) after its wait, rather than answer as if durable.
func TestRevokeWaitsForReplicas(t *testing.T) {
	open := server(t)
	c, cfg := open(t)
	cfg.RevokeReplicas, cfg.RevokeWait = 1, 200*time.Millisecond
	s := must[*redisadapter.RevocationStore](t)(redisadapter.NewRevocationStore(c, cfg))
	start := time.Now()
	_, err := s.Revoke(t.Context(), revocation.Entry{Kind: revocation.KindToken, Key: "t", ExpiresAt: time.Now().Add(time.Hour)})
	if !errors.Is(err, ports.ErrUnavailable) {
		t.Fatalf("Revoke with no replica = %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("Revoke gave up after %v, before its wait of 200ms", d)
	}
	cfg.RevokeReplicas = 0
	plain := must[*redisadapter.RevocationStore](t)(redisadapter.NewRevocationStore(c, cfg))
	seq, err := plain.Revoke(t.Context(), revocation.Entry{Kind: revocation.KindToken, Key: "u", ExpiresAt: time.Now().Add(time.Hour)})
	if err != nil || seq != 2 {
		t.Errorf("Revoke without a wait = %d, %v; want 2 (the refused one was stored on the primary)", seq, err)
	}
}

func TestRevocationPublish(t *testing.T) {
	open := server(t)
	portstest.RunRevocationPublish(t, func(t *testing.T) (ports.RevocationStore, ports.EventBus) {
		c, cfg := open(t)
		return must[*redisadapter.RevocationStore](t)(redisadapter.NewRevocationStore(c, cfg)),
			must[*redisadapter.EventBus](t)(redisadapter.NewEventBus(c, cfg))
	})
}

func TestEventBus(t *testing.T) {
	open := server(t)
	portstest.RunEventBus(t, func(t *testing.T) ports.EventBus {
		return must[*redisadapter.EventBus](t)(redisadapter.NewEventBus(open(t)))
	})
}

func TestSessionStore(t *testing.T) {
	open := server(t)
	portstest.RunSessionStore(t, func(t *testing.T) ports.SessionStore {
		return must[*redisadapter.SessionStore](t)(redisadapter.NewSessionStore(open(t)))
	})
}

func TestOneTimeTokenStore(t *testing.T) {
	open := server(t)
	portstest.RunOneTimeTokenStore(t, func(t *testing.T) ports.OneTimeTokenStore {
		return must[*redisadapter.OneTimeTokenStore](t)(redisadapter.NewOneTimeTokenStore(open(t)))
	})
}

func TestRateLimiter(t *testing.T) {
	open := server(t)
	portstest.RunRateLimiter(t, func(t *testing.T) ports.RateLimiter {
		return must[*redisadapter.RateLimiter](t)(redisadapter.NewRateLimiter(open(t)))
	})
}

// TestUnavailable: with nothing listening, every port's call fails with ErrUnavailable (so
// callers answer 503, never "invalid"), and quickly.
func TestUnavailable(t *testing.T) {
	cfg := redisadapter.Config{Addrs: []string{"127.0.0.1:1"}, DialTimeout: 200 * time.Millisecond}
	c, closeFn, err := redisadapter.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	rs := must[*redisadapter.RevocationStore](t)(redisadapter.NewRevocationStore(c, cfg))
	bus := must[*redisadapter.EventBus](t)(redisadapter.NewEventBus(c, cfg))
	ss := must[*redisadapter.SessionStore](t)(redisadapter.NewSessionStore(c, cfg))
	rl := must[*redisadapter.RateLimiter](t)(redisadapter.NewRateLimiter(c, cfg))
	ott := must[*redisadapter.OneTimeTokenStore](t)(redisadapter.NewOneTimeTokenStore(c, cfg))
	ctx := t.Context()
	tests := []struct {
		name string
		call func() error
	}{
		{"revoke", func() error { _, err := rs.Revoke(ctx, revEntry("k")); return err }},
		{"snapshot", func() error { _, err := rs.Snapshot(ctx); return err }},
		{"seq", func() error { _, err := rs.Seq(ctx); return err }},
		{"publish", func() error { return bus.Publish(ctx, heartbeat()) }},
		{"get session", func() error { _, err := ss.Get(ctx, "s"); return err }},
		{"list sessions", func() error { _, err := ss.ListByUser(ctx, "u"); return err }},
		{"rate limit", func() error { _, _, err := rl.Allow(ctx, "k", 1, time.Minute); return err }},
		{"take one-time token", func() error { _, err := ott.Take(ctx, onetime.PurposeReset, "h"); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, ports.ErrUnavailable) {
				t.Errorf("got %v, want ports.ErrUnavailable", err)
			}
		})
	}
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  redisadapter.Config
	}{
		{"no address", redisadapter.Config{}},
		{"address without port", redisadapter.Config{Addrs: []string{"redis"}}},
		{"brace in prefix", redisadapter.Config{Addrs: []string{"redis:6379"}, Prefix: "a{b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := redisadapter.NewClient(tt.cfg); err == nil {
				t.Errorf("NewClient(%+v) = nil error, want one", tt.cfg)
			}
		})
	}
	cfg := redisadapter.Config{Addrs: []string{"redis:6379"}, Password: "hunter2"}
	if got := fmt.Sprint(cfg.LogValue()); contains(got, "hunter2") {
		t.Errorf("LogValue = %s, shows the password", got)
	}
}

// TestCallEndsAtItsDeadline shows that a caller's deadline bounds a call to a server that has
// stopped answering (paused, overloaded): an auth request answers 503 within its own budget
// instead of waiting out the client's read timeout, and the feed's bound on a store call holds.
func TestCallEndsAtItsDeadline(t *testing.T) {
	r := containers.StartRedis(t)
	cfg := redisadapter.Config{Addrs: []string{r.Addr}, Prefix: "deadline", ReadTimeout: 20 * time.Second}
	c, closeFn, err := redisadapter.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	rs := must[*redisadapter.RevocationStore](t)(redisadapter.NewRevocationStore(c, cfg))
	if _, err := rs.Seq(t.Context()); err != nil { // a connection in the pool, set up
		t.Fatal(err)
	}
	r.CLI(t, "CLIENT", "PAUSE", "4000", "ALL")
	defer r.CLI(t, "CLIENT", "UNPAUSE")

	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if _, err := rs.Seq(ctx); !errors.Is(err, ports.ErrUnavailable) {
		t.Errorf("Seq with a 300ms deadline on a server paused for 4s = %v, want ports.ErrUnavailable", err)
	}
}
