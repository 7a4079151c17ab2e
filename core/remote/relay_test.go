package remote_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/keygate/keygate/adapters/memory"
	"github.com/keygate/keygate/adapters/system"
	"github.com/keygate/keygate/core/remote"
	"github.com/keygate/keygate/core/revocation"
)

// relayRig is a Relay over the memory store and bus, with a publisher that does what authd
// does on a logout: store, then publish with the store's sequence number.
type relayRig struct {
	store *memory.RevocationStore
	bus   *memory.EventBus
	relay *remote.Relay
}

func startRelay(t *testing.T, cfg remote.RelayConfig) *relayRig {
	t.Helper()
	clock := system.Clock{}
	r := &relayRig{store: memory.NewRevocationStore(clock, nil), bus: memory.NewEventBus(memory.EventBusConfig{})}
	r.relay = remote.NewRelay(r.store, r.bus, clock, cfg)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.relay.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v, want context.Canceled", err)
		}
	})
	deadline := time.Now().Add(5 * time.Second)
	for !r.relay.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("relay not ready within 5s")
		}
		time.Sleep(time.Millisecond)
	}
	return r
}

func entry(key string) revocation.Entry {
	return revocation.Entry{Kind: revocation.KindSession, Key: key, ExpiresAt: time.Now().Add(time.Hour)}
}

// revoke stores e and, unless silent, publishes it (silent: the bus lost the event).
func (r *relayRig) revoke(t *testing.T, key string, silent bool) uint64 {
	t.Helper()
	e := entry(key)
	seq, err := r.store.Revoke(t.Context(), e)
	if err != nil {
		t.Fatal(err)
	}
	if !silent {
		if err := r.bus.Publish(t.Context(), revocation.Event{Kind: revocation.EventRevoked, Entry: e, Seq: seq, PublishedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	return seq
}

// follower is one client of the relay: the set it would hold and the messages it saw.
type follower struct {
	msgs chan remote.Message
	stop context.CancelFunc
	done chan error
}

func follow(t *testing.T, r *remote.Relay, resume uint64, hasResume bool) *follower {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	f := &follower{msgs: make(chan remote.Message, 10000), stop: cancel, done: make(chan error, 1)}
	go func() {
		f.done <- r.Follow(ctx, resume, hasResume, func(m remote.Message) error {
			if m.Kind != remote.MsgKeepAlive && m.Kind != remote.MsgHeartbeat {
				f.msgs <- m
			}
			return nil
		})
	}()
	t.Cleanup(func() { cancel(); <-f.done })
	return f
}

func (f *follower) next(t *testing.T) remote.Message {
	t.Helper()
	select {
	case m := <-f.msgs:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no message within 5s")
		return remote.Message{}
	}
}

func keys(es []revocation.Entry) map[string]bool {
	out := map[string]bool{}
	for _, e := range es {
		out[e.Key] = true
	}
	return out
}

func TestRelayStreamsSnapshotThenRevocationsInOrder(t *testing.T) {
	r := startRelay(t, remote.RelayConfig{})
	r.revoke(t, "before", false)
	waitSeq(t, r.relay, 1)

	f := follow(t, r.relay, 0, false)
	snap := f.next(t)
	if snap.Kind != remote.MsgSnapshot || snap.Seq != 1 || !keys(snap.Entries)["before"] {
		t.Fatalf("first message = %+v, want a snapshot at 1 holding %q", snap, "before")
	}
	for i := 2; i <= 50; i++ {
		r.revoke(t, fmt.Sprint("s", i), false)
	}
	for want := uint64(2); want <= 50; want++ {
		m := f.next(t)
		if m.Kind != remote.MsgRevoked || m.Seq != want || m.Entry.Key != fmt.Sprint("s", want) {
			t.Fatalf("message = %+v, want revoked %d", m, want)
		}
	}
}

func TestRelayResumesOnlyWhatItCanProve(t *testing.T) {
	r := startRelay(t, remote.RelayConfig{})
	for i := 1; i <= 5; i++ {
		r.revoke(t, fmt.Sprint("s", i), false)
	}
	waitSeq(t, r.relay, 5)

	// A client that had 3 gets "resumed at 3", then 4 and 5: nothing lost, no snapshot.
	f := follow(t, r.relay, 3, true)
	if m := f.next(t); m.Kind != remote.MsgResumed || m.Seq != 3 {
		t.Fatalf("first message = %+v, want resumed at 3", m)
	}
	for want := uint64(4); want <= 5; want++ {
		if m := f.next(t); m.Kind != remote.MsgRevoked || m.Seq != want {
			t.Fatalf("message = %+v, want revoked %d", m, want)
		}
	}
	// A client claiming more than the relay has (another store, a restarted one) gets a snapshot.
	g := follow(t, r.relay, 99, true)
	if m := g.next(t); m.Kind != remote.MsgSnapshot || m.Seq != 5 || len(m.Entries) != 5 {
		t.Fatalf("first message = %+v, want a snapshot at 5 with 5 entries", m)
	}
}

func TestRelayResumeOlderThanItsLogGetsSnapshot(t *testing.T) {
	r := startRelay(t, remote.RelayConfig{Backlog: 4})
	for i := 1; i <= 20; i++ {
		r.revoke(t, fmt.Sprint("s", i), false)
	}
	waitSeq(t, r.relay, 20)
	f := follow(t, r.relay, 2, true)
	if m := f.next(t); m.Kind != remote.MsgSnapshot || m.Seq != 20 || len(m.Entries) != 20 {
		t.Fatalf("first message = %+v, want a snapshot at 20 with every entry", m)
	}
}

// A revocation the bus lost shows as a gap; the relay resynchronises and every stream gets a
// snapshot holding it.
func TestRelayGapEndsInSnapshot(t *testing.T) {
	r := startRelay(t, remote.RelayConfig{GapGrace: 50 * time.Millisecond})
	f := follow(t, r.relay, 0, false)
	if m := f.next(t); m.Kind != remote.MsgSnapshot || m.Seq != 0 {
		t.Fatalf("first message = %+v, want an empty snapshot", m)
	}
	r.revoke(t, "lost", true)
	r.revoke(t, "after", false)
	for {
		m := f.next(t)
		if m.Kind == remote.MsgRevoked {
			t.Fatalf("revoked %d sent across a gap", m.Seq)
		}
		if m.Kind == remote.MsgSnapshot {
			if got := keys(m.Entries); m.Seq != 2 || !got["lost"] || !got["after"] {
				t.Fatalf("snapshot = %+v, want seq 2 holding both", m)
			}
			break
		}
	}
}

func TestRelayNotReadyBeforeFirstSnapshot(t *testing.T) {
	clock := system.Clock{}
	r := remote.NewRelay(memory.NewRevocationStore(clock, nil), memory.NewEventBus(memory.EventBusConfig{}), clock, remote.RelayConfig{})
	err := r.Follow(t.Context(), 0, false, func(remote.Message) error { return nil })
	if !errors.Is(err, remote.ErrNotReady) {
		t.Fatalf("Follow before Run = %v, want ErrNotReady", err)
	}
}

func TestRelayForwardsKeyChanges(t *testing.T) {
	r := startRelay(t, remote.RelayConfig{})
	f := follow(t, r.relay, 0, false)
	f.next(t) // snapshot
	c := revocation.KeyChange{JWKSETag: `"5c0f"`, Withdrawn: "k-leaked"}
	if err := r.bus.Publish(t.Context(), revocation.Event{Kind: revocation.EventKeysChanged, PublishedAt: time.Now(), Keys: c}); err != nil {
		t.Fatal(err)
	}
	if m := f.next(t); m.Kind != remote.MsgKeys || m.KeysVersion != c.JWKSETag || m.Withdrawn != c.Withdrawn {
		t.Fatalf("message = %+v, want keys naming %+v", m, c)
	}
}

func waitSeq(t *testing.T, r *remote.Relay, seq uint64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for r.Seq() < seq {
		if time.Now().After(deadline) {
			t.Fatalf("relay at %d, want %d within 5s", r.Seq(), seq)
		}
		time.Sleep(time.Millisecond)
	}
}
