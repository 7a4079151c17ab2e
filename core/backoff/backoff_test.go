package backoff_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/keygate/keygate/core/backoff"
)

func TestDelay(t *testing.T) {
	const lo, hi = 100 * time.Millisecond, 2 * time.Second
	tests := []struct {
		name     string
		attempt  int
		min, max time.Duration
	}{
		{"first retry: the upper half of lo", 0, 50 * time.Millisecond, 100 * time.Millisecond},
		{"doubles", 2, 200 * time.Millisecond, 400 * time.Millisecond},
		{"capped at hi", 5, hi / 2, hi},
		{"many attempts do not overflow", 1 << 20, hi / 2, hi},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := map[time.Duration]bool{}
			for range 200 {
				d := backoff.Delay(lo, hi, tt.attempt)
				if d < tt.min || d > tt.max {
					t.Fatalf("Delay(%v, %v, %d) = %v, want within [%v, %v]", lo, hi, tt.attempt, d, tt.min, tt.max)
				}
				seen[d] = true
			}
			if len(seen) < 50 {
				t.Errorf("only %d distinct delays in 200: a fleet would retry in lock-step", len(seen))
			}
		})
	}
	if d := backoff.Delay(0, 0, 3); d != 0 {
		t.Errorf("Delay(0, 0, 3) = %v, want 0", d)
	}
}

func TestSpread(t *testing.T) {
	seen := map[time.Duration]bool{}
	for range 200 {
		d := backoff.Spread(100 * time.Second)
		if d < 90*time.Second || d > 110*time.Second {
			t.Fatalf("Spread(100s) = %v, want within 10%%", d)
		}
		seen[d] = true
	}
	if len(seen) < 50 {
		t.Errorf("only %d distinct delays in 200: the fleet would act in lock-step", len(seen))
	}
	if d := backoff.Spread(5); d != 5 {
		t.Errorf("Spread(5ns) = %v, want 5ns unchanged", d)
	}
}

func TestSleep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		if !backoff.Sleep(t.Context(), time.Minute) {
			t.Fatal("Sleep(1m) = false with a live context")
		}
		if got := time.Since(start); got != time.Minute {
			t.Errorf("Sleep(1m) returned after %v", got)
		}

		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(time.Second, cancel)
		start = time.Now()
		if backoff.Sleep(ctx, time.Hour) {
			t.Fatal("Sleep(1h) = true, want false when the context ends first")
		}
		if got := time.Since(start); got != time.Second {
			t.Errorf("Sleep ended %v after the start, want when the context ended (1s)", got)
		}
	})
}
