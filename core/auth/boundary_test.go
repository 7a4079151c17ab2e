package auth

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keygate/keygate/core/identity"
	"github.com/keygate/keygate/core/session"
	"github.com/keygate/keygate/core/token"
	"github.com/keygate/keygate/ports"
)

// hookedUsers runs before ahead of every Update: another request that lands between a use
// case's clock reading and its store write.
type hookedUsers struct {
	ports.UserRepo
	before func()
}

func (h *hookedUsers) Update(ctx context.Context, id string, fn func(*identity.User) error) (identity.User, error) {
	if f := h.before; f != nil {
		h.before = nil
		f()
	}
	return h.UserRepo.Update(ctx, id, fn)
}

// A subject revocation is exact at the second boundary: a login that read the user before
// the admin's change lands keeps no token that verifies, even when the second turns between
// the admin's request starting and its write; a login after the call returns verifies.
func TestDisableIsExactAtTheSecondBoundary(t *testing.T) {
	e := newAdminEnv(t)
	// The clock is 1 ms before a whole second (t0). While DisableUser is on its way to the
	// store, the second turns and alice logs in: she is still enabled.
	var raced TokenPair
	hooked := &hookedUsers{UserRepo: e.users, before: func() {
		e.clock.Advance(998 * time.Millisecond) // 1 ms before the next whole second
		raced = e.login(t, "alice@example.org")
	}}
	svc := e.service(t, func(d *Deps) { d.Users = hooked })
	if err := svc.DisableUser(t.Context(), e.adminClaims, e.alice.ID, client); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(3 * time.Millisecond) // the real time DisableUser waited, to the not-before
	for name, tp := range map[string]TokenPair{"earlier login": e.alicePair, "login racing the disable": raced} {
		if _, err := e.verify(t, tp.AccessToken); !errors.Is(err, token.ErrRevoked) {
			t.Errorf("%s: access token after disable: %v, want ErrRevoked", name, err)
		}
		if _, err := svc.Refresh(t.Context(), tp.RefreshToken, client); !errors.Is(err, ErrInvalidGrant) {
			t.Errorf("%s: refresh after disable: %v", name, err)
		}
	}
	entries := e.snapshot(t)
	if len(entries) != 1 || !entries[0].NotBefore.Equal(e.clock.Now()) {
		t.Errorf("store = %+v, want one subject entry with not-before %v (the second after the write)", entries, e.clock.Now())
	}
}

// The not-before is the first whole second after the revocation: a token issued before the
// revocation is refused whichever second it carries; one issued after it in the same second is
// refused too (the at-most-one-second cost); one issued from the not-before on is accepted.
func TestSubjectRevocationBoundary(t *testing.T) {
	s := t0.Truncate(time.Second)                      // a whole second
	revokedAt := s.Add(time.Second - time.Millisecond) // the revocation, 1 ms before the next one
	nb := s.Add(time.Second)
	tests := []struct {
		name    string
		loginAt time.Time
		revoked bool
	}{
		{"issued in the previous second", s.Add(-time.Millisecond), true},
		{"issued earlier in the same second", s.Add(time.Millisecond), true},
		{"issued 1 ns before the revocation", revokedAt.Add(-time.Nanosecond), true},
		{"issued after the revocation, same second", revokedAt.Add(time.Nanosecond), true},
		{"issued 1 ns before the not-before", nb.Add(-time.Nanosecond), true},
		{"issued at the not-before", nb, false},
		{"issued after the not-before", nb.Add(time.Nanosecond), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			alice := e.register(t, "alice@example.org")
			var tp TokenPair
			if tt.loginAt.Before(revokedAt) {
				e.clock.Set(tt.loginAt)
				tp = e.login(t, "alice@example.org")
			}
			e.clock.Set(revokedAt)
			if err := e.svc.LogoutAll(t.Context(), token.Claims{Subject: alice.ID}, client); err != nil {
				t.Fatal(err)
			}
			if !tt.loginAt.Before(revokedAt) {
				e.clock.Set(tt.loginAt)
				tp = e.login(t, "alice@example.org")
			}
			e.clock.Set(nb.Add(time.Second)) // verified later: the rule does not depend on when
			_, err := e.verify(t, tp.AccessToken)
			if got := errors.Is(err, token.ErrRevoked); got != tt.revoked {
				t.Errorf("token issued at %v, revocation at %v: revoked = %v (%v), want %v",
					tt.loginAt.Format("15:04:05.000000000"), revokedAt.Format("15:04:05.000"), got, err, tt.revoked)
			}
		})
	}
}

// hookedSessions runs before ahead of the next Create.
type hookedSessions struct {
	ports.SessionStore
	before func()
}

func (h *hookedSessions) Create(ctx context.Context, s session.Session) error {
	if f := h.before; f != nil {
		h.before = nil
		f()
	}
	return h.SessionStore.Create(ctx, s)
}

// A login whose password check passed before an admin disabled the user, and whose session
// is stored after the disable swept the user's sessions, is refused and leaves no session.
func TestLoginRacingADisableLeavesNoSession(t *testing.T) {
	e := newAdminEnv(t)
	hooked := &hookedSessions{SessionStore: e.sessions}
	svc := e.service(t, func(d *Deps) { d.Sessions = hooked })
	hooked.before = func() {
		if err := svc.DisableUser(t.Context(), e.adminClaims, e.alice.ID, client); err != nil {
			t.Error(err)
		}
	}
	if tp, err := svc.Login(t.Context(), "alice@example.org", testPassword, client); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("login racing the disable: %v (tokens %v), want ErrInvalidCredentials", err, tp.AccessToken != "")
	}
	if ss, err := e.sessions.ListByUser(t.Context(), e.alice.ID); err != nil || len(ss) != 0 {
		t.Errorf("alice's sessions after the disable = %d (%v), want none", len(ss), err)
	}
}
