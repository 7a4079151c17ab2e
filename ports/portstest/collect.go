package portstest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate/core/revocation"
	"github.com/keygate/keygate/ports"
)

// Events subscribes to b and collects its events (after EventConnected) until the test ends;
// it returns once the subscription is confirmed. onEvent, if not nil, runs in the delivery
// goroutine before an event is collected. The returned function gives a copy of what arrived.
func Events(t *testing.T, b ports.EventBus, onEvent func(revocation.Event)) func() []revocation.Event {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var got []revocation.Event
	connected := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = b.Subscribe(ctx, func(ev revocation.Event) {
			if ev.Kind == revocation.EventConnected {
				close(connected)
				return
			}
			if onEvent != nil {
				onEvent(ev)
			}
			mu.Lock()
			got = append(got, ev)
			mu.Unlock()
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	<-connected
	return func() []revocation.Event {
		mu.Lock()
		defer mu.Unlock()
		return append([]revocation.Event(nil), got...)
	}
}

// Eventually polls cond every 10 ms for up to 5 s of real time and fails t, naming what it
// waited for, if cond never holds.
func Eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 500 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}
