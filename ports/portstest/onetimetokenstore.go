package portstest

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate/core/onetime"
	"github.com/keygate/keygate/ports"
)

// RunOneTimeTokenStore runs the contract suite of ports.OneTimeTokenStore. open returns a
// fresh, empty store.
func RunOneTimeTokenStore(t *testing.T, open func(t *testing.T) ports.OneTimeTokenStore) {
	t.Helper()
	t.Run("RoundTrip", func(t *testing.T) { testOTTRoundTrip(t, open(t)) })
	t.Run("SingleUse", func(t *testing.T) { testOTTSingleUse(t, open(t)) })
	t.Run("NotFound", func(t *testing.T) { testOTTNotFound(t, open(t)) })
	t.Run("PurposeBound", func(t *testing.T) { testOTTPurpose(t, open(t)) })
	t.Run("PutConflict", func(t *testing.T) { testOTTConflict(t, open(t)) })
	t.Run("Expires", func(t *testing.T) { testOTTExpires(t, open(t)) })
	t.Run("AlreadyExpired", func(t *testing.T) { testOTTAlreadyExpired(t, open(t)) })
	t.Run("ConcurrentTakeOneWins", func(t *testing.T) { testOTTRace(t, open(t)) })
	t.Run("OddUserIDs", func(t *testing.T) { testOTTOdd(t, open(t)) })
}

func newOTT(p onetime.Purpose, user string, exp time.Time) onetime.Token {
	_, tok := onetime.New(p, user, onetime.StampOf("hash of "+user), exp)
	return tok
}

func testOTTRoundTrip(t *testing.T, st ports.OneTimeTokenStore) {
	for _, p := range []onetime.Purpose{onetime.PurposeReset, onetime.PurposeVerify} {
		want := newOTT(p, "u1", Now().Add(time.Hour))
		must(t, "Put", st.Put(t.Context(), want))
		got, err := st.Take(t.Context(), p, want.Hash)
		must(t, "Take", err)
		if d := diff(want, got); d != "" {
			t.Errorf("Take(%s) (-put +taken):\n%s", p, d)
		}
	}
}

func testOTTSingleUse(t *testing.T, st ports.OneTimeTokenStore) {
	tok := newOTT(onetime.PurposeReset, "u1", Now().Add(time.Hour))
	must(t, "Put", st.Put(t.Context(), tok))
	if _, err := st.Take(t.Context(), tok.Purpose, tok.Hash); err != nil {
		t.Fatalf("first Take: %v", err)
	}
	if _, err := st.Take(t.Context(), tok.Purpose, tok.Hash); !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("second Take = %v, want ErrNotFound", err)
	}
	// Used up, the same token may be stored again (a store must not keep a tombstone that
	// refuses it) and taken once more.
	must(t, "Put again", st.Put(t.Context(), tok))
	if _, err := st.Take(t.Context(), tok.Purpose, tok.Hash); err != nil {
		t.Errorf("Take after Put again: %v", err)
	}
}

func testOTTNotFound(t *testing.T, st ports.OneTimeTokenStore) {
	tok := newOTT(onetime.PurposeReset, "u1", Now().Add(time.Hour))
	if _, err := st.Take(t.Context(), tok.Purpose, tok.Hash); !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("Take of a token never stored = %v, want ErrNotFound", err)
	}
}

func testOTTPurpose(t *testing.T, st ports.OneTimeTokenStore) {
	tok := newOTT(onetime.PurposeVerify, "u1", Now().Add(time.Hour))
	must(t, "Put", st.Put(t.Context(), tok))
	if _, err := st.Take(t.Context(), onetime.PurposeReset, tok.Hash); !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("Take of a verify token as a reset token = %v, want ErrNotFound", err)
	}
	// The wrong purpose did not use it up.
	if _, err := st.Take(t.Context(), onetime.PurposeVerify, tok.Hash); err != nil {
		t.Errorf("Take with its own purpose after a wrong one: %v", err)
	}
}

func testOTTConflict(t *testing.T, st ports.OneTimeTokenStore) {
	tok := newOTT(onetime.PurposeReset, "u1", Now().Add(time.Hour))
	must(t, "Put", st.Put(t.Context(), tok))
	other := tok
	other.UserID = "mallory"
	if err := st.Put(t.Context(), other); !errors.Is(err, ports.ErrConflict) {
		t.Errorf("Put of a stored hash = %v, want ErrConflict", err)
	}
	got, err := st.Take(t.Context(), tok.Purpose, tok.Hash)
	must(t, "Take", err)
	if got.UserID != "u1" {
		t.Errorf("after a refused Put the token belongs to %q, want u1", got.UserID)
	}
}

func testOTTExpires(t *testing.T, st ports.OneTimeTokenStore) {
	exp := Now().Add(ExpiresIn)
	tok := newOTT(onetime.PurposeReset, "u1", exp)
	live := newOTT(onetime.PurposeReset, "u1", Now().Add(time.Hour))
	must(t, "Put", st.Put(t.Context(), tok))
	must(t, "Put", st.Put(t.Context(), live))
	waitPast(exp)
	if _, err := st.Take(t.Context(), tok.Purpose, tok.Hash); !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("Take past the expiry = %v, want ErrNotFound", err)
	}
	if _, err := st.Take(t.Context(), live.Purpose, live.Hash); err != nil {
		t.Errorf("Take of a live token beside an expired one: %v", err)
	}
}

func testOTTAlreadyExpired(t *testing.T, st ports.OneTimeTokenStore) {
	tok := newOTT(onetime.PurposeReset, "u1", Now().Add(-time.Minute))
	if err := st.Put(t.Context(), tok); err != nil {
		t.Fatalf("Put of an expired token = %v, want accepted", err)
	}
	if _, err := st.Take(t.Context(), tok.Purpose, tok.Hash); !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("Take of a token stored expired = %v, want ErrNotFound", err)
	}
}

func testOTTRace(t *testing.T, st ports.OneTimeTokenStore) {
	for round := range 5 {
		tok := newOTT(onetime.PurposeReset, "u1", Now().Add(time.Hour))
		must(t, "Put", st.Put(t.Context(), tok))
		var won, lost atomic.Int32
		race(racers, func(int) {
			_, err := st.Take(t.Context(), tok.Purpose, tok.Hash)
			switch {
			case err == nil:
				won.Add(1)
			case errors.Is(err, ports.ErrNotFound):
				lost.Add(1)
			default:
				t.Errorf("Take: %v", err)
			}
		})
		if won.Load() != 1 || lost.Load() != racers-1 {
			t.Errorf("round %d: %d concurrent Takes: %d won, %d not found; want exactly 1 winner", round, racers, won.Load(), lost.Load())
		}
	}
}

func testOTTOdd(t *testing.T, st ports.OneTimeTokenStore) {
	for _, k := range oddKeys(200) {
		tok := newOTT(onetime.PurposeVerify, k.key, Now().Add(time.Hour))
		tok.Stamp = k.key
		must(t, "Put "+k.name, st.Put(t.Context(), tok))
		got, err := st.Take(t.Context(), tok.Purpose, tok.Hash)
		if err != nil {
			t.Errorf("Take %s: %v", k.name, err)
			continue
		}
		if d := diff(tok, got); d != "" {
			t.Errorf("%s (-put +taken):\n%s", k.name, d)
		}
	}
}
