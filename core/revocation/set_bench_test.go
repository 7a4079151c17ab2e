package revocation_test

import (
	"crypto/rand"
	"encoding/hex"
	"runtime"
	"testing"
	"time"

	"github.com/keygate/keygate/core/revocation"
)

// benchEntries returns n session revocations keyed as the auth service keys them (32 hex
// digits), each live for an hour.
func benchEntries(n int, now time.Time) []revocation.Entry {
	es := make([]revocation.Entry, n)
	var b [16]byte
	for i := range es {
		_, _ = rand.Read(b[:])
		kind := revocation.KindSession
		if i%2 == 0 {
			kind = revocation.KindToken
		}
		es[i] = revocation.Entry{Kind: kind, Key: hex.EncodeToString(b[:]), ExpiresAt: now.Add(time.Hour + time.Duration(i))}
	}
	return es
}

// liveHeap returns the bytes of the heap still reachable after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkSetMemory measures the live heap a verifier's set of 1,000,000 revocations holds
// (bytes/entry), against the naive baseline of one map[string]Entry in the same run.
func BenchmarkSetMemory(b *testing.B) {
	const n = 1_000_000
	now := time.Now()
	es := benchEntries(n, now)
	keep := func(es []revocation.Entry) []revocation.Entry {
		// What a set holds after its snapshot: the key strings only, not the slice.
		for i := range es {
			es[i].Key = string(append([]byte(nil), es[i].Key...))
		}
		return es
	}
	b.Run("impl=Set", func(b *testing.B) {
		for b.Loop() {
			before := liveHeap()
			in := keep(append([]revocation.Entry(nil), es...))
			s := revocation.NewSet()
			s.Replace(in, now)
			in = nil
			after := liveHeap()
			if s.Len() != n {
				b.Fatalf("Len = %d", s.Len())
			}
			b.ReportMetric(float64(after-before)/n, "bytes/entry")
			b.ReportMetric(float64(after-before)/(1<<20), "MiB/1M")
			runtime.KeepAlive(s)
		}
	})
	b.Run("impl=baseline-map", func(b *testing.B) {
		type key struct {
			kind revocation.Kind
			key  string
		}
		for b.Loop() {
			before := liveHeap()
			in := keep(append([]revocation.Entry(nil), es...))
			m := make(map[key]revocation.Entry)
			for _, e := range in {
				m[key{e.Kind, e.Key}] = e
			}
			in = nil
			after := liveHeap()
			b.ReportMetric(float64(after-before)/n, "bytes/entry")
			b.ReportMetric(float64(after-before)/(1<<20), "MiB/1M")
			runtime.KeepAlive(m)
		}
	})
}

// BenchmarkSetRevoked is a lookup in a set of 1,000,000 entries: a miss on every key, the
// common case of a token nobody revoked.
func BenchmarkSetRevoked(b *testing.B) {
	now := time.Now()
	s := revocation.NewSet()
	s.Replace(benchEntries(1_000_000, now), now)
	jti, sid, sub := "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210", "00112233445566778899aabbccddeeff"
	for b.Loop() {
		if s.Revoked(jti, sid, sub, now, now) {
			b.Fatal("revoked")
		}
	}
}
