package guard

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keygate/keygate/core/revocation"
	"github.com/keygate/keygate/core/token"
	"github.com/keygate/keygate/ports"
)

// The feed tests run in a synctest bubble: time.Now and the feed's tickers use the bubble's
// fake time, so minutes pass instantly and deterministically.

var feedCfg = FeedConfig{Reconcile: time.Hour, Poll: 5 * time.Second, Prune: time.Minute, GapGrace: 500 * time.Millisecond}

// startFeed runs a feed until the test ends.
func startFeed(t *testing.T, store *memStore, bus *memBus, keys *mapKeys, cfg FeedConfig) (*Feed, *countingMetrics) {
	t.Helper()
	m := newMetrics()
	var ks ports.KeySet
	if keys != nil {
		ks = keys
	}
	f := NewFeed(store, bus, ks, wallClock{}, m, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run: %v, want context.Canceled", err)
		}
	})
	return f, m
}

func entry(kind revocation.Kind, k string, exp time.Duration) revocation.Entry {
	e := revocation.Entry{Kind: kind, Key: k, ExpiresAt: time.Now().Add(exp)}
	if kind == revocation.KindSubject {
		e.NotBefore = time.Now()
	}
	return e
}

// assertSameAsStore checks the feed's set equals the store's active entries.
func assertSameAsStore(t *testing.T, f *Feed, s *memStore) {
	t.Helper()
	snap, err := s.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	key := func(es []revocation.Entry) []string {
		var out []string
		for _, e := range es {
			out = append(out, string(e.Kind)+"/"+e.Key+"@"+e.ExpiresAt.UTC().Format(time.RFC3339Nano))
		}
		sort.Strings(out)
		return out
	}
	if diff := cmp.Diff(key(snap.Entries), key(f.set.Entries(time.Now()))); diff != "" {
		t.Errorf("feed set differs from the store (-store +feed):\n%s", diff)
	}
}

func revoked(f *Feed, jti string) bool {
	return f.set.Revoked(jti, "", "", time.Now(), time.Now())
}

func TestFeedSnapshotOnConnect(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store, bus := newStore(wallClock{}), newBus()
		revoke(t, store, bus, entry(revocation.KindToken, "before-start", time.Hour))
		revoke(t, store, bus, entry(revocation.KindSubject, "u9", time.Hour))
		f, m := startFeed(t, store, bus, nil, feedCfg)
		if err := f.WaitSynced(t.Context()); err != nil {
			t.Fatal(err)
		}
		assertSameAsStore(t, f, store)
		got := f.Status()
		want := FeedStatus{Connected: true, Synced: true, Staleness: 0, Seq: 2, Entries: 2}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Status (-want +got):\n%s", diff)
		}
		if !f.Ready() || m.resyncs("connected") != 1 {
			t.Errorf("Ready = %v, connected resyncs = %d; want true, 1", f.Ready(), m.resyncs("connected"))
		}
	})
}

func TestFeedAppliesPushedRevocations(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store, bus := newStore(wallClock{}), newBus()
		f, m := startFeed(t, store, bus, nil, feedCfg)
		_ = f.WaitSynced(t.Context())
		time.Sleep(3 * time.Millisecond) // propagation delay, seen by the lag metric
		e := entry(revocation.KindToken, "t-pushed", time.Hour)
		seq, _ := store.Revoke(t.Context(), e)
		_ = bus.Publish(t.Context(), revocation.Event{Kind: revocation.EventRevoked, Entry: e, Seq: seq, PublishedAt: time.Now()})
		_ = bus.Publish(t.Context(), revocation.Event{Kind: revocation.EventRevoked, Entry: e, Seq: seq, PublishedAt: time.Now()}) // duplicate
		synctest.Wait()
		if !revoked(f, "t-pushed") {
			t.Fatal("pushed revocation not applied")
		}
		if got := m.applied["revoked"]; got != 2 {
			t.Errorf("EventApplied(revoked) = %d, want 2", got)
		}
		if f.Status().Seq != 1 || m.resyncs("gap") != 0 {
			t.Errorf("seq %d, gap resyncs %d; want 1, 0", f.Status().Seq, m.resyncs("gap"))
		}
		assertSameAsStore(t, f, store)
	})
}

func TestFeedRepairsMissedEvent(t *testing.T) {
	tests := []struct {
		name   string
		reveal func(t *testing.T, store *memStore, bus *memBus) // after the lost event
		wait   time.Duration
	}{
		{"seq gap on the next event", func(t *testing.T, store *memStore, bus *memBus) {
			revoke(t, store, bus, entry(revocation.KindToken, "next", time.Hour))
		}, time.Second},
		{"heartbeat ahead", func(t *testing.T, store *memStore, bus *memBus) {
			seq, _ := store.Seq(t.Context())
			_ = bus.Publish(t.Context(), revocation.Event{Kind: revocation.EventHeartbeat, Seq: seq, PublishedAt: time.Now()})
		}, time.Second},
		{"poll of the store (no further event)", func(*testing.T, *memStore, *memBus) {}, feedCfg.Poll + time.Second},
	}
	// The missing event comes from the store's replay log; only when the log no longer
	// holds it does the feed take a snapshot.
	for _, trimmed := range []bool{false, true} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/log trimmed=%v", tt.name, trimmed), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					store, bus := newStore(wallClock{}), newBus()
					store.setNoLog(trimmed)
					f, m := startFeed(t, store, bus, nil, feedCfg)
					_ = f.WaitSynced(t.Context())
					bus.dropNext(1)
					revoke(t, store, bus, entry(revocation.KindSession, "lost", time.Hour))
					tt.reveal(t, store, bus)
					synctest.Wait()
					if f.set.Revoked("", "lost", "", time.Now(), time.Now()) {
						t.Fatal("lost event present before any repair: the test does not lose it")
					}
					snaps := store.calls.Load()
					time.Sleep(tt.wait)
					synctest.Wait()
					if !f.set.Revoked("", "lost", "", time.Now(), time.Now()) {
						t.Fatal("missed revocation not repaired")
					}
					wantResyncs := 0
					if trimmed {
						wantResyncs = 1
					}
					if m.resyncs("gap") != wantResyncs || store.calls.Load()-snaps != int64(wantResyncs) {
						t.Errorf("gap resyncs = %d, snapshots %d; want %d", m.resyncs("gap"), store.calls.Load()-snaps, wantResyncs)
					}
					if store.since.Load() == 0 {
						t.Error("the replay log was not asked first")
					}
					assertSameAsStore(t, f, store)
				})
			})
		}
	}
}

func TestFeedOutOfOrderEventsWithinGraceNeedNoResync(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store, bus := newStore(wallClock{}), newBus()
		f, m := startFeed(t, store, bus, nil, feedCfg)
		_ = f.WaitSynced(t.Context())
		a, b := entry(revocation.KindToken, "a", time.Hour), entry(revocation.KindToken, "b", time.Hour)
		sa, _ := store.Revoke(t.Context(), a)
		sb, _ := store.Revoke(t.Context(), b)
		_ = bus.Publish(t.Context(), revocation.Event{Kind: revocation.EventRevoked, Entry: b, Seq: sb})
		_ = bus.Publish(t.Context(), revocation.Event{Kind: revocation.EventRevoked, Entry: a, Seq: sa})
		time.Sleep(2 * feedCfg.GapGrace)
		synctest.Wait()
		if m.resyncs("gap") != 0 || f.Status().Seq != 2 {
			t.Errorf("gap resyncs %d, seq %d; want 0, 2", m.resyncs("gap"), f.Status().Seq)
		}
		assertSameAsStore(t, f, store)
	})
}

func TestFeedEventDuringSnapshotIsKept(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store, bus := newStore(wallClock{}), newBus()
		revoke(t, store, bus, entry(revocation.KindToken, "old", time.Hour))
		// Revoked and published while the snapshot is in flight: subscribe-then-snapshot
		// must not lose it.
		store.onSnap = func() { revoke(t, store, bus, entry(revocation.KindToken, "racing", time.Hour)) }
		f, m := startFeed(t, store, bus, nil, feedCfg)
		_ = f.WaitSynced(t.Context())
		synctest.Wait()
		if !revoked(f, "racing") || !revoked(f, "old") {
			t.Fatalf("racing=%v old=%v, want both revoked", revoked(f, "racing"), revoked(f, "old"))
		}
		if m.resyncs("gap") != 0 {
			t.Errorf("gap resyncs = %d, want 0", m.resyncs("gap"))
		}
	})
}

// After a reconnect the feed replays what it missed from the store's log, and takes a
// snapshot only when the log no longer reaches back to it.
func TestFeedReconnectCatchesUp(t *testing.T) {
	for _, trimmed := range []bool{false, true} {
		t.Run(fmt.Sprintf("log trimmed=%v", trimmed), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				store, bus := newStore(wallClock{}), newBus()
				f, m := startFeed(t, store, bus, nil, feedCfg)
				_ = f.WaitSynced(t.Context())
				store.setNoLog(trimmed)
				bus.kick(true) // connection lost, and the bus stays down for a while
				synctest.Wait()
				if f.Status().Connected {
					t.Error("Connected after the bus dropped us")
				}
				revoke(t, store, bus, entry(revocation.KindSubject, "u1", time.Hour)) // not delivered: bus down
				bus.setDown(false)
				time.Sleep(time.Second) // retry backoff
				synctest.Wait()
				want := 1 // the first connection's snapshot only
				if trimmed {
					want = 2
				}
				if !f.Status().Connected || m.resyncs("connected") != want {
					t.Errorf("Connected %v, connected resyncs %d; want true, %d", f.Status().Connected, m.resyncs("connected"), want)
				}
				if st := f.Status(); st.Seq != 1 {
					t.Errorf("status %+v, want seq 1", st)
				}
				assertSameAsStore(t, f, store)
			})
		})
	}
}

func TestFeedStoreDownAtStartThenRecovers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store, bus := newStore(wallClock{}), newBus()
		_, _ = store.Revoke(t.Context(), entry(revocation.KindToken, "x", time.Hour))
		store.setDown(true)
		f, m := startFeed(t, store, bus, nil, feedCfg)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if f.Ready() || f.Status().Synced {
			t.Fatal("synced while the store is down")
		}
		if st := f.Status().Staleness; st < 10*time.Second {
			t.Errorf("staleness %v after 10s without a sync, want >= 10s (the gauge must show it)", st)
		}
		store.setDown(false)
		time.Sleep(feedCfg.Poll + time.Second)
		synctest.Wait()
		if !f.Ready() || !revoked(f, "x") {
			t.Fatalf("Ready %v, x revoked %v after the store came back", f.Ready(), revoked(f, "x"))
		}
		if m.storeOps["snapshot:error"] == 0 {
			t.Error("failed snapshots not reported")
		}
	})
}

func TestFeedPrunesExpiredEntries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store, bus := newStore(wallClock{}), newBus()
		f, m := startFeed(t, store, bus, nil, feedCfg)
		_ = f.WaitSynced(t.Context())
		revoke(t, store, bus, entry(revocation.KindToken, "short", 10*time.Second))
		revoke(t, store, bus, entry(revocation.KindToken, "long", time.Hour))
		synctest.Wait()
		if f.set.Len() != 2 {
			t.Fatalf("Len = %d, want 2", f.set.Len())
		}
		time.Sleep(feedCfg.Prune + time.Second)
		synctest.Wait()
		if got := f.Status().Entries; got != 1 {
			t.Errorf("Entries after expiry = %d, want 1", got)
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.entries != 1 {
			t.Errorf("RevocationSet gauge = %d, want 1", m.entries)
		}
	})
}

func TestFeedKeysChangedRefreshesKeys(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store, bus := newStore(wallClock{}), newBus()
		keys := &mapKeys{}
		f, _ := startFeed(t, store, bus, keys, feedCfg)
		_ = f.WaitSynced(t.Context())
		_ = bus.Publish(t.Context(), revocation.Event{Kind: revocation.EventKeysChanged, PublishedAt: time.Now()})
		synctest.Wait()
		if got := keys.refreshes.Load(); got != 1 {
			t.Errorf("Refresh calls = %d, want 1", got)
		}
	})
}

// TestFeedKeyWithdrawalIsNotBehindAFetch: a key-change event naming a withdrawn kid makes the
// feed distrust it at once, even while a reload for an earlier change is still running; the
// next reload aims at the document the latest event names.
func TestFeedKeyWithdrawalIsNotBehindAFetch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store, bus := newStore(wallClock{}), newBus()
		keys := &mapKeys{gate: make(chan struct{})}
		f, _ := startFeed(t, store, bus, keys, feedCfg)
		_ = f.WaitSynced(t.Context())
		publish := func(c revocation.KeyChange) {
			_ = bus.Publish(t.Context(), revocation.Event{Kind: revocation.EventKeysChanged, PublishedAt: time.Now(), Keys: c})
			synctest.Wait()
		}
		publish(revocation.KeyChange{JWKSETag: `"rotated"`})
		publish(revocation.KeyChange{JWKSETag: `"withdrawn"`, Withdrawn: "k-leaked"})
		etags, distrusted := keys.told()
		if d := cmp.Diff([]string{"k-leaked"}, distrusted); d != "" {
			t.Errorf("Distrust while a reload runs (-want +got):\n%s", d)
		}
		if d := cmp.Diff([]string{`"rotated"`}, etags); d != "" {
			t.Errorf("Refresh before the gate opens (-want +got):\n%s", d)
		}
		close(keys.gate)
		synctest.Wait()
		etags, _ = keys.told()
		if d := cmp.Diff([]string{`"rotated"`, `"withdrawn"`}, etags); d != "" {
			t.Errorf("Refresh ETags (-want +got):\n%s", d)
		}
	})
}

// TestFeedStaleness: heartbeats and polls keep the set current; with the store and the bus
// down it goes stale, a fail-open guard keeps answering, a fail-closed one answers
// ErrRevocationUnavailable, and both recover when the store returns.
func TestFeedStaleness(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store, bus := newStore(wallClock{}), newBus()
		store.setDown(true) // until the guards are built
		f, _ := startFeed(t, store, bus, nil, feedCfg)
		s := newSigner(7)
		keys := &mapKeys{keys: map[string]ed25519.PublicKey{s.kid: s.pub()}}
		open, _ := New(keys, f, wallClock{}, newMetrics(), Config{Issuer: testIssuer, Audiences: []string{testAud}})
		closed, _ := New(keys, f, wallClock{}, newMetrics(), Config{Issuer: testIssuer, Audiences: []string{testAud}, FailClosedAfter: 30 * time.Second})
		tok := func() string { return s.sign(s.header(), with(time.Now(), nil)) }

		if _, err := closed.Authenticate(t.Context(), tok()); !errors.Is(err, token.ErrRevocationUnavailable) {
			t.Errorf("fail-closed guard before the first sync: %v, want ErrRevocationUnavailable", err)
		}
		store.setDown(false)
		_ = f.WaitSynced(t.Context())
		time.Sleep(time.Minute)
		synctest.Wait()
		if st := f.Status().Staleness; st > feedCfg.Poll {
			t.Errorf("staleness %v with a healthy store, want <= poll interval", st)
		}
		store.setDown(true)
		bus.kick(true)
		time.Sleep(time.Minute)
		synctest.Wait()
		if st := f.Status().Staleness; st < 55*time.Second {
			t.Errorf("staleness %v after a minute of outage, want about a minute", st)
		}
		if _, err := open.Authenticate(t.Context(), tok()); err != nil {
			t.Errorf("fail-open guard during the outage: %v", err)
		}
		if _, err := closed.Authenticate(t.Context(), tok()); !errors.Is(err, token.ErrRevocationUnavailable) {
			t.Errorf("fail-closed guard during the outage: %v, want ErrRevocationUnavailable", err)
		}
		store.setDown(false)
		bus.setDown(false)
		time.Sleep(feedCfg.Poll + time.Second)
		synctest.Wait()
		if _, err := closed.Authenticate(t.Context(), tok()); err != nil {
			t.Errorf("fail-closed guard after recovery: %v", err)
		}
	})
}

// TestAuthenticateDuringReplace runs verifications while the feed replaces its set as fast as
// it can; under -race this shows the swap is safe, and every answer is right: the revoked
// token is refused and the good one accepted on every call.
func TestAuthenticateDuringReplace(t *testing.T) {
	clock := newClock()
	store, bus := newStore(clock), newBus()
	for i := range 2000 {
		_, _ = store.Revoke(t.Context(), revocation.Entry{Kind: revocation.KindToken, Key: "bulk-" + string(rune('a'+i%26)) + time.Duration(i).String(), ExpiresAt: clock.Now().Add(time.Hour)})
	}
	_, _ = store.Revoke(t.Context(), revocation.Entry{Kind: revocation.KindToken, Key: "bad", ExpiresAt: clock.Now().Add(time.Hour)})
	m := newMetrics()
	f := NewFeed(store, bus, nil, clock, m, FeedConfig{Reconcile: time.Millisecond, Poll: time.Millisecond})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	if err := f.WaitSynced(t.Context()); err != nil {
		t.Fatal(err)
	}
	s := newSigner(7)
	keys := &mapKeys{keys: map[string]ed25519.PublicKey{s.kid: s.pub()}}
	g, err := New(keys, f, clock, newMetrics(), Config{Issuer: testIssuer, Audiences: []string{testAud}})
	if err != nil {
		t.Fatal(err)
	}
	good := s.sign(s.header(), with(clock.Now(), nil))
	bad := s.sign(s.header(), with(clock.Now(), map[string]any{"jti": "bad"}))
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 300 {
				if _, err := g.Authenticate(t.Context(), good); err != nil {
					t.Errorf("good token: %v", err)
					return
				}
				if _, err := g.Authenticate(t.Context(), bad); !errors.Is(err, token.ErrRevoked) {
					t.Errorf("revoked token: %v, want ErrRevoked", err)
					return
				}
			}
		})
	}
	wg.Wait()
	cancel()
	<-done
	if m.resyncs("periodic") < 2 {
		t.Errorf("periodic resyncs = %d: the set was not replaced during the run", m.resyncs("periodic"))
	}
}

// A store that stops answering in the middle of a call blocks the feed's loop; the staleness
// gauge must keep growing anyway, or dashboards and alerts would show a frozen, healthy value.
func TestFeedReportsStalenessWhileTheStoreHangs(t *testing.T) {
	clock := newClock()
	store, bus, m := newStore(clock), newBus(), newMetrics()
	release := make(chan struct{})
	defer close(release)
	store.onSnap = func() { <-release } // the first snapshot never returns
	f := NewFeed(store, bus, nil, clock, m, FeedConfig{Report: 5 * time.Millisecond, Timeout: time.Hour})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go f.Run(ctx)

	clock.Add(time.Minute)
	deadline := time.Now().Add(5 * time.Second)
	for {
		m.mu.Lock()
		stale := m.stale
		m.mu.Unlock()
		if stale >= time.Minute {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("staleness reported = %v a minute into a hung snapshot, want at least 1m", stale)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A feed whose Run has ended hears nothing: its status must not say connected, or a verifier's
// /ready would report a live push path that no longer exists.
func TestFeedStoppedIsNotConnected(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store, bus := newStore(wallClock{}), newBus()
		f := NewFeed(store, bus, nil, wallClock{}, newMetrics(), feedCfg)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- f.Run(ctx) }()
		if err := f.WaitSynced(t.Context()); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if !f.Status().Connected {
			t.Fatal("a running, subscribed feed says it is not connected")
		}
		cancel()
		<-done
		if f.Status().Connected {
			t.Error("Status().Connected = true after Run ended, want false")
		}
	})
}
