package portstest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/keygate/keygate/core/revocation"
	"github.com/keygate/keygate/ports"
)

// eventWait bounds how long the EventBus suite waits for one event.
const eventWait = 5 * time.Second

// RunEventBus runs the contract suite of ports.EventBus. open returns a fresh bus that no other
// test publishes on. The suite publishes only after a subscriber has received EventConnected,
// and expects no EventDisconnected while the backing service stays up.
func RunEventBus(t *testing.T, open func(t *testing.T) ports.EventBus) {
	t.Helper()
	t.Run("ConnectedFirstThenInOrder", func(t *testing.T) { testBusInOrder(t, open(t)) })
	t.Run("PublishWithoutSubscriber", func(t *testing.T) {
		b := open(t)
		must(t, "Publish with no subscriber", b.Publish(t.Context(), heartbeat(1)))
	})
	t.Run("TwoSubscribers", func(t *testing.T) { testBusTwoSubscribers(t, open(t)) })
	t.Run("SubscribeReturnsWhenContextEnds", func(t *testing.T) { testBusContextEnds(t, open(t)) })
	t.Run("SubscriberLeaves", func(t *testing.T) { testBusSubscriberLeaves(t, open(t)) })
	t.Run("ConcurrentPublishers", func(t *testing.T) { testBusConcurrentPublishers(t, open(t)) })
	t.Run("OddKeys", func(t *testing.T) { testBusOddKeys(t, open(t)) })
}

func heartbeat(seq uint64) revocation.Event {
	return revocation.Event{Kind: revocation.EventHeartbeat, Seq: seq, PublishedAt: Now()}
}

// sub is a running subscription that records what its handler receives.
type sub struct {
	events chan revocation.Event
	done   chan error
	cancel context.CancelFunc
}

// subscribe starts a subscription and waits for its EventConnected.
func subscribe(t *testing.T, b ports.EventBus) *sub {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	s := &sub{events: make(chan revocation.Event, 10000), done: make(chan error, 1), cancel: cancel}
	go func() { s.done <- b.Subscribe(ctx, func(e revocation.Event) { s.events <- e }) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(eventWait):
			t.Errorf("Subscribe did not return within %v of its context ending", eventWait)
		}
	})
	if e := s.next(t); e.Kind != revocation.EventConnected {
		t.Fatalf("first event delivered = %+v, want EventConnected", e)
	}
	return s
}

// next returns the next event delivered, failing the test after eventWait.
func (s *sub) next(t *testing.T) revocation.Event {
	t.Helper()
	select {
	case e := <-s.events:
		return e
	case err := <-s.done:
		t.Fatalf("Subscribe returned early: %v", err)
	case <-time.After(eventWait):
		t.Fatalf("no event within %v", eventWait)
	}
	return revocation.Event{}
}

// expect checks that the next events are exactly want, in order.
func (s *sub) expect(t *testing.T, want []revocation.Event) {
	t.Helper()
	got := make([]revocation.Event, 0, len(want))
	for range want {
		got = append(got, s.next(t))
	}
	if d := diff(want, got); d != "" {
		t.Errorf("events delivered (-want +got):\n%s", d)
	}
}

// sample returns n events of every publishable kind.
func sample(n int) []revocation.Event {
	now := Now()
	var out []revocation.Event
	for i := range n {
		seq := uint64(i + 1)
		switch i % 4 {
		case 0:
			out = append(out, revocation.Event{Kind: revocation.EventRevoked, Seq: seq, PublishedAt: now,
				Entry: revocation.Entry{Kind: revocation.KindToken, Key: fmt.Sprint("jti-", i), ExpiresAt: now.Add(time.Hour)}})
		case 1:
			out = append(out, revocation.Event{Kind: revocation.EventRevoked, Seq: seq, PublishedAt: now,
				Entry: revocation.Entry{Kind: revocation.KindSubject, Key: fmt.Sprint("sub-", i), NotBefore: now.Add(-time.Second), ExpiresAt: now.Add(time.Hour)}})
		case 2:
			// Some with what a key change says (odd bytes in the kid), some without (an older
			// publisher).
			var kc revocation.KeyChange
			if i%8 == 2 {
				kc = revocation.KeyChange{JWKSETag: fmt.Sprintf(`"%032x"`, i), Withdrawn: fmt.Sprint("kid &=%+ \x00ü-", i)}
			}
			out = append(out, revocation.Event{Kind: revocation.EventKeysChanged, PublishedAt: now, Keys: kc})
		default:
			out = append(out, heartbeat(seq))
		}
	}
	return out
}

func publishAll(t *testing.T, b ports.EventBus, events []revocation.Event) {
	t.Helper()
	for _, e := range events {
		must(t, "Publish", b.Publish(t.Context(), e))
	}
}

func testBusInOrder(t *testing.T, b ports.EventBus) {
	s := subscribe(t, b)
	events := sample(100)
	publishAll(t, b, events)
	s.expect(t, events)
}

func testBusTwoSubscribers(t *testing.T, b ports.EventBus) {
	s1, s2 := subscribe(t, b), subscribe(t, b)
	events := sample(20)
	publishAll(t, b, events)
	s1.expect(t, events)
	s2.expect(t, events)
}

func testBusContextEnds(t *testing.T, b ports.EventBus) {
	ctx, cancel := context.WithCancel(t.Context())
	connected := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() {
		done <- b.Subscribe(ctx, func(e revocation.Event) {
			if e.Kind == revocation.EventConnected {
				select {
				case connected <- struct{}{}:
				default:
				}
			}
		})
	}()
	select {
	case <-connected:
	case <-time.After(eventWait):
		t.Fatalf("no EventConnected within %v", eventWait)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Subscribe returned %v, want context.Canceled", err)
		}
	case <-time.After(eventWait):
		t.Fatalf("Subscribe did not return within %v of its context ending", eventWait)
	}
}

func testBusSubscriberLeaves(t *testing.T, b ports.EventBus) {
	stays := subscribe(t, b)
	leaves := subscribe(t, b)
	leaves.cancel()
	select {
	case <-leaves.done:
	case <-time.After(eventWait):
		t.Fatalf("Subscribe did not return within %v of its context ending", eventWait)
	}
	leaves.done <- nil // for the cleanup
	events := sample(8)
	publishAll(t, b, events)
	stays.expect(t, events)
}

func testBusConcurrentPublishers(t *testing.T, b ports.EventBus) {
	s := subscribe(t, b)
	const publishers, each = 8, 10
	errs := make([]error, publishers)
	race(publishers, func(p int) {
		for i := range each {
			e := heartbeat(uint64(p*1000 + i))
			if err := b.Publish(t.Context(), e); err != nil {
				errs[p] = err
				return
			}
		}
	})
	for _, err := range errs {
		must(t, "Publish", err)
	}
	last := map[uint64]int{}
	for range publishers * each {
		e := s.next(t)
		p, i := e.Seq/1000, int(e.Seq%1000)
		if prev, ok := last[p]; ok && i != prev+1 || !ok && i != 0 {
			t.Fatalf("publisher %d's events arrived out of order: event %d after %d", p, i, prev)
		}
		last[p] = i
	}
}

func testBusOddKeys(t *testing.T, b ports.EventBus) {
	s := subscribe(t, b)
	now := Now()
	var events []revocation.Event
	for i, k := range oddKeys(256) {
		events = append(events, revocation.Event{Kind: revocation.EventRevoked, Seq: uint64(i + 1), PublishedAt: now,
			Entry: revocation.Entry{Kind: revocation.KindSession, Key: k.key, ExpiresAt: now.Add(time.Hour)}})
	}
	publishAll(t, b, events)
	s.expect(t, events)
}
