package redis_test

import (
	"flag"
	"fmt"
	"slices"
	"testing"
	"time"
)

var propagation = flag.Bool("propagation", false, "measure revocation propagation (TestPropagation)")

// TestPropagation measures how long a revocation takes from the start of the auth service's
// Revoke (store, then publish) to its application in a verifier's set, over 10,000
// revocations issued one after another, with one verifier and then with four, on one Redis.
// The clients reach Redis directly on the container network, as pods would. Target: p99
// under 5 ms. Run with -propagation.
func TestPropagation(t *testing.T) {
	if !*propagation {
		t.Skip("measures revocation propagation; run with -propagation")
	}
	const events = 10000
	r := newRig(t, 5*time.Second)
	r.direct(t)
	var all []*verifier
	for _, n := range []int{1, 4} {
		for len(all) < n {
			all = append(all, r.verifier(t, 0))
		}
		for _, v := range all {
			v.metrics.takeLags()
		}
		var last uint64
		start := time.Now()
		for range events {
			last = r.mustRevoke(t, r.entry())
		}
		issued := time.Since(start)
		var lags []time.Duration
		for _, v := range all {
			v.waitSeq(t, last, 30*time.Second)
			l := v.metrics.takeLags()
			if len(l) < events {
				t.Errorf("a verifier applied %d pushed revocations, want %d (the rest by resync)", len(l), events)
			}
			lags = append(lags, l...)
		}
		slices.Sort(lags)
		p := func(q float64) time.Duration { return lags[int(q*float64(len(lags)-1))] }
		line := fmt.Sprintf("propagation, %d verifier(s), %d revocations (%.0f/s issued): p50 %v, p99 %v, max %v",
			n, events, float64(events)/issued.Seconds(), p(0.50).Round(time.Microsecond),
			p(0.99).Round(time.Microsecond), lags[len(lags)-1].Round(time.Microsecond))
		t.Log(line)
		fmt.Println(line)
		if p(0.99) > 5*time.Millisecond {
			t.Errorf("p99 %v over the 5 ms target", p(0.99))
		}
	}
	r.converged(t, all[0], 10*time.Second)
}
