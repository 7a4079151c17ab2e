package redis_test

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// BenchmarkPropagation measures how long a revocation takes from the start of the auth
// service's Revoke (store, then publish) to its application in a verifier's set, with one
// verifier and then four on one Redis; each operation is one revocation, issued one after
// another. It reports the p50, p99 and maximum delay over every verifier's applications; the
// target is a p99 under 5 ms. The clients reach Redis on the container network, as pods would
// (-proxy: through the published port and Docker's userland proxy). For the figures of the
// issue, 10,000 revocations each:
//
//	go test ./test/redis -run '^$' -bench Propagation -benchtime 10000x
func BenchmarkPropagation(b *testing.B) {
	outer := b
	r := newRig(outer, 5*time.Second)
	if !*viaProxy {
		r.direct(outer)
	}
	var all []*verifier
	for _, n := range []int{1, 4} {
		b.Run(fmt.Sprintf("verifiers=%d", n), func(b *testing.B) {
			for len(all) < n {
				all = append(all, r.verifier(outer, 0)) // they live as long as the rig
			}
			for _, v := range all {
				v.metrics.takeLags()
			}
			var last uint64
			b.ResetTimer()
			for range b.N {
				last = r.mustRevoke(b, r.entry())
			}
			b.StopTimer()
			var lags []time.Duration
			for _, v := range all {
				v.waitSeq(b, last, 30*time.Second)
				lags = append(lags, v.metrics.takeLags()...)
			}
			if len(lags) == 0 {
				b.Fatal("no revocation was applied through the bus")
			}
			slices.Sort(lags)
			p := func(q float64) time.Duration { return lags[int(q*float64(len(lags)-1))] }
			b.ReportMetric(float64(p(0.50).Microseconds()), "p50-µs")
			b.ReportMetric(float64(p(0.99).Microseconds()), "p99-µs")
			b.ReportMetric(float64(lags[len(lags)-1].Microseconds()), "max-µs")
			b.ReportMetric(float64(len(lags))/float64(b.N*n), "pushed/sent")
		})
	}
}
