package guard

import (
	"crypto/ed25519"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/keygate/keygate/core/revocation"
	"github.com/keygate/keygate/core/token"
)

// TestNeverLoadedSetRefusesEveryToken: failing open keeps the last-known set, it never means
// "no set". Until the feed's first full load a guard refuses every token, revoked or not,
// with ErrRevocationUnavailable (503, never 200 or 401), whatever FailClosedAfter says; after
// the load, revoked tokens are refused and the others accepted.
func TestNeverLoadedSetRefusesEveryToken(t *testing.T) {
	for _, bound := range []time.Duration{0, 30 * time.Second} {
		t.Run("fail-closed-after="+bound.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				store, bus := newStore(wallClock{}), newBus()
				revoke(t, store, bus, revocation.Entry{Kind: revocation.KindSession, Key: "gone",
					ExpiresAt: time.Now().Add(time.Hour)})
				store.setDown(true) // the store is unreachable from the start
				f, _ := startFeed(t, store, bus, nil, feedCfg)
				s := newSigner(7)
				keys := &mapKeys{keys: map[string]ed25519.PublicKey{s.kid: s.pub()}}
				g, err := New(keys, f, wallClock{}, newMetrics(), Config{Issuer: testIssuer, Audiences: []string{testAud}, FailClosedAfter: bound})
				if err != nil {
					t.Fatal(err)
				}
				loggedOut := func() string { return s.sign(s.header(), with(time.Now(), map[string]any{"sid": "gone"})) }
				valid := func() string { return s.sign(s.header(), with(time.Now(), nil)) }

				for _, wait := range []time.Duration{0, time.Second, time.Minute, 10 * time.Minute} {
					time.Sleep(wait)
					synctest.Wait()
					for name, tok := range map[string]string{"logged-out": loggedOut(), "valid": valid()} {
						_, err := g.Authenticate(t.Context(), tok)
						if !errors.Is(err, token.ErrRevocationUnavailable) || !token.Unavailable(err) {
							t.Errorf("%s token %v after start with the store down: %v, want ErrRevocationUnavailable", name, wait, err)
						}
					}
					if got := g.Readiness().State; got != StateNotLoaded {
						t.Errorf("Readiness().State = %q, want %q", got, StateNotLoaded)
					}
				}

				store.setDown(false)
				time.Sleep(time.Minute)
				synctest.Wait()
				if _, err := g.Authenticate(t.Context(), loggedOut()); !errors.Is(err, token.ErrRevoked) {
					t.Errorf("logged-out token after the first load: %v, want ErrRevoked", err)
				}
				if _, err := g.Authenticate(t.Context(), valid()); err != nil {
					t.Errorf("valid token after the first load: %v", err)
				}
			})
		})
	}
}

// TestFailOpenKeepsTheLastKnownSet: once loaded, a fail-open guard keeps serving through a
// long outage from the set it had, so a token revoked before the outage stays refused.
func TestFailOpenKeepsTheLastKnownSet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store, bus := newStore(wallClock{}), newBus()
		revoke(t, store, bus, revocation.Entry{Kind: revocation.KindSession, Key: "gone", ExpiresAt: time.Now().Add(24 * time.Hour)})
		f, _ := startFeed(t, store, bus, nil, feedCfg)
		if err := f.WaitSynced(t.Context()); err != nil {
			t.Fatal(err)
		}
		s := newSigner(7)
		keys := &mapKeys{keys: map[string]ed25519.PublicKey{s.kid: s.pub()}}
		g, _ := New(keys, f, wallClock{}, newMetrics(), Config{Issuer: testIssuer, Audiences: []string{testAud}})
		store.setDown(true)
		bus.kick(true)
		time.Sleep(time.Hour)
		synctest.Wait()
		if _, err := g.Authenticate(t.Context(), s.sign(s.header(), with(time.Now(), map[string]any{"sid": "gone"}))); !errors.Is(err, token.ErrRevoked) {
			t.Errorf("revoked token an hour into the outage: %v, want ErrRevoked", err)
		}
		if _, err := g.Authenticate(t.Context(), s.sign(s.header(), with(time.Now(), nil))); err != nil {
			t.Errorf("valid token an hour into the outage: %v", err)
		}
		if got := g.Readiness().State; got != StateDegraded {
			t.Errorf("Readiness().State = %q, want %q", got, StateDegraded)
		}
	})
}

// TestReadinessIsWhatAuthenticateDoes: each state Readiness reports matches what
// Authenticate answers a valid token in that state, so /ready can never say one thing while
// the guard does another.
func TestReadinessIsWhatAuthenticateDoes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store, bus := newStore(wallClock{}), newBus()
		store.setDown(true)
		f, _ := startFeed(t, store, bus, nil, feedCfg)
		s := newSigner(7)
		keys := &mapKeys{keys: map[string]ed25519.PublicKey{s.kid: s.pub()}}
		const bound = 30 * time.Second
		g, _ := New(keys, f, wallClock{}, newMetrics(), Config{Issuer: testIssuer, Audiences: []string{testAud}, FailClosedAfter: bound})
		check := func(step string, want State) {
			t.Helper()
			r := g.Readiness()
			if r.State != want {
				t.Errorf("%s: Readiness().State = %q, want %q", step, r.State, want)
			}
			if r.FailClosedAfter != bound {
				t.Errorf("%s: Readiness().FailClosedAfter = %v, want %v", step, r.FailClosedAfter, bound)
			}
			_, err := g.Authenticate(t.Context(), s.sign(s.header(), with(time.Now(), nil)))
			if serving := err == nil; serving != want.Serving() {
				t.Errorf("%s: Authenticate: %v, but state %q serving = %v", step, err, want, want.Serving())
			}
			if err != nil && !errors.Is(err, token.ErrRevocationUnavailable) {
				t.Errorf("%s: Authenticate: %v, want ErrRevocationUnavailable", step, err)
			}
		}
		synctest.Wait()
		check("before the first load", StateNotLoaded)
		store.setDown(false)
		time.Sleep(time.Minute)
		synctest.Wait()
		check("loaded and connected", StateOK)
		// Connected, but the store does not answer (or is a replica cut off from its primary,
		// whose Seq fails): within three polls it is still ok, past them degraded.
		store.setDown(true)
		time.Sleep(2 * feedCfg.Poll)
		synctest.Wait()
		check("connected, the store silent for two polls", StateOK)
		time.Sleep(2 * feedCfg.Poll)
		synctest.Wait()
		check("connected, the store silent for four polls", StateDegraded)
		store.setDown(false)
		time.Sleep(2 * feedCfg.Poll)
		synctest.Wait()
		check("the store back", StateOK)
		bus.kick(true) // the feed's connection drops; the store still answers polls
		time.Sleep(time.Minute)
		synctest.Wait()
		check("disconnected, polls still current", StateDegraded)
		store.setDown(true)
		time.Sleep(time.Minute)
		synctest.Wait()
		check("past the fail-closed bound", StateStale)
		store.setDown(false)
		bus.setDown(false)
		time.Sleep(time.Minute)
		synctest.Wait()
		check("recovered", StateOK)
	})
}
