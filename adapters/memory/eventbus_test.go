package memory_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keygate/keygate/adapters/memory"
	"github.com/keygate/keygate/core/revocation"
	"github.com/keygate/keygate/ports"
)

// recorder subscribes to a bus and records what it receives; block, when set, stalls the
// handler until closed.
type recorder struct {
	events chan revocation.Event
	block  chan struct{}
	done   chan error
}

func record(t *testing.T, b *memory.EventBus, block chan struct{}) *recorder {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	r := &recorder{events: make(chan revocation.Event, 100000), block: block, done: make(chan error, 1)}
	go func() {
		r.done <- b.Subscribe(ctx, func(e revocation.Event) {
			r.events <- e
			if r.block != nil {
				<-r.block
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		if block != nil {
			select {
			case <-block:
			default:
				close(block)
			}
		}
		<-r.done
	})
	return r
}

func (r *recorder) next(t *testing.T) revocation.Event {
	t.Helper()
	select {
	case e := <-r.events:
		return e
	case <-time.After(5 * time.Second):
		t.Fatalf("no event within 5s")
		return revocation.Event{}
	}
}

func (r *recorder) expectKind(t *testing.T, want revocation.EventKind) revocation.Event {
	t.Helper()
	e := r.next(t)
	if e.Kind != want {
		t.Fatalf("event = %s (seq %d), want %s", e.Kind, e.Seq, want)
	}
	return e
}

func beat(seq uint64) revocation.Event {
	return revocation.Event{Kind: revocation.EventHeartbeat, Seq: seq}
}

// A subscriber that falls behind by more than its buffer is told it lost the feed and that it
// is connected again, and receives what is published after that; the publisher never waits.
func TestEventBusSlowSubscriberResyncs(t *testing.T) {
	b := memory.NewEventBus(memory.EventBusConfig{Buffer: 4})
	block := make(chan struct{})
	slow := record(t, b, block)
	fast := record(t, b, nil)
	slow.expectKind(t, revocation.EventConnected) // the slow handler now stalls
	fast.expectKind(t, revocation.EventConnected)

	// Publish 100 events, each received by the fast subscriber before the next is sent.
	var publishing time.Duration
	for i := range 100 {
		start := time.Now()
		if err := b.Publish(t.Context(), beat(uint64(i+1))); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		publishing += time.Since(start)
		if e := fast.next(t); e.Seq != uint64(i+1) {
			t.Fatalf("fast subscriber got %s seq %d, want heartbeat %d", e.Kind, e.Seq, i+1)
		}
	}
	if publishing > time.Second {
		t.Errorf("100 publishes with a stalled subscriber took %v", publishing)
	}
	if b.Dropped() != 1 {
		t.Errorf("Dropped = %d, want 1 (the stalled subscriber, once)", b.Dropped())
	}

	close(block)
	// The slow one gets at most its buffer of old events, then the loss and the reconnection.
	var got []revocation.EventKind
	for {
		e := slow.next(t)
		got = append(got, e.Kind)
		if e.Kind == revocation.EventConnected {
			break
		}
		if len(got) > 10 {
			t.Fatalf("slow subscriber never reconnected: %v", got)
		}
	}
	if n := len(got); n < 2 || got[n-2] != revocation.EventDisconnected {
		t.Fatalf("slow subscriber received %v, want EventDisconnected then EventConnected", got)
	}
	if err := b.Publish(t.Context(), beat(1000)); err != nil {
		t.Fatal(err)
	}
	if e := slow.expectKind(t, revocation.EventHeartbeat); e.Seq != 1000 {
		t.Errorf("after reconnecting the slow subscriber got seq %d, want 1000", e.Seq)
	}
}

func TestEventBusInterrupt(t *testing.T) {
	b := memory.NewEventBus(memory.EventBusConfig{})
	r := record(t, b, nil)
	r.expectKind(t, revocation.EventConnected)
	b.Interrupt()
	r.expectKind(t, revocation.EventDisconnected)
	r.expectKind(t, revocation.EventConnected)
	if err := b.Publish(t.Context(), beat(7)); err != nil {
		t.Fatal(err)
	}
	if e := r.expectKind(t, revocation.EventHeartbeat); e.Seq != 7 {
		t.Errorf("seq = %d, want 7", e.Seq)
	}
}

func TestEventBusDown(t *testing.T) {
	b := memory.NewEventBus(memory.EventBusConfig{})
	r := record(t, b, nil)
	r.expectKind(t, revocation.EventConnected)

	b.SetDown(true)
	r.expectKind(t, revocation.EventDisconnected)
	if err := b.Publish(t.Context(), beat(1)); !errors.Is(err, ports.ErrUnavailable) {
		t.Errorf("Publish while down = %v, want ErrUnavailable", err)
	}
	late := record(t, b, nil) // subscribes while down: no EventConnected yet
	select {
	case e := <-late.events:
		t.Fatalf("a subscriber that joined while down received %s", e.Kind)
	case <-time.After(50 * time.Millisecond):
	}

	b.SetDown(false)
	r.expectKind(t, revocation.EventConnected)
	late.expectKind(t, revocation.EventConnected)
	if err := b.Publish(t.Context(), beat(2)); err != nil {
		t.Fatal(err)
	}
	r.expectKind(t, revocation.EventHeartbeat)
	late.expectKind(t, revocation.EventHeartbeat)
}

func TestEventBusManySubscribers(t *testing.T) {
	b := memory.NewEventBus(memory.EventBusConfig{})
	var rs []*recorder
	for range 50 {
		r := record(t, b, nil)
		r.expectKind(t, revocation.EventConnected)
		rs = append(rs, r)
	}
	for i := range 10 {
		if err := b.Publish(t.Context(), beat(uint64(i+1))); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range rs {
		for i := range 10 {
			if e := r.next(t); e.Seq != uint64(i+1) {
				t.Fatalf("got seq %d, want %d", e.Seq, i+1)
			}
		}
	}
}
