package auth

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keygate/keygate/core/guard"
	"github.com/keygate/keygate/core/token"
	"github.com/keygate/keygate/ports/portstest"
)

// guardEnv is authd's own composition, in its order: the key ring, a Feed on the same memory
// store and bus and a guard over the ring, then the Service with the guard as its Verifier.
func newGuardEnv(t *testing.T) (*env, *guard.Guard) {
	t.Helper()
	e := newEnv(t)
	feed := guard.NewFeed(e.revs, e.bus, e.ring, e.clock, e.metrics, guard.FeedConfig{})
	g, err := guard.New(e.ring, feed, e.clock, e.metrics,
		guard.Config{Issuer: e.cfg.Issuer, Audiences: []string{"orders"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = feed.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	if err := feed.WaitSynced(t.Context()); err != nil {
		t.Fatal(err)
	}
	e.deps.Verifier = g
	e.svc = e.service(t, nil)
	return e, g
}

// waitRefused waits until the guard refuses raw as revoked (the push arrives in ms).
func waitRefused(t *testing.T, g *guard.Guard, raw string) {
	t.Helper()
	portstest.Eventually(t, "the guard to refuse the token", func() bool {
		_, err := g.Authenticate(t.Context(), raw)
		return errors.Is(err, token.ErrRevoked)
	})
}

func TestWithTheRealGuard(t *testing.T) {
	t.Run("login, then logout pushes the revocation", func(t *testing.T) {
		e, g := newGuardEnv(t)
		e.register(t, "alice@example.org")
		tp := e.login(t, "alice@example.org")
		c, err := g.Authenticate(t.Context(), tp.AccessToken)
		if err != nil {
			t.Fatalf("guard refused a fresh token: %v", err)
		}
		if err := e.svc.Logout(t.Context(), c, client); err != nil {
			t.Fatal(err)
		}
		waitRefused(t, g, tp.AccessToken)
	})
	t.Run("refresh-token reuse pushes the session revocation", func(t *testing.T) {
		e, g := newGuardEnv(t)
		e.register(t, "alice@example.org")
		tp1 := e.login(t, "alice@example.org")
		tp2 := e.refresh(t, tp1.RefreshToken)
		tp3 := e.refresh(t, tp2.RefreshToken)
		if _, err := g.Authenticate(t.Context(), tp3.AccessToken); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Refresh(t.Context(), tp1.RefreshToken, client); !errors.Is(err, ErrInvalidGrant) {
			t.Fatalf("grandparent: %v", err)
		}
		waitRefused(t, g, tp3.AccessToken)
	})
	t.Run("RFC 7009 revoke of an access token through the guard", func(t *testing.T) {
		e, g := newGuardEnv(t)
		e.register(t, "alice@example.org")
		tp := e.login(t, "alice@example.org")
		other := e.login(t, "alice@example.org")
		if err := e.svc.Revoke(t.Context(), tp.AccessToken, "access_token", client); err != nil {
			t.Fatal(err)
		}
		waitRefused(t, g, tp.AccessToken)
		if _, err := g.Authenticate(t.Context(), other.AccessToken); err != nil {
			t.Errorf("another token of the user: %v", err)
		}
		// Revoking it again (now refused by the guard) succeeds silently.
		if err := e.svc.Revoke(t.Context(), tp.AccessToken, "", client); err != nil {
			t.Errorf("second revoke: %v", err)
		}
	})
	t.Run("logout-all: earlier tokens refused, a new login's accepted", func(t *testing.T) {
		e, g := newGuardEnv(t)
		e.register(t, "alice@example.org")
		before := e.login(t, "alice@example.org")
		c, err := g.Authenticate(t.Context(), before.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.svc.LogoutAll(t.Context(), c, client); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(time.Millisecond) // the wait to the next whole second
		waitRefused(t, g, before.AccessToken)
		after := e.login(t, "alice@example.org")
		if _, err := g.Authenticate(t.Context(), after.AccessToken); err != nil {
			t.Errorf("token of a login after logout-all: %v", err)
		}
	})
	t.Run("a disabled admin's earlier token loses the admin routes", func(t *testing.T) {
		e, g := newGuardEnv(t)
		for _, em := range []string{"root@example.org", "mallory@example.org"} {
			if err := e.svc.BootstrapAdmin(t.Context(), em, testPassword); err != nil {
				t.Fatal(err)
			}
		}
		root, err := g.Authenticate(t.Context(), e.login(t, "root@example.org").AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		mallory := e.login(t, "mallory@example.org")
		mc, err := g.Authenticate(t.Context(), mallory.AccessToken)
		if err != nil || !mc.HasRole("admin") {
			t.Fatalf("mallory's token: %v, roles %v", err, mc.Roles)
		}
		if err := e.svc.DisableUser(t.Context(), root, mc.Subject, client); err != nil {
			t.Fatal(err)
		}
		// The token still says admin; the subject revocation is what refuses it.
		e.clock.Advance(time.Millisecond)
		waitRefused(t, g, mallory.AccessToken)
		if _, err := e.svc.Refresh(t.Context(), mallory.RefreshToken, client); !errors.Is(err, ErrInvalidGrant) {
			t.Errorf("refresh of the disabled admin: %v", err)
		}
	})
	t.Run("a key created by another replica verifies at once", func(t *testing.T) {
		e, g := newGuardEnv(t)
		e.register(t, "alice@example.org")
		otherRing := e.newRing(t)
		other := e.service(t, func(d *Deps) { d.Signer = otherRing })
		if err := otherRing.Retire(t.Context(), e.storedKeys(t)[0].ID); err != nil {
			t.Fatal(err)
		}
		// The other replica signs with its new key; this replica's guard has never seen it.
		tp, err := other.Login(t.Context(), "alice@example.org", testPassword, client)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := g.Authenticate(t.Context(), tp.AccessToken); err != nil {
			t.Errorf("token signed by a new key of another replica: %v", err)
		}
	})
}

// A revocation must outlive the token at every verifier, including one allowed the largest
// clock-skew leeway (guard.MaxLeeway, KEYGATE_LEEWAY=120s): else the token, past its exp but
// within that verifier's leeway, would be accepted again once the entry lapsed.
func TestRevocationOutlivesTheMostLenientVerifier(t *testing.T) {
	tests := []struct {
		name   string
		revoke func(t *testing.T, e *env, c token.Claims, tp TokenPair) error
	}{
		{"RFC 7009 access token", func(t *testing.T, e *env, _ token.Claims, tp TokenPair) error {
			return e.svc.Revoke(t.Context(), tp.AccessToken, "", client)
		}},
		{"logout", func(t *testing.T, e *env, c token.Claims, _ TokenPair) error {
			return e.svc.Logout(t.Context(), c, client)
		}},
		{"logout-all", func(t *testing.T, e *env, c token.Claims, _ TokenPair) error {
			return e.svc.LogoutAll(t.Context(), c, client)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			feed := guard.NewFeed(e.revs, e.bus, e.ring, e.clock, e.metrics, guard.FeedConfig{})
			g, err := guard.New(e.ring, feed, e.clock, e.metrics,
				guard.Config{Issuer: e.cfg.Issuer, Audiences: []string{"orders"}, Leeway: guard.MaxLeeway})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); _ = feed.Run(ctx) }()
			t.Cleanup(func() { cancel(); <-done })
			if err := feed.WaitSynced(t.Context()); err != nil {
				t.Fatal(err)
			}
			e.register(t, "alice@example.org")
			tp := e.login(t, "alice@example.org")
			c, err := g.Authenticate(t.Context(), tp.AccessToken)
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.revoke(t, e, c, tp); err != nil {
				t.Fatal(err)
			}
			e.clock.Advance(time.Millisecond) // logout-all's wait to the next whole second
			waitRefused(t, g, tp.AccessToken)
			// Past exp, within this verifier's leeway: still refused, as revoked.
			e.clock.Set(c.ExpiresAt.Add(guard.MaxLeeway - time.Second))
			if _, err := g.Authenticate(t.Context(), tp.AccessToken); !errors.Is(err, token.ErrRevoked) {
				t.Errorf("revoked token %v after its exp: %v, want %v", guard.MaxLeeway-time.Second, err, token.ErrRevoked)
			}
		})
	}
}
