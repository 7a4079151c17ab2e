package memory_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate/adapters/memory"
	"github.com/keygate/keygate/core/revocation"
	"github.com/keygate/keygate/core/session"
	"github.com/keygate/keygate/ports"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestFakeClock(t *testing.T) {
	c := memory.NewFakeClock(t0)
	if got := c.Now(); !got.Equal(t0) {
		t.Errorf("Now = %v, want %v", got, t0)
	}
	if got := c.Advance(time.Minute); !got.Equal(t0.Add(time.Minute)) {
		t.Errorf("Advance = %v, want %v", got, t0.Add(time.Minute))
	}
	c.Set(t0)
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			for range 100 {
				c.Advance(time.Second)
				_ = c.Now()
			}
		})
	}
	wg.Wait()
	if got := c.Now(); !got.Equal(t0.Add(1000 * time.Second)) {
		t.Errorf("after 1000 concurrent one-second advances Now = %v, want %v", got, t0.Add(1000*time.Second))
	}
}

// The stores expire by their clock, so a fake clock drives them.
func TestExpiryFollowsTheClock(t *testing.T) {
	c := memory.NewFakeClock(t0)
	ctx := t.Context()

	revs := memory.NewRevocationStore(c, nil)
	if _, err := revs.Revoke(ctx, revocation.Entry{Kind: revocation.KindToken, Key: "j", ExpiresAt: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	sessions := memory.NewSessionStore(c)
	if err := sessions.Create(ctx, session.Session{ID: "s", UserID: "u", Generation: 1, ExpiresAt: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	limiter := memory.NewRateLimiter(c)
	if ok, _, _ := limiter.Allow(ctx, "k", 1, time.Hour); !ok {
		t.Fatal("first attempt refused")
	}
	if ok, retry, _ := limiter.Allow(ctx, "k", 1, time.Hour); ok || retry != time.Hour {
		t.Fatalf("second attempt = %v, retry %v; want refused, retry 1h", ok, retry)
	}

	c.Advance(time.Hour - time.Nanosecond)
	if snap, _ := revs.Snapshot(ctx); len(snap.Entries) != 1 {
		t.Errorf("entry gone before its expiry")
	}
	if _, err := sessions.Get(ctx, "s"); err != nil {
		t.Errorf("session gone before its expiry: %v", err)
	}
	if _, retry, _ := limiter.Allow(ctx, "k", 1, time.Hour); retry != time.Nanosecond {
		t.Errorf("retryAfter a nanosecond before the window ends = %v", retry)
	}

	c.Advance(time.Nanosecond)
	if snap, _ := revs.Snapshot(ctx); len(snap.Entries) != 0 {
		t.Errorf("entry kept at its expiry")
	}
	if _, err := sessions.Get(ctx, "s"); !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("Get at the session's expiry = %v, want ErrNotFound", err)
	}
	if ok, _, _ := limiter.Allow(ctx, "k", 1, time.Hour); !ok {
		t.Errorf("attempt in a new window refused")
	}
}

// Sessions and rate-limit windows nobody touches again are swept, so memory stays bounded.
func TestSweep(t *testing.T) {
	c := memory.NewFakeClock(t0)
	ctx := t.Context()
	sessions := memory.NewSessionStore(c)
	limiter := memory.NewRateLimiter(c)
	for i := range 3000 {
		id := string(rune('a'+i%26)) + time.Duration(i).String()
		_ = sessions.Create(ctx, session.Session{ID: id, UserID: id, ExpiresAt: c.Now().Add(time.Second)})
		_, _, _ = limiter.Allow(ctx, id, 1, time.Second)
		c.Advance(10 * time.Millisecond)
	}
	if n := memory.SessionCount(sessions); n > 2200 {
		t.Errorf("%d sessions held after 3000 creations of one-second sessions, want at most ~2100", n)
	}
	if n := memory.WindowCount(limiter); n > 2200 {
		t.Errorf("%d windows held after 3000 one-second windows, want at most ~2100", n)
	}
}
