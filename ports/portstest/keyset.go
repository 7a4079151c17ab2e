package portstest

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate/core/token"
	"github.com/keygate/keygate/ports"
)

// KeySetIssuer is a ports.KeySet under test together with the issuer it follows: what
// RunKeySet changes to see the key set follow it.
type KeySetIssuer struct {
	KeySet ports.KeySet
	// Publish adds a new key to the issuer's published set and returns its kid and public key.
	// The key set has not seen it yet.
	Publish func(t *testing.T) (kid string, pub ed25519.PublicKey)
	// Withdraw removes kid from the issuer's published set at once (a compromised key).
	Withdraw func(t *testing.T, kid string)
	// Break makes the issuer's keys unreachable from now on; Repair undoes it.
	Break  func(t *testing.T)
	Repair func(t *testing.T)
	// Settle lets the key set's rate limits pass (advance its fake clock past a cooldown).
	Settle func(t *testing.T)
}

// RunKeySet is the contract of ports.KeySet. open returns a key set that has loaded nothing
// yet, following an issuer that publishes no key yet. The cases: a known kid answers its key; an
// unknown kid answers token.ErrUnknownKid, a key set never loaded token.ErrKeysUnavailable; a
// newly published kid is found only by a refresh (Refresh, or PublicKey with mayRefresh), never
// by a lookup that may not refresh; a withdrawn key is gone after the next refresh; a
// distrusted kid is refused at once (no I/O) and after refreshes that still find it; a failing
// issuer keeps the last good keys; and lookups race refreshes safely.
func RunKeySet(t *testing.T, open func(t *testing.T) KeySetIssuer) {
	// loaded returns a key set that has loaded one published key.
	loaded := func(t *testing.T) (KeySetIssuer, string, ed25519.PublicKey) {
		t.Helper()
		ks := open(t)
		kid, pub := ks.Publish(t)
		if err := ks.KeySet.Refresh(t.Context(), ""); err != nil {
			t.Fatalf("Refresh: %v", err)
		}
		ks.Settle(t)
		return ks, kid, pub
	}
	wantKey := func(t *testing.T, ks KeySetIssuer, kid string, mayRefresh bool, want ed25519.PublicKey) {
		t.Helper()
		got, err := ks.KeySet.PublicKey(t.Context(), kid, mayRefresh)
		if err != nil || !bytes.Equal(got, want) || len(got) != ed25519.PublicKeySize {
			t.Fatalf("PublicKey(%q, %v) = %x, %v; want %x", kid, mayRefresh, got, err, want)
		}
	}
	wantErr := func(t *testing.T, ks KeySetIssuer, kid string, mayRefresh bool, want error) {
		t.Helper()
		if got, err := ks.KeySet.PublicKey(t.Context(), kid, mayRefresh); !errors.Is(err, want) || got != nil {
			t.Fatalf("PublicKey(%q, %v) = %x, %v; want %v", kid, mayRefresh, got, err, want)
		}
	}

	t.Run("KnownKid", func(t *testing.T) {
		ks, kid, pub := loaded(t)
		wantKey(t, ks, kid, false, pub)
		wantKey(t, ks, kid, true, pub)
	})
	t.Run("UnknownKid", func(t *testing.T) {
		ks, _, _ := loaded(t)
		for _, kid := range []string{"no-such-kid", "", "\x00", "kid with spaces"} {
			wantErr(t, ks, kid, false, token.ErrUnknownKid)
			ks.Settle(t)
			wantErr(t, ks, kid, true, token.ErrUnknownKid)
		}
	})
	t.Run("NeverLoadedIsUnavailable", func(t *testing.T) {
		ks := open(t)
		ks.Break(t)
		wantErr(t, ks, "any", true, token.ErrKeysUnavailable)
		if err := ks.KeySet.Refresh(t.Context(), ""); err == nil {
			t.Error("Refresh from a broken issuer = nil, want an error")
		}
		wantErr(t, ks, "any", false, token.ErrKeysUnavailable)
	})
	t.Run("NewKidNeedsARefresh", func(t *testing.T) {
		ks, _, _ := loaded(t)
		kid, pub := ks.Publish(t)
		wantErr(t, ks, kid, false, token.ErrUnknownKid) // no I/O without mayRefresh
		wantKey(t, ks, kid, true, pub)                  // one refresh for a plausible token

		kid, pub = ks.Publish(t)
		ks.Settle(t)
		if err := ks.KeySet.Refresh(t.Context(), ""); err != nil {
			t.Fatalf("Refresh: %v", err)
		}
		wantKey(t, ks, kid, false, pub) // a key-change event's Refresh
	})
	t.Run("WithdrawnKeyGoneAfterRefresh", func(t *testing.T) {
		ks, kid, _ := loaded(t)
		other, otherPub := ks.Publish(t)
		ks.Withdraw(t, kid)
		if err := ks.KeySet.Refresh(t.Context(), ""); err != nil {
			t.Fatalf("Refresh: %v", err)
		}
		wantErr(t, ks, kid, false, token.ErrUnknownKid)
		ks.Settle(t)
		wantErr(t, ks, kid, true, token.ErrUnknownKid)
		wantKey(t, ks, other, false, otherPub)
	})
	t.Run("DistrustedKidRefusedAtOnceAndForGood", func(t *testing.T) {
		ks, kid, _ := loaded(t)
		other, otherPub := ks.Publish(t)
		if err := ks.KeySet.Refresh(t.Context(), ""); err != nil {
			t.Fatalf("Refresh: %v", err)
		}
		ks.Settle(t)
		// The issuer still publishes kid (the replica answering has not reloaded): a
		// key-change event named it withdrawn, and that wins, with no I/O and after reloads.
		ks.Break(t)
		ks.KeySet.Distrust(kid)
		wantErr(t, ks, kid, false, token.ErrUnknownKid)
		wantKey(t, ks, other, false, otherPub)
		ks.Repair(t)
		if err := ks.KeySet.Refresh(t.Context(), ""); err != nil {
			t.Fatalf("Refresh: %v", err)
		}
		ks.Settle(t)
		wantErr(t, ks, kid, false, token.ErrUnknownKid)
		wantErr(t, ks, kid, true, token.ErrUnknownKid)
		wantKey(t, ks, other, false, otherPub)
		ks.KeySet.Distrust(kid) // twice is once
		ks.KeySet.Distrust("")
		wantKey(t, ks, other, true, otherPub)
	})
	t.Run("FailingIssuerKeepsTheLastGoodKeys", func(t *testing.T) {
		ks, kid, pub := loaded(t)
		ks.Break(t)
		if err := ks.KeySet.Refresh(t.Context(), ""); err == nil {
			t.Error("Refresh from a broken issuer = nil, want an error")
		}
		wantKey(t, ks, kid, false, pub)
		ks.Settle(t)
		wantErr(t, ks, "no-such-kid", true, token.ErrUnknownKid)
		wantKey(t, ks, kid, true, pub)
	})
	t.Run("ConcurrentLookupsAndRefreshes", func(t *testing.T) {
		ks, kid, pub := loaded(t)
		const goroutines, lookups = 8, 200
		errs := make(chan error, goroutines*lookups*2)
		var wg sync.WaitGroup
		stop := make(chan struct{})
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				_ = ks.KeySet.Refresh(t.Context(), "")
				time.Sleep(time.Millisecond)
			}
		})
		var lookupsWG sync.WaitGroup
		for i := range goroutines {
			lookupsWG.Go(func() {
				for range lookups {
					if got, err := ks.KeySet.PublicKey(t.Context(), kid, i%2 == 0); err != nil || !bytes.Equal(got, pub) {
						errs <- errors.Join(errors.New("known kid"), err)
					}
					if _, err := ks.KeySet.PublicKey(t.Context(), "no-such-kid", i%2 == 0); !errors.Is(err, token.ErrUnknownKid) {
						errs <- errors.Join(errors.New("unknown kid"), err)
					}
				}
			})
		}
		lookupsWG.Wait()
		close(stop)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("concurrent PublicKey: %v", err)
			break
		}
	})
}
