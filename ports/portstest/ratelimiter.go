package portstest

import (
	"testing"
	"time"

	"github.com/keygate/keygate/ports"
)

// RunRateLimiter runs the contract suite of ports.RateLimiter. open returns a fresh limiter with
// no counts. Windows may start at a key's first attempt or be aligned to the clock: the cases
// that count use a window of an hour, so that one rarely ends during a case.
func RunRateLimiter(t *testing.T, open func(t *testing.T) ports.RateLimiter) {
	t.Helper()
	t.Run("AllowsLimitThenRefuses", func(t *testing.T) { testLimitCounts(t, open(t)) })
	t.Run("KeysAreIndependent", func(t *testing.T) { testLimitKeys(t, open(t)) })
	t.Run("NewWindowAllowsAgain", func(t *testing.T) { testLimitNewWindow(t, open(t)) })
	t.Run("Concurrent", func(t *testing.T) { testLimitConcurrent(t, open(t)) })
	t.Run("OddKeys", func(t *testing.T) { testLimitOddKeys(t, open(t)) })
	t.Run("CountDoesNotCount", func(t *testing.T) { testLimitCount(t, open(t)) })
	t.Run("CountOddKeys", func(t *testing.T) { testLimitCountOddKeys(t, open(t)) })
}

const hour = time.Hour

func allow(t *testing.T, l ports.RateLimiter, key string, limit int, window time.Duration) (bool, time.Duration) {
	t.Helper()
	ok, retry, err := l.Allow(t.Context(), key, limit, window)
	must(t, "Allow", err)
	return ok, retry
}

// exhaust makes limit attempts, which must all be allowed, then one that must be refused.
func exhaust(t *testing.T, l ports.RateLimiter, key string, limit int, window time.Duration) time.Duration {
	t.Helper()
	for i := range limit {
		if ok, _ := allow(t, l, key, limit, window); !ok {
			t.Fatalf("attempt %d of %d on %q refused, want allowed", i+1, limit, key)
		}
	}
	ok, retry := allow(t, l, key, limit, window)
	if ok {
		t.Fatalf("attempt %d with limit %d on %q allowed, want refused", limit+1, limit, key)
	}
	if retry <= 0 || retry > window {
		t.Errorf("retryAfter = %v, want in (0, %v]", retry, window)
	}
	return retry
}

func testLimitCounts(t *testing.T, l ports.RateLimiter) {
	tests := []struct {
		name  string
		limit int
	}{
		{"limit 1", 1},
		{"limit 5", 5},
		{"limit 30", 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := "login:" + tt.name
			exhaust(t, l, key, tt.limit, hour)
			// Refused attempts stay refused.
			for range 3 {
				if ok, _ := allow(t, l, key, tt.limit, hour); ok {
					t.Errorf("attempt after the limit allowed")
				}
			}
		})
	}
}

func testLimitKeys(t *testing.T, l ports.RateLimiter) {
	exhaust(t, l, "ip:192.0.2.1", 3, hour)
	exhaust(t, l, "ip:192.0.2.2", 3, hour)
	// A key that is a prefix of another counts on its own.
	exhaust(t, l, "ip:192.0.2.", 3, hour)
}

func testLimitNewWindow(t *testing.T, l ports.RateLimiter) {
	const window = time.Second
	const limit = 2
	var retry time.Duration
	// Attempt until refused: a clock-aligned window may end during the first attempts.
	refused := false
	for range 3 * limit {
		var ok bool
		if ok, retry = allow(t, l, "k", limit, window); !ok {
			refused = true
			break
		}
	}
	if !refused {
		t.Fatalf("%d attempts with limit %d in a window of %v all allowed", 3*limit, limit, window)
	}
	if retry <= 0 || retry > window {
		t.Fatalf("retryAfter = %v, want in (0, %v]", retry, window)
	}
	time.Sleep(retry + 200*time.Millisecond)
	if ok, _ := allow(t, l, "k", limit, window); !ok {
		t.Errorf("attempt after retryAfter refused, want a new window")
	}
}

func testLimitConcurrent(t *testing.T, l ports.RateLimiter) {
	const limit, attempts = 10, 50
	oks := make([]bool, attempts)
	errs := make([]error, attempts)
	race(attempts, func(i int) { oks[i], _, errs[i] = l.Allow(t.Context(), "race", limit, hour) })
	allowed := 0
	for i := range attempts {
		must(t, "Allow", errs[i])
		if oks[i] {
			allowed++
		}
	}
	if allowed != limit {
		t.Errorf("%d of %d concurrent attempts with limit %d allowed, want %d", allowed, attempts, limit, limit)
	}
}

func testLimitOddKeys(t *testing.T, l ports.RateLimiter) {
	for _, k := range oddKeys(200) {
		t.Run(k.name, func(t *testing.T) { exhaust(t, l, k.key, 2, hour) })
	}
}

func count(t *testing.T, l ports.RateLimiter, key string, window time.Duration) (int, time.Duration) {
	t.Helper()
	n, retry, err := l.Count(t.Context(), key, window)
	must(t, "Count", err)
	return n, retry
}

// testLimitCount: Count reads what Allow counted and counts nothing itself, so a caller can
// count only failures.
func testLimitCount(t *testing.T, l ports.RateLimiter) {
	if n, retry := count(t, l, "fail:none", hour); n != 0 || retry != 0 {
		t.Errorf("Count of an unseen key = %d, %v; want 0, 0", n, retry)
	}
	for i := 1; i <= 3; i++ {
		allow(t, l, "fail:a", 1000, hour)
		n, retry := count(t, l, "fail:a", hour)
		if n != i {
			t.Fatalf("Count after %d attempts = %d", i, n)
		}
		if retry <= 0 || retry > hour {
			t.Errorf("Count's retryAfter = %v, want in (0, %v]", retry, hour)
		}
	}
	for range 5 {
		count(t, l, "fail:b", hour)
	}
	if ok, _ := allow(t, l, "fail:b", 1, hour); !ok {
		t.Errorf("Count counted: the first attempt after five Counts was refused with limit 1")
	}
	// The window ends for Count too.
	const window = time.Second
	allow(t, l, "fail:c", 1000, window)
	time.Sleep(window + 200*time.Millisecond)
	if n, _ := count(t, l, "fail:c", window); n != 0 {
		t.Errorf("Count after the window ended = %d, want 0", n)
	}
}

func testLimitCountOddKeys(t *testing.T, l ports.RateLimiter) {
	for _, k := range oddKeys(50) {
		allow(t, l, k.key, 1000, hour)
		allow(t, l, k.key, 1000, hour)
		if n, _ := count(t, l, k.key, hour); n != 2 {
			t.Errorf("%s: Count after two attempts = %d", k.name, n)
		}
	}
}
