package memory

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/keygate/keygate/core/revocation"
	"github.com/keygate/keygate/ports"
)

// DefaultBuffer is the number of events a subscriber may fall behind by default.
const DefaultBuffer = 1024

// EventBusConfig configures an EventBus.
type EventBusConfig struct {
	// Buffer is how many undelivered events each subscriber may hold (default DefaultBuffer).
	// A subscriber that falls further behind loses its subscription: it receives
	// EventDisconnected, then EventConnected, and resynchronises from its store.
	Buffer int
}

// EventBus is a ports.EventBus in process memory, shared by any number of subscribers (the dev
// stack runs several services on one bus). Publish never blocks on a subscriber: each has its
// own bounded queue, drained by its Subscribe goroutine. Safe for concurrent use.
type EventBus struct {
	buffer int
	down   atomic.Bool
	mu     sync.Mutex
	subs   map[*subscriber]struct{}
	drops  atomic.Int64
}

var _ ports.EventBus = (*EventBus)(nil)

// subscriber is one subscription's queue. lost means it is not connected: events are dropped
// until its goroutine re-establishes it with an EventConnected.
type subscriber struct {
	mu    sync.Mutex
	queue []revocation.Event
	lost  bool
	wake  chan struct{}
}

// NewEventBus returns a bus with no subscribers.
func NewEventBus(cfg EventBusConfig) *EventBus {
	if cfg.Buffer <= 0 {
		cfg.Buffer = DefaultBuffer
	}
	return &EventBus{buffer: cfg.Buffer, subs: make(map[*subscriber]struct{})}
}

// Publish queues e for every current subscriber and returns at once. It returns
// ports.ErrUnavailable while the bus is down (SetDown).
func (b *EventBus) Publish(ctx context.Context, e revocation.Event) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: publish: %w", err)
	}
	if b.down.Load() {
		return fmt.Errorf("memory: publish: bus down: %w", ports.ErrUnavailable)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		s.push(e, b)
	}
	return nil
}

// Subscribe delivers EventConnected, then every event published afterwards, in order, to h
// until ctx ends, and returns ctx's error.
func (b *EventBus) Subscribe(ctx context.Context, h func(revocation.Event)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s := &subscriber{lost: true, wake: make(chan struct{}, 1)}
	b.mu.Lock()
	if !b.down.Load() {
		s.lost = false
		s.queue = []revocation.Event{{Kind: revocation.EventConnected}}
	}
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.subs, s)
		b.mu.Unlock()
	}()
	for {
		s.mu.Lock()
		if len(s.queue) == 0 && s.lost && !b.down.Load() {
			s.lost = false // re-established: events published from now on are queued after this
			s.queue = append(s.queue, revocation.Event{Kind: revocation.EventConnected})
		}
		batch := s.queue
		s.queue = nil
		s.mu.Unlock()
		if len(batch) == 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-s.wake:
			}
			continue
		}
		for _, e := range batch {
			if err := ctx.Err(); err != nil {
				return err
			}
			h(e)
		}
	}
}

// push queues e, or drops the subscription if its queue is full.
func (s *subscriber) push(e revocation.Event, b *EventBus) {
	s.mu.Lock()
	switch {
	case s.lost:
	case len(s.queue) >= b.buffer:
		b.drops.Add(1)
		s.disconnect()
	default:
		s.queue = append(s.queue, e)
	}
	s.mu.Unlock()
	s.signal()
}

// disconnect drops the queue and marks the subscription lost; the subscriber is told with
// EventDisconnected unless it has not yet been told it connected. s.mu must be held.
func (s *subscriber) disconnect() {
	if s.lost {
		return
	}
	connectedPending := len(s.queue) > 0 && s.queue[0].Kind == revocation.EventConnected
	s.queue = s.queue[:0]
	if !connectedPending {
		s.queue = append(s.queue, revocation.Event{Kind: revocation.EventDisconnected})
	}
	s.lost = true
}

func (s *subscriber) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Interrupt drops every subscription once, as a network failure would: each subscriber
// receives EventDisconnected and then EventConnected. For fault tests.
func (b *EventBus) Interrupt() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		s.mu.Lock()
		s.disconnect()
		s.mu.Unlock()
		s.signal()
	}
}

// SetDown takes the bus down (true) or brings it back (false), for fault tests. While it is
// down Publish returns ports.ErrUnavailable and every subscriber has received
// EventDisconnected; when it comes back each receives EventConnected.
func (b *EventBus) SetDown(down bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.down.Store(down)
	for s := range b.subs {
		if down {
			s.mu.Lock()
			s.disconnect()
			s.mu.Unlock()
		}
		s.signal()
	}
}

// Dropped returns how many times a subscriber fell more than its buffer behind and lost its
// subscription.
func (b *EventBus) Dropped() int64 { return b.drops.Load() }
