package portstest

import (
	"bytes"
	"errors"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate/core/key"
	"github.com/keygate/keygate/ports"
)

// RunKeyStore runs the contract suite of ports.KeyStore. open returns a fresh, empty store.
func RunKeyStore(t *testing.T, open func(t *testing.T) ports.KeyStore) {
	t.Helper()
	t.Run("Empty", func(t *testing.T) {
		got, err := open(t).Keys(t.Context())
		if err != nil || len(got) != 0 {
			t.Errorf("Keys of an empty store = %d keys, %v; want none, nil", len(got), err)
		}
	})
	t.Run("RoundTrip", func(t *testing.T) { testKeyRoundTrip(t, open(t)) })
	t.Run("Conflict", func(t *testing.T) { testKeyConflict(t, open(t)) })
	t.Run("ConcurrentInsertOneSlot", func(t *testing.T) { testKeyRace(t, open(t)) })
	t.Run("Retire", func(t *testing.T) { testKeyRetire(t, open(t)) })
}

var testKEK = bytes.Repeat([]byte{7}, 32)

// newKey returns a sealed key for slot seq, with Private still set (the store must drop it).
func newKey(t *testing.T, seq int64) key.Key {
	t.Helper()
	now := Now()
	k, err := key.Generate(nil, seq, now.Add(-time.Hour), now.Add(time.Duration(seq)*time.Minute))
	must(t, "key.Generate", err)
	k, err = key.Seal(k, testKEK)
	must(t, "key.Seal", err)
	return k
}

// stored is what Keys must return for k: no private half.
func stored(k key.Key) key.Key {
	k.Private = nil
	return k
}

func keysBySeq(t *testing.T, s ports.KeyStore) []key.Key {
	t.Helper()
	ks, err := s.Keys(t.Context())
	must(t, "Keys", err)
	for _, k := range ks {
		if k.Private != nil {
			t.Errorf("Keys returned key %d with its private half", k.Seq)
		}
	}
	sort.Slice(ks, func(i, j int) bool { return ks[i].Seq < ks[j].Seq })
	return ks
}

func testKeyRoundTrip(t *testing.T, s ports.KeyStore) {
	k1, k2 := newKey(t, 1), newKey(t, 2)
	k2.RetiredAt = Now().Add(time.Hour)
	for _, k := range []key.Key{k2, k1} {
		must(t, "Insert", s.Insert(t.Context(), k))
	}
	want := []key.Key{stored(k1), stored(k2)}
	got := keysBySeq(t, s)
	if d := diff(want, got); d != "" {
		t.Fatalf("Keys (-want +got):\n%s", d)
	}
	// What comes back opens under the KEK: Sealed and Public survived byte for byte.
	opened, err := key.Open(got[0], testKEK)
	must(t, "key.Open of a stored key", err)
	if !opened.Private.Equal(k1.Private) {
		t.Errorf("stored key opened to another private key")
	}
}

func testKeyConflict(t *testing.T, s ports.KeyStore) {
	k := newKey(t, 1)
	must(t, "Insert", s.Insert(t.Context(), k))
	sameSeq := newKey(t, 1)
	sameID := k
	sameID.Seq = 2
	sameID.ActivatesAt = k.ActivatesAt.Add(time.Hour)
	tests := []struct {
		name string
		k    key.Key
	}{
		{"same slot", sameSeq},
		{"same id", sameID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.Insert(t.Context(), tt.k); !errors.Is(err, ports.ErrConflict) {
				t.Errorf("Insert with the %s = %v, want ErrConflict", tt.name, err)
			}
		})
	}
	if d := diff([]key.Key{stored(k)}, keysBySeq(t, s)); d != "" {
		t.Errorf("Keys after refused Inserts (-want +got):\n%s", d)
	}
}

func testKeyRace(t *testing.T, s ports.KeyStore) {
	ks := make([]key.Key, racers)
	for i := range ks {
		ks[i] = newKey(t, 1)
	}
	errs := make([]error, racers)
	race(racers, func(i int) { errs[i] = s.Insert(t.Context(), ks[i]) })
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("two racing Inserts of slot 1 succeeded")
		case err == nil:
			winner = i
		case !errors.Is(err, ports.ErrConflict):
			t.Errorf("racing Insert = %v, want nil or ErrConflict", err)
		}
	}
	if winner < 0 {
		t.Fatalf("no racing Insert of slot 1 succeeded")
	}
	if d := diff([]key.Key{stored(ks[winner])}, keysBySeq(t, s)); d != "" {
		t.Errorf("Keys after racing Inserts (-want +got):\n%s", d)
	}
}

func testKeyRetire(t *testing.T, s ports.KeyStore) {
	k1, k2 := newKey(t, 1), newKey(t, 2)
	for _, k := range []key.Key{k1, k2} {
		must(t, "Insert", s.Insert(t.Context(), k))
	}
	now := Now()
	steps := []struct {
		name string
		at   time.Time
		want time.Time
	}{
		{"first retirement sets it", now.Add(time.Hour), now.Add(time.Hour)},
		{"a later time is ignored", now.Add(2 * time.Hour), now.Add(time.Hour)},
		{"an earlier time wins", now.Add(-time.Minute), now.Add(-time.Minute)},
	}
	for _, st := range steps {
		must(t, "Retire", s.Retire(t.Context(), k1.ID, st.at))
		got := keysBySeq(t, s)
		if len(got) != 2 || !got[0].RetiredAt.Equal(st.want) {
			t.Fatalf("%s: RetiredAt = %v, want %v", st.name, got[0].RetiredAt, st.want)
		}
		if !got[1].RetiredAt.IsZero() {
			t.Fatalf("%s: the other key's RetiredAt = %v, want zero", st.name, got[1].RetiredAt)
		}
	}
	if err := s.Retire(t.Context(), "no-such-kid", now); !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("Retire of an unknown key = %v, want ErrNotFound", err)
	}
}

// RunKeyStoreReplicas runs the replica case of ports.KeyStore: open returns two stores over
// one fresh, empty backing store, as two auth replicas hold (two pools on one database). For
// 20 slots both race to Insert a different key into the same slot: exactly one wins each
// time, the other gets ports.ErrConflict, and both then read the same 20 keys.
func RunKeyStoreReplicas(t *testing.T, open func(t *testing.T) (a, b ports.KeyStore)) {
	t.Helper()
	t.Run("InsertOneSlotFromTwoReplicas", func(t *testing.T) {
		a, b := open(t)
		stores := []ports.KeyStore{a, b}
		const slots = 20
		for seq := int64(1); seq <= slots; seq++ {
			errs := make([]error, len(stores))
			var start, done sync.WaitGroup
			start.Add(1)
			for i, s := range stores {
				k := newKey(t, seq)
				done.Go(func() {
					start.Wait()
					errs[i] = s.Insert(t.Context(), k)
				})
			}
			start.Done()
			done.Wait()
			wins := 0
			for _, err := range errs {
				switch {
				case err == nil:
					wins++
				case !errors.Is(err, ports.ErrConflict):
					t.Fatalf("slot %d: Insert = %v, want nil or ErrConflict", seq, err)
				}
			}
			if wins != 1 {
				t.Fatalf("slot %d: %d replicas inserted a key, want exactly 1", seq, wins)
			}
		}
		var first []string
		for i, s := range stores {
			ks, err := s.Keys(t.Context())
			must(t, "Keys", err)
			var ids []string
			for _, k := range ks {
				ids = append(ids, k.ID)
			}
			sort.Strings(ids)
			if len(ids) != slots {
				t.Fatalf("replica %d reads %d keys after %d contested slots, want %d", i, len(ids), slots, slots)
			}
			if i == 0 {
				first = ids
			} else if !slices.Equal(first, ids) {
				t.Errorf("the replicas read different rings: %v and %v", first, ids)
			}
		}
	})
}
