package ports

import (
	"context"
	"time"
)

// RateLimiter counts attempts per key in fixed windows, shared by every replica that uses the
// same backing store. Safe for concurrent use.
type RateLimiter interface {
	// Allow counts one attempt for key in the current window of length window and reports
	// whether it is within limit; when it is not, retryAfter is the time until the window ends.
	Allow(ctx context.Context, key string, limit int, window time.Duration) (ok bool, retryAfter time.Duration, err error)
	// Count returns how many attempts Allow has counted for key in its current window of
	// length window, without counting one, and the time until that window ends (0 and 0 when
	// there is none). With it a caller counts only failures: Count before the attempt, Allow
	// after a failure.
	Count(ctx context.Context, key string, window time.Duration) (n int, retryAfter time.Duration, err error)
}
