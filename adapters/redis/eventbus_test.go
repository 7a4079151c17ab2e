package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	redisadapter "github.com/keygate/keygate/adapters/redis"
	"github.com/keygate/keygate/core/revocation"
	"github.com/keygate/keygate/test/containers"
)

// busRig is a Redis, a bus with a fast liveness check, and a subscriber recording what it is
// told.
type busRig struct {
	redis  *containers.Redis
	bus    *redisadapter.EventBus
	cfg    redisadapter.Config
	events chan revocation.Event
}

func newBusRig(t *testing.T) *busRig {
	t.Helper()
	r := containers.StartRedis(t)
	cfg := redisadapter.Config{Addrs: []string{r.Addr}, Prefix: "bus", PingInterval: 200 * time.Millisecond,
		DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second}
	c, closeFn, err := redisadapter.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeFn)
	bus, err := redisadapter.NewEventBus(c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	b := &busRig{redis: r, bus: bus, cfg: cfg, events: make(chan revocation.Event, 1000)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = bus.Subscribe(ctx, func(e revocation.Event) { b.events <- e }) }()
	t.Cleanup(func() { cancel(); <-done })
	b.expect(t, revocation.EventConnected, 5*time.Second)
	return b
}

// expect waits for the next event and checks its kind.
func (b *busRig) expect(t *testing.T, kind revocation.EventKind, within time.Duration) revocation.Event {
	t.Helper()
	select {
	case e := <-b.events:
		if e.Kind != kind {
			t.Fatalf("got event %+v, want %s", e, kind)
		}
		return e
	case <-time.After(within):
		t.Fatalf("no %s event within %v", kind, within)
	}
	return revocation.Event{}
}

func (b *busRig) publishRevoked(t *testing.T, key string) revocation.Event {
	t.Helper()
	now := time.Now()
	e := revocation.Event{Kind: revocation.EventRevoked, Seq: 7, PublishedAt: now,
		Entry: revocation.Entry{Kind: revocation.KindSubject, Key: key, NotBefore: now, ExpiresAt: now.Add(time.Hour)}}
	if err := b.bus.Publish(t.Context(), e); err != nil {
		t.Fatal(err)
	}
	return e
}

func (b *busRig) expectEvent(t *testing.T, want revocation.Event) {
	t.Helper()
	got := b.expect(t, want.Kind, 5*time.Second)
	if d := cmp.Diff(want, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); d != "" {
		t.Errorf("event (-want +got):\n%s", d)
	}
}

// TestEventBusTellsOfLossAndResubscription: a killed subscription is reported as
// EventDisconnected, then EventConnected once Redis confirms the new one, and events flow again.
func TestEventBusTellsOfLossAndResubscription(t *testing.T) {
	b := newBusRig(t)
	if n := b.redis.KillPubSub(t); n != 1 {
		t.Fatalf("killed %d subscriptions, want 1", n)
	}
	b.expect(t, revocation.EventDisconnected, 5*time.Second)
	b.expect(t, revocation.EventConnected, 5*time.Second)
	b.expectEvent(t, b.publishRevoked(t, "after-kill"))
}

// TestEventBusNoticesSilentServer: a frozen server (docker pause) keeps the connection open
// and says nothing; the pings notice within a few intervals, and the thaw brings a new
// subscription.
func TestEventBusNoticesSilentServer(t *testing.T) {
	b := newBusRig(t)
	b.redis.Pause(t)
	paused := time.Now()
	b.expect(t, revocation.EventDisconnected, 10*b.cfg.PingInterval)
	t.Logf("loss noticed %v after the freeze (ping interval %v)", time.Since(paused).Round(time.Millisecond), b.cfg.PingInterval)
	b.redis.Unpause(t)
	b.expect(t, revocation.EventConnected, 10*time.Second)
	b.expectEvent(t, b.publishRevoked(t, "after-thaw"))
}

// TestEventBusUnreadableEvent: a message the bus cannot decode might have been a revocation,
// so the subscriber is told to resynchronise (EventConnected) instead of losing it silently.
func TestEventBusUnreadableEvent(t *testing.T) {
	b := newBusRig(t)
	c, closeFn, err := redisadapter.NewClient(b.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	if err := c.Publish(t.Context(), "{bus}:events", "2 revoked from-a-newer-version").Err(); err != nil {
		t.Fatal(err)
	}
	b.expect(t, revocation.EventConnected, 5*time.Second)
	b.expectEvent(t, b.publishRevoked(t, "next"))
}
