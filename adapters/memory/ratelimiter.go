package memory

import (
	"context"
	"sync"
	"time"

	"github.com/keygate/keygate/ports"
)

// RateLimiter is a ports.RateLimiter in memory: a fixed window per key that starts at the key's
// first attempt. Counters are per process, so replicas do not share them. Safe for concurrent
// use.
type RateLimiter struct {
	clock  ports.Clock
	mu     sync.Mutex
	counts map[string]*window
	calls  int // since the last sweep of ended windows
}

type window struct {
	ends time.Time
	n    int
}

var _ ports.RateLimiter = (*RateLimiter)(nil)

// NewRateLimiter returns a limiter with no counts that reads the time from clock (nil: the
// real clock).
func NewRateLimiter(clock ports.Clock) *RateLimiter {
	return &RateLimiter{clock: orReal(clock), counts: make(map[string]*window)}
}

// Allow counts one attempt for key and reports whether it is within limit; when it is not,
// retryAfter is the time until the window ends.
func (l *RateLimiter) Allow(ctx context.Context, key string, limit int, d time.Duration) (bool, time.Duration, error) {
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	w := l.counts[key]
	if w == nil || !now.Before(w.ends) {
		w = &window{ends: now.Add(d)}
		l.counts[key] = w
	}
	if w.n < limit {
		w.n++
		return true, 0, nil
	}
	return false, w.ends.Sub(now), nil
}

// Count returns the attempts counted for key in its current window, without counting one.
func (l *RateLimiter) Count(ctx context.Context, key string, d time.Duration) (int, time.Duration, error) {
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.counts[key]
	if w == nil || !now.Before(w.ends) {
		return 0, 0, nil
	}
	return w.n, w.ends.Sub(now), nil
}

// sweep drops ended windows once every max(1024, n) calls, so that keys seen once (client
// addresses) do not pile up; the cost per call stays constant. l.mu must be held.
func (l *RateLimiter) sweep(now time.Time) {
	l.calls++
	if l.calls < max(1024, len(l.counts)) {
		return
	}
	l.calls = 0
	for k, w := range l.counts {
		if !now.Before(w.ends) {
			delete(l.counts, k)
		}
	}
}
