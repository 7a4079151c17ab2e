package auth

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/keygate/keygate/adapters/memory"
	"github.com/keygate/keygate/adapters/system"
	"github.com/keygate/keygate/core/audit"
	"github.com/keygate/keygate/core/revocation"
	"github.com/keygate/keygate/core/token"
	"github.com/keygate/keygate/ports"
	"github.com/keygate/keygate/ports/portstest"
)

func TestLogout(t *testing.T) {
	e := newEnv(t)
	alice := e.register(t, "alice@example.org")
	tp := e.login(t, "alice@example.org")
	other := e.login(t, "alice@example.org") // another device
	c := e.claims(t, tp.AccessToken)
	events := portstest.Events(t, e.bus, nil)
	if err := e.svc.Logout(t.Context(), c, client); err != nil {
		t.Fatal(err)
	}
	if _, err := e.verify(t, tp.AccessToken); !errors.Is(err, token.ErrRevoked) {
		t.Errorf("access token after logout: %v", err)
	}
	if _, err := e.svc.Refresh(t.Context(), tp.RefreshToken, client); !errors.Is(err, ErrInvalidGrant) {
		t.Errorf("refresh after logout: %v", err)
	}
	e.claims(t, other.AccessToken)
	e.refresh(t, other.RefreshToken)
	want := []revocation.Entry{{Kind: revocation.KindSession, Key: c.SessionID, ExpiresAt: t0.Add(15*time.Minute + 2*time.Minute)}}
	if diff := cmp.Diff(want, e.snapshot(t)); diff != "" {
		t.Errorf("store (-want +got):\n%s", diff)
	}
	portstest.Eventually(t, "the revocation event", func() bool { return len(events()) == 1 })
	if got := e.auditActions(t, alice.ID); got[len(got)-1] != audit.ActionLogout {
		t.Errorf("audit = %v", got)
	}
}

func TestLogoutAll(t *testing.T) {
	e := newEnv(t)
	alice := e.register(t, "alice@example.org")
	bob := e.register(t, "bob@example.org")
	early := e.login(t, "alice@example.org")
	e.clock.Advance(3 * time.Second)
	justBefore := e.login(t, "alice@example.org") // issued in the same second as the logout-all
	bobs := e.login(t, "bob@example.org")
	if err := e.svc.LogoutAll(t.Context(), e.claims(t, justBefore.AccessToken), client); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Millisecond) // the real time LogoutAll waited: up to the next whole second
	for name, tp := range map[string]TokenPair{"earlier": early, "same second": justBefore} {
		if _, err := e.verify(t, tp.AccessToken); !errors.Is(err, token.ErrRevoked) {
			t.Errorf("%s access token after logout-all: %v", name, err)
		}
		if _, err := e.svc.Refresh(t.Context(), tp.RefreshToken, client); !errors.Is(err, ErrInvalidGrant) {
			t.Errorf("%s refresh token after logout-all: %v", name, err)
		}
	}
	after := e.login(t, "alice@example.org")
	e.claims(t, after.AccessToken)
	e.claims(t, e.refresh(t, after.RefreshToken).AccessToken)
	e.claims(t, bobs.AccessToken)
	nb := t0.Add(3 * time.Second).Truncate(time.Second).Add(time.Second)
	want := []revocation.Entry{{Kind: revocation.KindSubject, Key: alice.ID, NotBefore: nb,
		ExpiresAt: nb.Add(15*time.Minute + 2*time.Minute)}}
	if diff := cmp.Diff(want, e.snapshot(t)); diff != "" {
		t.Errorf("store (-want +got):\n%s", diff)
	}
	if got := e.auditActions(t, alice.ID); !slices.Contains(got, audit.ActionLogoutAll) {
		t.Errorf("audit = %v", got)
	}
	_ = bob
}

// With the real clock: a token issued just before logout-all is refused, and a login right
// after LogoutAll returns gets a token that is accepted.
func TestLogoutAllRealClock(t *testing.T) {
	e := newEnv(t)
	e.deps.Clock = system.Clock{}
	e.sessions = memory.NewSessionStore(e.deps.Clock)
	e.revs = memory.NewRevocationStore(e.deps.Clock, e.bus)
	e.deps.Sessions, e.deps.Revocations = e.sessions, e.revs
	e.svc = e.service(t, nil)
	v := &testVerifier{keys: e.ring, revs: e.revs, clock: system.Clock{}, cfg: e.cfg}
	e.register(t, "alice@example.org")
	for range 3 {
		before := e.login(t, "alice@example.org")
		c, err := v.Authenticate(t.Context(), before.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.svc.LogoutAll(t.Context(), c, client); err != nil {
			t.Fatal(err)
		}
		if _, err := v.Authenticate(t.Context(), before.AccessToken); !errors.Is(err, token.ErrRevoked) {
			t.Errorf("token issued before logout-all: %v", err)
		}
		after := e.login(t, "alice@example.org")
		if _, err := v.Authenticate(t.Context(), after.AccessToken); err != nil {
			t.Errorf("token of a login after logout-all returned: %v", err)
		}
	}
}

func TestRevokeRFC7009(t *testing.T) {
	tests := []struct {
		name string
		// raw picks the token to revoke from a fresh login.
		raw         func(t *testing.T, e *env, tp TokenPair) string
		hint        string
		swap        func(*Deps)
		downVerify  bool
		wantErr     error
		wantEntries func(c token.Claims) []revocation.Entry
		wantRefresh bool // the refresh token still works
	}{
		{name: "refresh token revokes its session", hint: "refresh_token",
			raw: func(_ *testing.T, _ *env, tp TokenPair) string { return string(tp.RefreshToken) },
			wantEntries: func(c token.Claims) []revocation.Entry {
				return []revocation.Entry{{Kind: revocation.KindSession, Key: c.SessionID, ExpiresAt: t0.Add(15*time.Minute + 2*time.Minute)}}
			}},
		{name: "refresh token with a wrong hint", hint: "access_token",
			raw: func(_ *testing.T, _ *env, tp TokenPair) string { return string(tp.RefreshToken) },
			wantEntries: func(c token.Claims) []revocation.Entry {
				return []revocation.Entry{{Kind: revocation.KindSession, Key: c.SessionID, ExpiresAt: t0.Add(15*time.Minute + 2*time.Minute)}}
			}},
		{name: "access token revokes its jti until it expires", hint: "",
			raw: func(_ *testing.T, _ *env, tp TokenPair) string { return tp.AccessToken }, wantRefresh: true,
			wantEntries: func(c token.Claims) []revocation.Entry {
				return []revocation.Entry{{Kind: revocation.KindToken, Key: c.ID, ExpiresAt: c.ExpiresAt.Add(2 * time.Minute)}}
			}},
		{name: "garbage succeeds silently", raw: func(*testing.T, *env, TokenPair) string { return "garbage" },
			wantRefresh: true, wantEntries: func(token.Claims) []revocation.Entry { return nil }},
		{name: "expired access token succeeds silently", wantRefresh: true,
			raw: func(_ *testing.T, e *env, tp TokenPair) string {
				e.clock.Advance(16 * time.Minute)
				return tp.AccessToken
			},
			wantEntries: func(token.Claims) []revocation.Entry { return nil }},
		{name: "refresh token of a gone session succeeds silently",
			raw: func(t *testing.T, e *env, tp TokenPair) string {
				if err := e.sessions.Delete(t.Context(), e.claims(t, tp.AccessToken).SessionID); err != nil {
					t.Fatal(err)
				}
				return string(tp.RefreshToken)
			},
			wantEntries: func(token.Claims) []revocation.Entry { return nil }},
		{name: "revocation store down", wantErr: ports.ErrUnavailable, wantRefresh: true,
			swap:        func(d *Deps) { d.Revocations = portstest.UnavailableRevocationStore{} },
			raw:         func(_ *testing.T, _ *env, tp TokenPair) string { return tp.AccessToken },
			wantEntries: func(token.Claims) []revocation.Entry { return nil }},
		{name: "session store down", wantErr: ports.ErrUnavailable, wantRefresh: true,
			swap:        func(d *Deps) { d.Sessions = portstest.UnavailableSessionStore{} },
			raw:         func(_ *testing.T, _ *env, tp TokenPair) string { return string(tp.RefreshToken) },
			wantEntries: func(token.Claims) []revocation.Entry { return nil }},
		{name: "verifier cannot decide", wantErr: ports.ErrUnavailable, wantRefresh: true, downVerify: true,
			raw:         func(_ *testing.T, _ *env, tp TokenPair) string { return tp.AccessToken },
			wantEntries: func(token.Claims) []revocation.Entry { return nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.register(t, "alice@example.org")
			tp := e.login(t, "alice@example.org")
			c := e.claims(t, tp.AccessToken)
			raw := tt.raw(t, e, tp)
			svc := e.svc
			if tt.swap != nil {
				svc = e.service(t, tt.swap)
			}
			if tt.downVerify {
				v := &testVerifier{}
				v.down.Store(true)
				svc = e.service(t, func(d *Deps) { d.Verifier = v })
			}
			err := svc.Revoke(t.Context(), raw, tt.hint, client)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Revoke error = %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.wantEntries(c), e.snapshot(t), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("store (-want +got):\n%s", diff)
			}
			_, rerr := e.svc.Refresh(t.Context(), tp.RefreshToken, client)
			if (rerr == nil) != tt.wantRefresh {
				t.Errorf("refresh after revoke: %v, want success %v", rerr, tt.wantRefresh)
			}
		})
	}
}

func TestRevokeIsRateLimitedPerAddress(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.LimitAddress = Limit{N: 2, Window: time.Minute} })
	var limited int
	for range 3 {
		var rl *RateLimitedError
		if err := e.svc.Revoke(t.Context(), "x", "", client); errors.As(err, &rl) {
			limited++
		}
	}
	if limited != 1 {
		t.Errorf("limited %d of 3, want 1", limited)
	}
}

func TestMeAndSessions(t *testing.T) {
	e := newEnv(t)
	alice := e.register(t, "alice@example.org")
	e.register(t, "bob@example.org")
	tp1 := e.login(t, "alice@example.org")
	e.clock.Advance(time.Minute)
	tp2 := e.login(t, "alice@example.org")
	e.login(t, "bob@example.org")
	c1, c2 := e.claims(t, tp1.AccessToken), e.claims(t, tp2.AccessToken)

	me, err := e.svc.Me(t.Context(), c1)
	if err != nil || me.ID != alice.ID || me.Email != "alice@example.org" {
		t.Errorf("Me = %+v, %v", me, err)
	}
	if _, err := e.svc.Me(t.Context(), token.Claims{Subject: "nobody"}); !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("Me of a deleted user: %v", err)
	}
	ss, err := e.svc.Sessions(t.Context(), c1)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range ss {
		ids = append(ids, s.ID)
	}
	if want := []string{c2.SessionID, c1.SessionID}; !slices.Equal(ids, want) {
		t.Errorf("sessions = %v, want %v (most recently used first)", ids, want)
	}
	e.clock.Advance(336*time.Hour - 30*time.Second) // the first is idle for 336 h, the second not yet
	if ss, _ := e.svc.Sessions(t.Context(), c1); len(ss) != 1 {
		t.Errorf("idle-expired session still listed: %d sessions", len(ss))
	}
}

func TestRevokeSession(t *testing.T) {
	tests := []struct {
		name    string
		pick    func(mine, bobs token.Claims) string
		wantErr error
	}{
		{"own session", func(mine, _ token.Claims) string { return mine.SessionID }, nil},
		{"another user's session", func(_, bobs token.Claims) string { return bobs.SessionID }, ports.ErrNotFound},
		{"no such session", func(token.Claims, token.Claims) string { return "nope" }, ports.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.register(t, "alice@example.org")
			e.register(t, "bob@example.org")
			mine := e.login(t, "alice@example.org")
			caller := e.login(t, "alice@example.org")
			bobs := e.login(t, "bob@example.org")
			mc, bc := e.claims(t, mine.AccessToken), e.claims(t, bobs.AccessToken)
			err := e.svc.RevokeSession(t.Context(), e.claims(t, caller.AccessToken), tt.pick(mc, bc), client)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("RevokeSession = %v, want %v", err, tt.wantErr)
			}
			_, merr := e.verify(t, mine.AccessToken)
			if revoked := errors.Is(merr, token.ErrRevoked); revoked != (tt.wantErr == nil) {
				t.Errorf("target session's token revoked = %v", revoked)
			}
			e.claims(t, bobs.AccessToken)
			e.claims(t, caller.AccessToken)
		})
	}
}

// A revocation whose publish fails is still durable and still reported as done.
func TestRevokeWithBusDown(t *testing.T) {
	e := newEnv(t)
	e.register(t, "alice@example.org")
	tp := e.login(t, "alice@example.org")
	e.bus.SetDown(true)
	if err := e.svc.Logout(t.Context(), e.claims(t, tp.AccessToken), client); err != nil {
		t.Fatalf("Logout with the bus down: %v", err)
	}
	if _, err := e.verify(t, tp.AccessToken); !errors.Is(err, token.ErrRevoked) {
		t.Errorf("access token: %v", err)
	}
}

// A store that cannot answer gives ErrUnavailable (HTTP 503), never a verdict.
func TestUseCasesWithAStoreDown(t *testing.T) {
	e := newAdminEnv(t)
	alice := e.claims(t, e.alicePair.AccessToken)
	noSessions := func(d *Deps) { d.Sessions = portstest.UnavailableSessionStore{} }
	noUsers := func(d *Deps) { d.Users = portstest.UnavailableUserRepo{} }
	noRevocations := func(d *Deps) { d.Revocations = portstest.UnavailableRevocationStore{} }
	noAudit := func(d *Deps) { d.Audit = portstest.UnavailableAuditLog{} }
	tests := []struct {
		name string
		swap func(*Deps)
		call func(s *Service) error
	}{
		{"Logout, revocations down", noRevocations, func(s *Service) error { return s.Logout(t.Context(), alice, client) }},
		{"LogoutAll, revocations down", noRevocations, func(s *Service) error { return s.LogoutAll(t.Context(), alice, client) }},
		{"Me, users down", noUsers, func(s *Service) error { _, err := s.Me(t.Context(), alice); return err }},
		{"Sessions, sessions down", noSessions, func(s *Service) error { _, err := s.Sessions(t.Context(), alice); return err }},
		{"RevokeSession, sessions down", noSessions, func(s *Service) error {
			return s.RevokeSession(t.Context(), alice, alice.SessionID, client)
		}},
		{"DisableUser, users down", noUsers, func(s *Service) error {
			return s.DisableUser(t.Context(), e.adminClaims, e.bob.ID, client)
		}},
		{"DisableUser, revocations down", noRevocations, func(s *Service) error {
			return s.DisableUser(t.Context(), e.adminClaims, e.bob.ID, client)
		}},
		{"RevokeUser, revocations down", noRevocations, func(s *Service) error {
			return s.RevokeUser(t.Context(), e.adminClaims, e.bob.ID, client)
		}},
		{"AuditOf, audit down", noAudit, func(s *Service) error {
			_, err := s.AuditOf(t.Context(), e.adminClaims, e.bob.ID, 10)
			return err
		}},
		{"BootstrapAdmin, users down", noUsers, func(s *Service) error {
			return s.BootstrapAdmin(t.Context(), "root2@example.org", testPassword)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(e.service(t, tt.swap)); !errors.Is(err, ports.ErrUnavailable) {
				t.Errorf("error = %v, want ErrUnavailable", err)
			}
		})
	}
	// Nothing was revoked by the failed calls that reached the revocation store.
	e.claims(t, e.alicePair.AccessToken)

	// Logout revokes first and deletes the session after: with the session store down the
	// call fails (the client retries), and the access token is already refused.
	for _, tt := range []struct {
		name string
		call func(s *Service) error
	}{
		{"Logout, sessions down", func(s *Service) error { return s.Logout(t.Context(), alice, client) }},
		{"LogoutAll, sessions down", func(s *Service) error { return s.LogoutAll(t.Context(), alice, client) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(e.service(t, noSessions)); !errors.Is(err, ports.ErrUnavailable) {
				t.Errorf("error = %v, want ErrUnavailable", err)
			}
			if _, err := e.verify(t, e.alicePair.AccessToken); !errors.Is(err, token.ErrRevoked) {
				t.Errorf("access token after a failed logout: %v, want token.ErrRevoked", err)
			}
		})
	}
}

// leavingRevocationStore stores an entry, then ends the caller's context: the client hung up
// just after the revocation became durable.
type leavingRevocationStore struct {
	ports.RevocationStore
	leave context.CancelFunc
}

func (s leavingRevocationStore) Revoke(ctx context.Context, e revocation.Entry) (uint64, error) {
	seq, err := s.RevocationStore.Revoke(ctx, e)
	s.leave()
	return seq, err
}

// A revocation that was stored is pushed too, even when the caller leaves in between:
// otherwise verifiers would accept the token until their next reconcile.
func TestRevocationIsPushedWhenTheCallerLeaves(t *testing.T) {
	tests := []struct {
		name   string
		revoke func(t *testing.T, ctx context.Context, e *env, svc *Service, tp TokenPair) error
		kind   revocation.Kind
	}{
		{"RFC 7009 access token", func(_ *testing.T, ctx context.Context, _ *env, svc *Service, tp TokenPair) error {
			return svc.Revoke(ctx, tp.AccessToken, "access_token", client)
		}, revocation.KindToken},
		{"RFC 7009 refresh token", func(_ *testing.T, ctx context.Context, _ *env, svc *Service, tp TokenPair) error {
			return svc.Revoke(ctx, string(tp.RefreshToken), "refresh_token", client)
		}, revocation.KindSession},
		{"logout", func(t *testing.T, ctx context.Context, e *env, svc *Service, tp TokenPair) error {
			return svc.Logout(ctx, e.claims(t, tp.AccessToken), client)
		}, revocation.KindSession},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.register(t, "alice@example.org")
			tp := e.login(t, "alice@example.org")
			events := portstest.Events(t, e.bus, nil)
			ctx, leave := context.WithCancel(t.Context())
			defer leave()
			svc := e.service(t, func(d *Deps) { d.Revocations = leavingRevocationStore{d.Revocations, leave} })
			if err := tt.revoke(t, ctx, e, svc, tp); err != nil {
				t.Fatalf("revoke: %v", err)
			}
			if got := svc.PublishFailures(); got != 0 {
				t.Errorf("publish failures = %d, want 0", got)
			}
			portstest.Eventually(t, "the revocation event", func() bool {
				for _, ev := range events() {
					if ev.Kind == revocation.EventRevoked && ev.Entry.Kind == tt.kind {
						return true
					}
				}
				return false
			})
		})
	}
}
