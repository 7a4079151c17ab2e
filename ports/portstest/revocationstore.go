package portstest

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate/core/revocation"
	"github.com/keygate/keygate/ports"
)

// RunRevocationStore runs the contract suite of ports.RevocationStore. open returns a fresh,
// empty store (Seq 0, no entries).
func RunRevocationStore(t *testing.T, open func(t *testing.T) ports.RevocationStore) {
	t.Helper()
	t.Run("EmptyStore", func(t *testing.T) {
		s := open(t)
		seq, err := s.Seq(t.Context())
		must(t, "Seq", err)
		if seq != 0 {
			t.Errorf("Seq of an empty store = %d, want 0", seq)
		}
		snap, err := s.Snapshot(t.Context())
		must(t, "Snapshot", err)
		if len(snap.Entries) != 0 || snap.Seq != 0 {
			t.Errorf("Snapshot of an empty store = %+v, want no entries and Seq 0", snap)
		}
	})
	t.Run("RoundTrip", func(t *testing.T) { testRevocationRoundTrip(t, open(t)) })
	t.Run("SeqIncreasesByOne", func(t *testing.T) { testRevocationSeq(t, open(t)) })
	t.Run("ConcurrentRevokesGetDistinctSeqs", func(t *testing.T) { testRevocationConcurrentSeq(t, open(t)) })
	t.Run("SnapshotAtomicWithSeq", func(t *testing.T) { testRevocationSnapshotAtomic(t, open(t)) })
	t.Run("Merge", func(t *testing.T) { testRevocationMerge(t, open(t)) })
	t.Run("AlreadyExpired", func(t *testing.T) { testRevocationAlreadyExpired(t, open(t)) })
	t.Run("Expires", func(t *testing.T) { testRevocationExpires(t, open(t)) })
	t.Run("Invalid", func(t *testing.T) { testRevocationInvalid(t, open(t)) })
	t.Run("OddKeys", func(t *testing.T) { testRevocationOddKeys(t, open(t)) })
	t.Run("SinceReplaysInOrder", func(t *testing.T) { testRevocationSince(t, open(t)) })
	t.Run("SinceAheadOfStore", func(t *testing.T) { testRevocationSinceAhead(t, open(t)) })
}

// RunRevocationLog runs the cases of ports.RevocationStore's bounded replay log. open returns
// a fresh, empty store whose log keeps at least the latest keep revocations (it may keep
// somewhat more: Redis trims a capped stream in whole nodes).
func RunRevocationLog(t *testing.T, open func(t *testing.T, keep int) ports.RevocationStore) {
	t.Helper()
	t.Run("TrimmedLogSaysNotFound", func(t *testing.T) {
		const keep, n = 10, 1000
		s := open(t, keep)
		exp := Now().Add(time.Hour)
		var last uint64
		for i := range n {
			seq, err := s.Revoke(t.Context(), revocation.Entry{Kind: revocation.KindToken, Key: fmt.Sprint("t", i), ExpiresAt: exp})
			must(t, "Revoke", err)
			last = seq
		}
		if _, err := s.Since(t.Context(), 0, 0); !errors.Is(err, ports.ErrNotFound) {
			t.Errorf("Since(0) after %d revokes with a log of %d = %v, want ErrNotFound (take a snapshot)", n, keep, err)
		}
		got, err := s.Since(t.Context(), last-keep, 0)
		must(t, "Since within the log", err)
		if len(got) != keep || got[0].Seq != last-keep+1 || got[keep-1].Seq != last {
			t.Errorf("Since(%d) returned %d events, want the last %d (seqs %d..%d)", last-keep, len(got), keep, last-keep+1, last)
		}
	})
}

func testRevocationSince(t *testing.T, s ports.RevocationStore) {
	now := Now()
	got, err := s.Since(t.Context(), 0, 0)
	must(t, "Since on an empty store", err)
	if len(got) != 0 {
		t.Errorf("Since(0) on an empty store = %d events, want none", len(got))
	}
	want := []revocation.Entry{
		{Kind: revocation.KindToken, Key: "jti-1", ExpiresAt: now.Add(time.Hour)},
		{Kind: revocation.KindSubject, Key: "sub\x00 1", NotBefore: now, ExpiresAt: now.Add(2 * time.Hour)},
		{Kind: revocation.KindSession, Key: "sid-1", ExpiresAt: now.Add(-time.Second)},   // expired: still logged
		{Kind: revocation.KindToken, Key: "jti-1", ExpiresAt: now.Add(30 * time.Minute)}, // merged in the store, logged as given
		{Kind: revocation.KindSession, Key: "sid-2", ExpiresAt: now.Add(time.Hour)},
	}
	for _, e := range want {
		_, err := s.Revoke(t.Context(), e)
		must(t, "Revoke", err)
	}
	for _, tt := range []struct {
		name       string
		seq        uint64
		limit      int
		first, end int // want[first:end]
	}{
		{"from the start", 0, 0, 0, 5},
		{"from the middle", 2, 0, 2, 5},
		{"limited", 1, 2, 1, 3},
		{"at the latest", 5, 0, 5, 5},
	} {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := s.Since(t.Context(), tt.seq, tt.limit)
			must(t, "Since", err)
			var gotEntries []revocation.Entry
			for i, ev := range evs {
				if ev.Kind != revocation.EventRevoked || ev.Seq != tt.seq+uint64(i)+1 || ev.PublishedAt.IsZero() {
					t.Errorf("event %d = kind %q seq %d published %v, want revoked, seq %d, a time", i, ev.Kind, ev.Seq, ev.PublishedAt, tt.seq+uint64(i)+1)
				}
				gotEntries = append(gotEntries, ev.Entry)
			}
			if d := diff(want[tt.first:tt.end], gotEntries); d != "" {
				t.Errorf("Since(%d, %d) entries (-want +got):\n%s", tt.seq, tt.limit, d)
			}
		})
	}
}

func testRevocationSinceAhead(t *testing.T, s ports.RevocationStore) {
	_, err := s.Revoke(t.Context(), revocation.Entry{Kind: revocation.KindToken, Key: "t", ExpiresAt: Now().Add(time.Hour)})
	must(t, "Revoke", err)
	// A subscriber ahead of the store (the store was replaced or lost data) must resync.
	if _, err := s.Since(t.Context(), 7, 0); !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("Since(7) on a store at seq 1 = %v, want ErrNotFound", err)
	}
}

// sortEntries orders entries by kind then key, for comparison.
func sortEntries(es []revocation.Entry) []revocation.Entry {
	c := append([]revocation.Entry(nil), es...)
	sort.Slice(c, func(i, j int) bool {
		if c[i].Kind != c[j].Kind {
			return c[i].Kind < c[j].Kind
		}
		return c[i].Key < c[j].Key
	})
	return c
}

func testRevocationRoundTrip(t *testing.T, s ports.RevocationStore) {
	now := Now()
	want := []revocation.Entry{
		{Kind: revocation.KindToken, Key: "jti-1", ExpiresAt: now.Add(time.Hour)},
		{Kind: revocation.KindSession, Key: "sid-1", ExpiresAt: now.Add(2 * time.Hour)},
		{Kind: revocation.KindSubject, Key: "sub-1", NotBefore: now.Add(-time.Second), ExpiresAt: now.Add(3 * time.Hour)},
		// The same key under another kind is another entry.
		{Kind: revocation.KindToken, Key: "sub-1", ExpiresAt: now.Add(4 * time.Hour)},
	}
	for _, e := range want {
		_, err := s.Revoke(t.Context(), e)
		must(t, "Revoke", err)
	}
	snap, err := s.Snapshot(t.Context())
	must(t, "Snapshot", err)
	if d := diff(sortEntries(want), sortEntries(snap.Entries)); d != "" {
		t.Errorf("Snapshot entries (-want +got):\n%s", d)
	}
	if snap.Seq != uint64(len(want)) {
		t.Errorf("Snapshot Seq = %d, want %d", snap.Seq, len(want))
	}
}

func testRevocationSeq(t *testing.T, s ports.RevocationStore) {
	exp := Now().Add(time.Hour)
	for i := 1; i <= 5; i++ {
		// Revoking the same entry again still takes a new number.
		seq, err := s.Revoke(t.Context(), revocation.Entry{Kind: revocation.KindToken, Key: "same", ExpiresAt: exp})
		must(t, "Revoke", err)
		if seq != uint64(i) {
			t.Fatalf("Revoke #%d returned seq %d, want %d", i, seq, i)
		}
		got, err := s.Seq(t.Context())
		must(t, "Seq", err)
		if got != seq {
			t.Fatalf("Seq after Revoke #%d = %d, want %d", i, got, seq)
		}
	}
}

func testRevocationConcurrentSeq(t *testing.T, s ports.RevocationStore) {
	exp := Now().Add(time.Hour)
	seqs := make([]uint64, racers)
	errs := make([]error, racers)
	race(racers, func(i int) {
		seqs[i], errs[i] = s.Revoke(t.Context(), revocation.Entry{Kind: revocation.KindToken, Key: fmt.Sprint("k", i), ExpiresAt: exp})
	})
	seen := map[uint64]bool{}
	for i := range racers {
		must(t, "Revoke", errs[i])
		if seqs[i] < 1 || seqs[i] > racers || seen[seqs[i]] {
			t.Errorf("concurrent Revokes returned seqs %v, want each of 1..%d once", seqs, racers)
			break
		}
		seen[seqs[i]] = true
	}
	got, err := s.Seq(t.Context())
	must(t, "Seq", err)
	if got != racers {
		t.Errorf("Seq = %d, want %d", got, racers)
	}
}

// testRevocationSnapshotAtomic revokes distinct keys while snapshots are taken: a snapshot with
// Seq n must hold exactly the entries revoked with seq 1..n.
func testRevocationSnapshotAtomic(t *testing.T, s ports.RevocationStore) {
	exp := Now().Add(time.Hour)
	const writers, perWriter = 4, 25
	var mu sync.Mutex
	keyOf := map[uint64]string{}
	var snaps []revocation.Snapshot
	var wg sync.WaitGroup
	done := make(chan struct{})
	var snapErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		for len(snaps) < 1000 {
			select {
			case <-done:
				return
			default:
			}
			snap, err := s.Snapshot(t.Context())
			if err != nil {
				snapErr = err
				return
			}
			snaps = append(snaps, snap)
		}
	}()
	var revokeErr error
	race(writers, func(w int) {
		for i := range perWriter {
			k := fmt.Sprintf("w%d-%d", w, i)
			seq, err := s.Revoke(t.Context(), revocation.Entry{Kind: revocation.KindSession, Key: k, ExpiresAt: exp})
			mu.Lock()
			if err != nil {
				revokeErr = err
			}
			keyOf[seq] = k
			mu.Unlock()
		}
	})
	close(done)
	wg.Wait()
	must(t, "Revoke", revokeErr)
	must(t, "Snapshot", snapErr)
	final, err := s.Snapshot(t.Context())
	must(t, "Snapshot", err)
	snaps = append(snaps, final)
	if final.Seq != writers*perWriter {
		t.Fatalf("final Snapshot Seq = %d, want %d", final.Seq, writers*perWriter)
	}
	for _, snap := range snaps {
		var want []string
		for seq := uint64(1); seq <= snap.Seq; seq++ {
			want = append(want, keyOf[seq])
		}
		var got []string
		for _, e := range snap.Entries {
			got = append(got, e.Key)
		}
		if d := diff(sortedStrings(want), sortedStrings(got)); d != "" {
			t.Fatalf("Snapshot with Seq %d does not hold exactly the entries revoked up to it (-want +got):\n%s", snap.Seq, d)
		}
	}
	t.Logf("checked %d snapshots taken during %d revokes", len(snaps), writers*perWriter)
}

func testRevocationMerge(t *testing.T, s ports.RevocationStore) {
	now := Now()
	steps := []revocation.Entry{
		{Kind: revocation.KindSubject, Key: "u", NotBefore: now.Add(-time.Minute), ExpiresAt: now.Add(2 * time.Hour)},
		// A later not-before with an earlier expiry: the not-before moves, the expiry stays.
		{Kind: revocation.KindSubject, Key: "u", NotBefore: now, ExpiresAt: now.Add(time.Hour)},
		// An earlier not-before with a later expiry: the expiry moves, the not-before stays.
		{Kind: revocation.KindSubject, Key: "u", NotBefore: now.Add(-time.Hour), ExpiresAt: now.Add(3 * time.Hour)},
		{Kind: revocation.KindToken, Key: "t", ExpiresAt: now.Add(2 * time.Hour)},
		// An earlier expiry never shortens an entry.
		{Kind: revocation.KindToken, Key: "t", ExpiresAt: now.Add(time.Hour)},
	}
	for _, e := range steps {
		_, err := s.Revoke(t.Context(), e)
		must(t, "Revoke", err)
	}
	want := []revocation.Entry{
		{Kind: revocation.KindSubject, Key: "u", NotBefore: now, ExpiresAt: now.Add(3 * time.Hour)},
		{Kind: revocation.KindToken, Key: "t", ExpiresAt: now.Add(2 * time.Hour)},
	}
	snap, err := s.Snapshot(t.Context())
	must(t, "Snapshot", err)
	if d := diff(sortEntries(want), sortEntries(snap.Entries)); d != "" {
		t.Errorf("merged entries (-want +got):\n%s", d)
	}
	if snap.Seq != uint64(len(steps)) {
		t.Errorf("Seq = %d, want %d (one per call, merged or not)", snap.Seq, len(steps))
	}
}

func testRevocationAlreadyExpired(t *testing.T, s ports.RevocationStore) {
	now := Now()
	live := revocation.Entry{Kind: revocation.KindToken, Key: "live", ExpiresAt: now.Add(time.Hour)}
	_, err := s.Revoke(t.Context(), live)
	must(t, "Revoke live", err)
	for i, e := range []revocation.Entry{
		{Kind: revocation.KindToken, Key: "gone", ExpiresAt: now.Add(-time.Second)},
		{Kind: revocation.KindSubject, Key: "gone", NotBefore: now, ExpiresAt: now.Add(-time.Hour)},
		// An expired entry for a live key does not shorten it.
		{Kind: revocation.KindToken, Key: "live", ExpiresAt: now.Add(-time.Second)},
	} {
		seq, err := s.Revoke(t.Context(), e)
		if err != nil {
			t.Fatalf("Revoke of an expired entry: %v, want it accepted", err)
		}
		if want := uint64(i + 2); seq != want {
			t.Errorf("Revoke of an expired entry returned seq %d, want %d", seq, want)
		}
	}
	snap, err := s.Snapshot(t.Context())
	must(t, "Snapshot", err)
	if d := diff([]revocation.Entry{live}, snap.Entries); d != "" {
		t.Errorf("Snapshot after expired revokes (-want +got):\n%s", d)
	}
	if snap.Seq != 4 {
		t.Errorf("Snapshot Seq = %d, want 4", snap.Seq)
	}
}

func testRevocationExpires(t *testing.T, s ports.RevocationStore) {
	now := Now()
	short := revocation.Entry{Kind: revocation.KindSession, Key: "short", ExpiresAt: now.Add(ExpiresIn)}
	long := revocation.Entry{Kind: revocation.KindSession, Key: "long", ExpiresAt: now.Add(time.Hour)}
	for _, e := range []revocation.Entry{short, long} {
		_, err := s.Revoke(t.Context(), e)
		must(t, "Revoke", err)
	}
	snap, err := s.Snapshot(t.Context())
	must(t, "Snapshot", err)
	if len(snap.Entries) != 2 {
		t.Fatalf("Snapshot before expiry has %d entries, want 2", len(snap.Entries))
	}
	waitPast(short.ExpiresAt)
	snap, err = s.Snapshot(t.Context())
	must(t, "Snapshot", err)
	if d := diff([]revocation.Entry{long}, snap.Entries); d != "" {
		t.Errorf("Snapshot after expiry (-want +got):\n%s", d)
	}
	if snap.Seq != 2 {
		t.Errorf("Snapshot Seq after expiry = %d, want 2 (expiry does not change it)", snap.Seq)
	}
}

func testRevocationInvalid(t *testing.T, s ports.RevocationStore) {
	exp := Now().Add(time.Hour)
	tests := []struct {
		name string
		e    revocation.Entry
	}{
		{"no kind", revocation.Entry{Key: "k", ExpiresAt: exp}},
		{"unknown kind", revocation.Entry{Kind: "user", Key: "k", ExpiresAt: exp}},
		{"empty key", revocation.Entry{Kind: revocation.KindToken, ExpiresAt: exp}},
		{"key of 257 bytes", revocation.Entry{Kind: revocation.KindToken, Key: strings.Repeat("k", 257), ExpiresAt: exp}},
		{"no expiry", revocation.Entry{Kind: revocation.KindToken, Key: "k"}},
		{"subject without not-before", revocation.Entry{Kind: revocation.KindSubject, Key: "k", ExpiresAt: exp}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Revoke(t.Context(), tt.e)
			if !errors.Is(err, revocation.ErrInvalid) {
				t.Errorf("Revoke = %v, want revocation.ErrInvalid", err)
			}
		})
	}
	seq, err := s.Seq(t.Context())
	must(t, "Seq", err)
	snap, err := s.Snapshot(t.Context())
	must(t, "Snapshot", err)
	if seq != 0 || len(snap.Entries) != 0 {
		t.Errorf("after invalid entries: Seq %d and %d entries, want 0 and none", seq, len(snap.Entries))
	}
}

func testRevocationOddKeys(t *testing.T, s ports.RevocationStore) {
	now := Now()
	var want []revocation.Entry
	keys := append(oddKeys(256), oddKey{"256 bytes", strings.Repeat("é", 128)})
	for i, k := range keys {
		e := revocation.Entry{Kind: revocation.KindSubject, Key: k.key, NotBefore: now, ExpiresAt: now.Add(time.Duration(i+1) * time.Minute)}
		_, err := s.Revoke(t.Context(), e)
		if err != nil {
			t.Errorf("Revoke key %s: %v", k.name, err)
			continue
		}
		want = append(want, e)
	}
	snap, err := s.Snapshot(t.Context())
	must(t, "Snapshot", err)
	if d := diff(sortEntries(want), sortEntries(snap.Entries)); d != "" {
		t.Errorf("Snapshot of odd keys (-want +got):\n%s", d)
	}
}

// RunRevocationPublish runs the case that ties a RevocationStore to the EventBus of its
// deployment: Revoke publishes each revocation, with its sequence number, in order. open
// returns a fresh store and the bus it publishes on.
func RunRevocationPublish(t *testing.T, open func(t *testing.T) (ports.RevocationStore, ports.EventBus)) {
	t.Helper()
	t.Run("RevokePublishes", func(t *testing.T) {
		s, b := open(t)
		sub := subscribe(t, b)
		now := Now()
		want := []revocation.Entry{
			{Kind: revocation.KindToken, Key: "jti-1", ExpiresAt: now.Add(time.Hour)},
			{Kind: revocation.KindSubject, Key: "sub 1\x00é", NotBefore: now, ExpiresAt: now.Add(2 * time.Hour)},
			{Kind: revocation.KindSession, Key: "sid-1", ExpiresAt: now.Add(-time.Second)}, // expired: still announced
		}
		before := time.Now().Add(-time.Second)
		for i, e := range want {
			seq, err := s.Revoke(t.Context(), e)
			must(t, "Revoke", err)
			ev := sub.next(t)
			if ev.Kind != revocation.EventRevoked || ev.Seq != seq || seq != uint64(i+1) {
				t.Fatalf("event after Revoke #%d = kind %q seq %d (Revoke returned %d), want revoked with that seq", i+1, ev.Kind, ev.Seq, seq)
			}
			if d := diff(e, ev.Entry); d != "" {
				t.Errorf("published entry (-want +got):\n%s", d)
			}
			if ev.PublishedAt.Before(before) || ev.PublishedAt.After(time.Now().Add(time.Second)) {
				t.Errorf("PublishedAt %v, want about now", ev.PublishedAt)
			}
		}
	})
}
