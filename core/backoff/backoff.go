// Package backoff holds the retry timing that keygate's long-running loops share (the JWKS
// client, the revocation feed, the Redis subscriber): exponential backoff with jitter, a
// spread for periodic work, and a sleep that ends with its context. It imports only the
// standard library.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Delay returns the wait before the attempt-th retry (attempt 0 is the first): lo doubled
// attempt times and capped at hi, then drawn uniformly from the upper half of that, so a fleet
// spreads out but never retries in a tight loop. A non-positive result of the doubling is 0.
func Delay(lo, hi time.Duration, attempt int) time.Duration {
	d := lo
	for i := 0; i < attempt && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d/2+1)
}

// Spread returns d moved at random by up to 10% either way, so a fleet doing periodic work
// does not do it in lock-step.
func Spread(d time.Duration) time.Duration {
	spread := d / 10
	if spread <= 0 {
		return d
	}
	return d - spread + rand.N(2*spread+1)
}

// Sleep waits for d or until ctx ends, and reports whether d passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
