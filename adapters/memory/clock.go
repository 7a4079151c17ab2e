// Package memory implements every driven port of keygate in process memory: the revocation
// store, event bus, session store, user repository, audit log, rate limiter and key store, plus
// a fake Clock for tests (the real one is system.Clock). The whole system runs on it in one process (dev mode), and the core's
// tests use it as their test double; every type passes its port's suite in ports/portstest.
// Stores that expire entries read the time from a ports.Clock, so tests can drive it.
package memory

import (
	"sync"
	"time"

	"github.com/keygate/keygate/ports"
)

// FakeClock is a settable clock for tests. It is safe for concurrent use.
type FakeClock struct {
	mu  sync.Mutex
	now time.Time
}

var _ ports.Clock = (*FakeClock)(nil)

// NewFakeClock returns a clock stopped at t.
func NewFakeClock(t time.Time) *FakeClock { return &FakeClock{now: t} }

// Now returns the clock's time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t.
func (c *FakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// Advance moves the clock forward by d and returns the new time.
func (c *FakeClock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

// orReal returns c, or the real clock if c is nil.
func orReal(c ports.Clock) ports.Clock {
	if c == nil {
		return realClock{}
	}
	return c
}

// realClock is the real time, for a store given no clock (adapters do not import each other,
// so this is not system.Clock).
type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
