package auth

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/keygate/keygate/core/audit"
	"github.com/keygate/keygate/core/identity"
	"github.com/keygate/keygate/core/revocation"
	"github.com/keygate/keygate/core/token"
	"github.com/keygate/keygate/ports"
	"github.com/keygate/keygate/ports/portstest"
)

const newPassword = "a brand new passphrase"

func TestChangePassword(t *testing.T) {
	e := newEnv(t)
	alice := e.register(t, "alice@example.org")
	bob := e.register(t, "bob@example.org")
	laptop := e.login(t, "alice@example.org")
	phone := e.login(t, "alice@example.org")
	bobs := e.login(t, "bob@example.org")
	events := portstest.Events(t, e.bus, nil)

	laptopSID := e.claims(t, laptop.AccessToken).SessionID
	got, err := e.svc.ChangePassword(t.Context(), e.claims(t, laptop.AccessToken), testPassword, newPassword, client)
	if err != nil {
		t.Fatal(err)
	}
	// The other session is gone: its access token is refused, its refresh token too.
	if _, err := e.verify(t, phone.AccessToken); !errors.Is(err, token.ErrRevoked) {
		t.Errorf("other session's access token: %v, want ErrRevoked", err)
	}
	if _, err := e.svc.Refresh(t.Context(), phone.RefreshToken, client); !errors.Is(err, ErrInvalidGrant) {
		t.Errorf("other session's refresh token: %v, want ErrInvalidGrant", err)
	}
	// The caller's session stays: a new access token, the same refresh token.
	if _, err := e.verify(t, laptop.AccessToken); !errors.Is(err, token.ErrRevoked) {
		t.Errorf("the caller's old access token: %v, want ErrRevoked (the answer carries a new one)", err)
	}
	c := e.claims(t, got.AccessToken)
	if c.SessionID != laptopSID || got.RefreshToken != laptop.RefreshToken {
		t.Errorf("returned pair is not the caller's session: sid %s, refresh token changed %v", c.SessionID, got.RefreshToken != laptop.RefreshToken)
	}
	e.clock.Advance(time.Millisecond) // the real time ChangePassword waited, to the not-before
	e.claims(t, e.refresh(t, got.RefreshToken).AccessToken)
	// Passwords: the old one no longer logs in, the new one does.
	if _, err := e.svc.Login(t.Context(), "alice@example.org", testPassword, client); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("login with the old password: %v", err)
	}
	if _, err := e.svc.Login(t.Context(), "alice@example.org", newPassword, client); err != nil {
		t.Errorf("login with the new password: %v", err)
	}
	e.claims(t, bobs.AccessToken) // nobody else is touched
	// Pushed to verifiers, and audited.
	portstest.Eventually(t, "the subject revocation event", func() bool {
		return slices.ContainsFunc(events(), func(ev revocation.Event) bool {
			return ev.Entry.Kind == revocation.KindSubject && ev.Entry.Key == alice.ID
		})
	})
	if acts := e.auditActions(t, alice.ID); !slices.Contains(acts, audit.ActionPasswordChanged) {
		t.Errorf("audit = %v", acts)
	}
	_ = bob
}

func TestChangePasswordRefusals(t *testing.T) {
	tests := []struct {
		name             string
		current, next    string
		want             error
		wantFailureAudit bool
	}{
		{"wrong current password", "not my password", newPassword, ErrWrongPassword, true},
		{"current password out of policy", "short", newPassword, ErrWrongPassword, true},
		{"empty current password", "", newPassword, ErrWrongPassword, true},
		{"new password too short", testPassword, "short", identity.ErrInvalidPassword, false},
		{"new password too long", testPassword, string(make([]rune, 129)), identity.ErrInvalidPassword, false},
		{"new password with NUL", testPassword, "abc\x00defghij", identity.ErrInvalidPassword, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			alice := e.register(t, "alice@example.org")
			tp := e.login(t, "alice@example.org")
			_, err := e.svc.ChangePassword(t.Context(), e.claims(t, tp.AccessToken), tt.current, tt.next, client)
			if !errors.Is(err, tt.want) {
				t.Fatalf("ChangePassword: %v, want %v", err, tt.want)
			}
			e.claims(t, tp.AccessToken) // nothing revoked
			e.login(t, "alice@example.org")
			if got := slices.Contains(e.auditActions(t, alice.ID), audit.ActionPasswordChangeFailure); got != tt.wantFailureAudit {
				t.Errorf("failure audited = %v, want %v", got, tt.wantFailureAudit)
			}
		})
	}
}

func TestChangePasswordIsRateLimited(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.LimitAccount = Limit{N: 3, Window: time.Minute} })
	e.register(t, "alice@example.org")
	c := e.claims(t, e.login(t, "alice@example.org").AccessToken)
	for i := range 3 {
		if _, err := e.svc.ChangePassword(t.Context(), c, "guess number "+string(rune('a'+i)), newPassword, client); !errors.Is(err, ErrWrongPassword) {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	_, err := e.svc.ChangePassword(t.Context(), c, testPassword, newPassword, client)
	if rl, ok := errors.AsType[*RateLimitedError](err); !ok || rl.RetryAfter <= 0 {
		t.Fatalf("fourth attempt: %v, want *RateLimitedError", err)
	}
	e.clock.Advance(time.Minute)
	if _, err := e.svc.ChangePassword(t.Context(), c, testPassword, newPassword, client); err != nil {
		t.Errorf("after the window: %v", err)
	}
}

func TestChangePasswordFailures(t *testing.T) {
	e := newEnv(t)
	alice := e.register(t, "alice@example.org")
	c := e.claims(t, e.login(t, "alice@example.org").AccessToken)
	down := e.service(t, func(d *Deps) { d.Users = portstest.UnavailableUserRepo{} })
	if _, err := down.ChangePassword(t.Context(), c, testPassword, newPassword, client); !errors.Is(err, ports.ErrUnavailable) {
		t.Errorf("user repo down: %v", err)
	}
	gone := c
	gone.Subject = "nobody"
	if _, err := e.svc.ChangePassword(t.Context(), gone, testPassword, newPassword, client); !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("unknown user: %v", err)
	}
	if _, err := e.users.Update(t.Context(), alice.ID, func(u *identity.User) error { u.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ChangePassword(t.Context(), c, testPassword, newPassword, client); !errors.Is(err, ErrForbidden) {
		t.Errorf("disabled user: %v", err)
	}
}

// A login with the old password whose check passed before the change, and whose session is
// stored after the change swept the sessions, is refused and leaves no session.
func TestLoginRacingAPasswordChangeLeavesNoSession(t *testing.T) {
	e := newEnv(t)
	alice := e.register(t, "alice@example.org")
	tp := e.login(t, "alice@example.org")
	hooked := &hookedSessions{SessionStore: e.sessions}
	svc := e.service(t, func(d *Deps) { d.Sessions = hooked })
	var changed TokenPair
	hooked.before = func() {
		var err error
		if changed, err = svc.ChangePassword(t.Context(), e.claims(t, tp.AccessToken), testPassword, newPassword, client); err != nil {
			t.Error(err)
		}
	}
	if _, err := svc.Login(t.Context(), "alice@example.org", testPassword, client); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("login with the old password racing the change: %v, want ErrInvalidCredentials", err)
	}
	ss, err := e.sessions.ListByUser(t.Context(), alice.ID)
	if err != nil || len(ss) != 1 || ss[0].ID != e.claims(t, changed.AccessToken).SessionID {
		t.Errorf("sessions after the change = %+v (%v), want only the changer's", ss, err)
	}
}

// A wrong current password counts as a failed login for the account from this client: past
// the failure limit both POST /password and /login are refused for that client.
func TestChangePasswordFailuresCountAsLoginFailures(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.LoginFailures = Limit{N: 2, Window: time.Minute} })
	e.register(t, "alice@example.org")
	c := e.claims(t, e.login(t, "alice@example.org").AccessToken)
	for i := range 2 {
		if _, err := e.svc.ChangePassword(t.Context(), c, "wrong guess "+string(rune('a'+i)), newPassword, client); !errors.Is(err, ErrWrongPassword) {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	if _, err := e.svc.ChangePassword(t.Context(), c, testPassword, newPassword, client); !isRateLimited(err) {
		t.Errorf("change after the failures: %v, want *RateLimitedError", err)
	}
	if _, err := e.svc.Login(t.Context(), "alice@example.org", testPassword, client); !isRateLimited(err) {
		t.Errorf("login from the same client after the failures: %v, want *RateLimitedError", err)
	}
}

func isRateLimited(err error) bool { _, ok := errors.AsType[*RateLimitedError](err); return ok }
