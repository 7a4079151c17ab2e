package redis_test

import (
	"errors"
	"flag"
	"fmt"
	"runtime"
	"strconv"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/keygate/keygate/core/revocation"
	"github.com/keygate/keygate/core/token"
)

// million is the size of the large-store test: issue 9's goal is a verifier ready within
// readyGoal of starting on a store this large, with no Redis call over slowGoal.
const (
	million   = 1_000_000
	readyGoal = 10 * time.Second
	slowGoal  = 50 * time.Millisecond
)

// fillLua writes ARGV[2] session revocations numbered from ARGV[3] straight into the
// RevocationStore's documented layout (the hash "{p}:rev:entries", the sorted set
// "{p}:rev:expiry"), keys in the auth service's format (32 hex digits), and sets the sequence
// number to the highest: what a million Revokes leave behind (but the replay log), written in
// seconds instead of minutes. KEYS: seq, entries, expiry. ARGV: value, count, first, exp ms.
const fillLua = `
local n, first = tonumber(ARGV[2]), tonumber(ARGV[3])
for i = first, first + n - 1 do
  local f = 'session:' .. string.format('%016x%016x', 48879, i)
  redis.call('HSET', KEYS[2], f, ARGV[1])
  redis.call('ZADD', KEYS[3], ARGV[4], f)
end
redis.call('SET', KEYS[1], first + n - 1)
return first + n - 1
`

// fill writes n session revocations, live for an hour, in calls of 10,000, and returns the
// sequence number; Redis's slowlog is reset afterwards by the caller.
func (r *rig) fill(t testing.TB, n int) uint64 {
	t.Helper()
	exp := time.Now().Add(time.Hour)
	value := fmt.Sprintf("%020d %020d", 0, exp.UnixNano())
	base := "{" + r.prefix + "}:rev:"
	script := goredis.NewScript(fillLua)
	const batch = 10_000
	var last int64
	for first := 1; first <= n; first += batch {
		var err error
		last, err = script.Run(t.Context(), r.auth, []string{base + "seq", base + "entries", base + "expiry"},
			value, min(batch, n-first+1), first, exp.UnixMilli()+1).Int64()
		if err != nil {
			t.Fatalf("fill: %v", err)
		}
	}
	return uint64(last)
}

// slowlog sets Redis to log every command slower than threshold and forgets what it logged.
func slowlog(t testing.TB, c goredis.UniversalClient, threshold time.Duration) {
	t.Helper()
	ctx := t.Context()
	for _, kv := range [][2]string{{"slowlog-log-slower-than", strconv.FormatInt(threshold.Microseconds(), 10)}, {"slowlog-max-len", "100000"}} {
		if err := c.ConfigSet(ctx, kv[0], kv[1]).Err(); err != nil {
			t.Fatalf("config set %s: %v", kv[0], err)
		}
	}
	if err := c.Do(ctx, "SLOWLOG", "RESET").Err(); err != nil {
		t.Fatalf("slowlog reset: %v", err)
	}
}

// slowest returns the longest command Redis logged since slowlog, its name, how many it
// logged, and how many of them took longer than slowGoal.
func slowest(t testing.TB, c goredis.UniversalClient) (time.Duration, string, int, int) {
	t.Helper()
	logs, err := c.SlowLogGet(t.Context(), -1).Result()
	if err != nil {
		t.Fatalf("slowlog get: %v", err)
	}
	var maxD time.Duration
	var name string
	over := 0
	for _, l := range logs {
		if l.Duration > slowGoal {
			over++
		}
		if l.Duration > maxD {
			maxD = l.Duration
			if len(l.Args) > 0 {
				name = l.Args[0]
			}
		}
	}
	return maxD, name, len(logs), over
}

// TestMillionRevocationsVerifierStarts: with 1,000,000 revocations in Redis a verifier is
// ready (its set loaded) within readyGoal, holds every entry and refuses a revoked token, and
// Redis's slowlog shows no call of the snapshot, or of anything else meanwhile, over slowGoal.
// Before issue 9 a snapshot was one Lua call of about 3 s and a verifier never became ready.
var scaleFigures = flag.Bool("figures", false, "TestMillionRevocationsVerifierStarts: hold the 10 s ready goal (run alone, without -race)")

func TestMillionRevocationsVerifierStarts(t *testing.T) {
	if testing.Short() {
		t.Skip("fills Redis with 1,000,000 revocations; not with -short")
	}
	r := newRig(t, 5*time.Second)
	r.direct(t)
	start := time.Now()
	last := r.fill(t, million)
	t.Logf("filled %d revocations in %v (seq %d)", million, time.Since(start).Round(time.Millisecond), last)
	slowlog(t, r.auth, 5*time.Millisecond)
	t0 := time.Now()
	snap, err := r.store.Snapshot(t.Context())
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	t.Logf("a snapshot alone: %d entries in %v", len(snap.Entries), time.Since(t0).Round(time.Millisecond))
	snap = revocation.Snapshot{}
	slowlog(t, r.auth, 5*time.Millisecond)
	before := liveHeap()
	start = time.Now()
	v := r.verifierWithin(t, 0, 2*time.Minute)
	ready := time.Since(start)
	heap := int64(liveHeap()) - int64(before)
	maxD, name, logged, over := slowest(t, r.auth)
	t.Logf("verifier ready in %v with %d entries; live heap +%d MiB (%.0f B/entry); slowest Redis call %v (%s), %d calls over 5ms, %d over %v",
		ready.Round(time.Millisecond), v.feed.Status().Entries, heap>>20, float64(heap)/million, maxD, name, logged, over, slowGoal)
	// The figure (readyGoal) is held only in a figure run: under make test the race detector
	// and the other packages share the cores. Every run holds the documented budget: a
	// verifier loads its set within its snapshot bound.
	if bound := time.Minute; *scaleFigures {
		if ready > readyGoal {
			t.Errorf("verifier ready after %v, want <= %v", ready, readyGoal)
		}
	} else if ready > bound {
		t.Errorf("verifier ready after %v, want within the feed's snapshot bound %v", ready, bound)
	}
	if maxD > slowGoal {
		t.Errorf("slowest Redis call %v (%s), want <= %v", maxD, name, slowGoal)
	}
	if st := v.feed.Status(); st.Entries != million || st.Seq != last {
		t.Errorf("verifier status %+v, want %d entries at seq %d", st, million, last)
	}
	// One more revocation reaches it, and its token is refused.
	e := revocation.Entry{Kind: revocation.KindSession, Key: "after-the-million", ExpiresAt: time.Now().Add(time.Hour)}
	seq := r.mustRevoke(t, e)
	v.waitSeq(t, seq, 5*time.Second)
	if _, err := v.guard.Authenticate(t.Context(), r.signer.tokenFor(e)); !errors.Is(err, token.ErrRevoked) {
		t.Errorf("token of a session revoked after the million: %v, want token.ErrRevoked", err)
	}
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
