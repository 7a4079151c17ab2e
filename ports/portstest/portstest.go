// Package portstest holds the contract suites of keygate's driven ports, one Run function per
// port, and small failure-injection stubs named for their behaviour. Every adapter of a port
// (memory, redis, mysql, postgres) calls its port's suite from a _test.go file with a function
// that opens a fresh, empty instance:
//
//	func TestRevocationStore(t *testing.T) {
//		portstest.RunRevocationStore(t, func(t *testing.T) ports.RevocationStore {
//			return memory.NewRevocationStore(nil, nil)
//		})
//	}
//
// The suites use real time, because an adapter's expiry (a Redis TTL, a database's NOW()) cannot
// see a fake clock: entries that must expire do so about 1.5 s after they are written, and the
// suite waits half a second past that. Every time the suites write is truncated to Precision
// (the millisecond) and compared with time.Time.Equal, so an adapter must keep times to the
// millisecond at least, in any location, and must read a zero time back as zero (not as the Unix
// epoch). Subtests run one after another, never in parallel, so open may share one server
// between calls as long as each call returns an empty instance (a fresh key prefix, schema or
// database).
package portstest

import (
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// Precision is the time precision the suites require of an adapter: every time they write is
// truncated to it.
const Precision = time.Millisecond

// ExpiresIn is how far in the future the suites set an expiry they then wait for; ExpiryGrace
// is how long past it they wait before checking the entry is gone.
const (
	ExpiresIn   = 1500 * time.Millisecond
	ExpiryGrace = 500 * time.Millisecond
)

// racers is the number of goroutines the race cases start.
const racers = 20

// Now returns the current time truncated to Precision, in UTC, the form the suites write.
func Now() time.Time { return time.Now().Truncate(Precision).UTC() }

// waitPast sleeps until ExpiryGrace after at.
func waitPast(at time.Time) {
	if d := time.Until(at.Add(ExpiryGrace)); d > 0 {
		time.Sleep(d)
	}
}

// opts compares times with Equal and treats nil and empty slices alike.
var opts = cmp.Options{
	cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) }),
	cmpopts.EquateEmpty(),
}

// diff returns the difference between want and got ("" if none), comparing times with Equal.
func diff(want, got any) string { return cmp.Diff(want, got, opts) }

// oddKey is a key with bytes that break naive key schemes: Redis glob and hash-tag characters,
// separators, spaces, non-ASCII, length.
type oddKey struct {
	name string
	key  string
}

// oddKeys returns keys of at most max bytes.
func oddKeys(max int) []oddKey {
	all := []oddKey{
		{"unicode", "ключ-鍵-🔑-ı"},
		{"colon", "a:b:c"},
		{"glob", "*?[x]"},
		{"hash tag", "{tag}x"},
		{"spaces", " a b "},
		{"quotes and backslash", `'%_"\`},
		{"percent escape", "%00%2F"},
		{"200 bytes", strings.Repeat("k", 200)},
	}
	var out []oddKey
	for _, k := range all {
		if len(k.key) <= max {
			out = append(out, k)
		}
	}
	return out
}

// race runs f(i) for i in [0, n) in n goroutines released together, and waits for them.
func race(n int, f func(i int)) {
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range n {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			f(i)
		}()
	}
	start.Done()
	done.Wait()
}

// sortedStrings returns a sorted copy of s.
func sortedStrings(s []string) []string {
	c := append([]string(nil), s...)
	sort.Strings(c)
	return c
}

// must fails the test at once if err is not nil.
func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}
