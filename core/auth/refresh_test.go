package auth

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/keygate/keygate/core/audit"
	"github.com/keygate/keygate/core/identity"
	"github.com/keygate/keygate/core/revocation"
	"github.com/keygate/keygate/core/session"
	"github.com/keygate/keygate/core/token"
	"github.com/keygate/keygate/ports"
	"github.com/keygate/keygate/ports/portstest"
)

func (e *env) refresh(t *testing.T, rt session.RefreshToken) TokenPair {
	t.Helper()
	tp, err := e.svc.Refresh(t.Context(), rt, client)
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	return tp
}

func TestRefreshRotates(t *testing.T) {
	e := newEnv(t)
	alice := e.register(t, "alice@example.org")
	tp1 := e.login(t, "alice@example.org")
	e.clock.Advance(time.Minute)
	tp2 := e.refresh(t, tp1.RefreshToken)
	if tp2.RefreshToken == tp1.RefreshToken {
		t.Fatal("refresh returned the same refresh token")
	}
	c1, c2 := e.claims(t, tp1.AccessToken), e.claims(t, tp2.AccessToken)
	if c2.SessionID != c1.SessionID || c2.Subject != alice.ID || c2.ID == c1.ID {
		t.Errorf("new access token: sid %q (want %q), sub %q, jti %q (old %q)", c2.SessionID, c1.SessionID, c2.Subject, c2.ID, c1.ID)
	}
	if want := t0.Add(time.Minute).Truncate(time.Second); !c2.IssuedAt.Equal(want) {
		t.Errorf("iat = %v, want %v", c2.IssuedAt, want)
	}
	sess, err := e.sessions.Get(t.Context(), c1.SessionID)
	if err != nil {
		t.Fatal(err)
	}
	if sess.Generation != 2 || !sess.LastUsedAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("session after one refresh: generation %d, last used %v", sess.Generation, sess.LastUsedAt)
	}
	tp3 := e.refresh(t, tp2.RefreshToken)
	if tp3.RefreshToken != e.svc.codec.Token(c1.SessionID, 3) {
		t.Error("third generation refresh token not derived from (sid, 3)")
	}
}

func TestRefreshRetryWithinGraceGetsTheSameSuccessor(t *testing.T) {
	e := newEnv(t)
	e.register(t, "alice@example.org")
	tp1 := e.login(t, "alice@example.org")
	tp2 := e.refresh(t, tp1.RefreshToken)
	e.clock.Advance(9 * time.Second)
	retry := e.refresh(t, tp1.RefreshToken)
	if retry.RefreshToken != tp2.RefreshToken {
		t.Errorf("retry within grace got a sibling refresh token")
	}
	e.claims(t, retry.AccessToken)
	// The successor keeps working, and the family was not revoked.
	tp3 := e.refresh(t, tp2.RefreshToken)
	e.claims(t, tp3.AccessToken)
	if got := e.snapshot(t); len(got) != 0 {
		t.Errorf("revocations after a legitimate retry: %v", got)
	}
}

func TestRefreshFailures(t *testing.T) {
	tests := []struct {
		name string
		// do runs the scenario on a logged-in user's first pair and returns the refresh
		// token to present.
		do            func(t *testing.T, e *env, tp TokenPair) session.RefreshToken
		swap          func(*Deps)
		wantErr       error
		wantRevoked   bool // the session is revoked: its access tokens are refused
		wantAudit     audit.Action
		wantAliveSess bool
	}{
		{name: "garbage", wantErr: ErrInvalidGrant, wantAliveSess: true,
			do: func(*testing.T, *env, TokenPair) session.RefreshToken { return "nope" }},
		{name: "access token presented as refresh token", wantErr: ErrInvalidGrant, wantAliveSess: true,
			do: func(_ *testing.T, _ *env, tp TokenPair) session.RefreshToken {
				return session.RefreshToken(tp.AccessToken)
			}},
		{name: "forged MAC leaves the real token usable", wantErr: ErrInvalidGrant, wantAliveSess: true,
			do: func(_ *testing.T, _ *env, tp TokenPair) session.RefreshToken {
				return tp.RefreshToken[:len(tp.RefreshToken)-2] + "AA"
			}},
		{name: "token of another secret", wantErr: ErrInvalidGrant, wantAliveSess: true,
			do: func(t *testing.T, e *env, tp TokenPair) session.RefreshToken {
				other, _ := session.NewCodec([]byte("another secret of thirty-two bytes!"))
				sid, gen, _ := e.svc.codec.Parse(tp.RefreshToken)
				return other.Token(sid, gen)
			}},
		{name: "parent after the grace window is reuse", wantErr: ErrInvalidGrant, wantRevoked: true,
			wantAudit: audit.ActionRefreshReuse,
			do: func(t *testing.T, e *env, tp TokenPair) session.RefreshToken {
				e.refresh(t, tp.RefreshToken)
				e.clock.Advance(11 * time.Second)
				return tp.RefreshToken
			}},
		{name: "grandparent within the grace window is reuse", wantErr: ErrInvalidGrant, wantRevoked: true,
			wantAudit: audit.ActionRefreshReuse,
			do: func(t *testing.T, e *env, tp TokenPair) session.RefreshToken {
				tp2 := e.refresh(t, tp.RefreshToken)
				e.refresh(t, tp2.RefreshToken)
				return tp.RefreshToken
			}},
		{name: "idle too long", wantErr: ErrInvalidGrant,
			do: func(t *testing.T, e *env, tp TokenPair) session.RefreshToken {
				e.clock.Advance(336 * time.Hour)
				return tp.RefreshToken
			}},
		{name: "past the absolute lifetime", wantErr: ErrInvalidGrant,
			do: func(t *testing.T, e *env, tp TokenPair) session.RefreshToken {
				rt := tp.RefreshToken
				for range 5 {
					e.clock.Advance(120 * time.Hour)
					rt = e.refresh(t, rt).RefreshToken
				}
				e.clock.Advance(120 * time.Hour) // 720 h after login; used 120 h ago
				return rt
			}},
		{name: "disabled user", wantErr: ErrInvalidGrant, wantRevoked: true,
			do: func(t *testing.T, e *env, tp TokenPair) session.RefreshToken {
				disable("alice@example.org")(t, e)
				return tp.RefreshToken
			}},
		{name: "session store down", wantErr: ports.ErrUnavailable, wantAliveSess: true,
			swap: func(d *Deps) { d.Sessions = portstest.UnavailableSessionStore{} },
			do:   func(_ *testing.T, _ *env, tp TokenPair) session.RefreshToken { return tp.RefreshToken }},
		{name: "user repo down leaves the session unrotated", wantErr: ports.ErrUnavailable, wantAliveSess: true,
			swap: func(d *Deps) { d.Users = portstest.UnavailableUserRepo{} },
			do:   func(_ *testing.T, _ *env, tp TokenPair) session.RefreshToken { return tp.RefreshToken }},
		{name: "reuse detected while the user repo is down", wantErr: ErrInvalidGrant, wantRevoked: true,
			wantAudit: audit.ActionRefreshReuse,
			swap:      func(d *Deps) { d.Users = portstest.UnavailableUserRepo{} },
			do: func(t *testing.T, e *env, tp TokenPair) session.RefreshToken {
				tp2 := e.refresh(t, tp.RefreshToken)
				e.refresh(t, tp2.RefreshToken)
				return tp.RefreshToken
			}},
		{name: "revocation store down during reuse", wantErr: ports.ErrUnavailable,
			swap: func(d *Deps) { d.Revocations = portstest.UnavailableRevocationStore{} },
			do: func(t *testing.T, e *env, tp TokenPair) session.RefreshToken {
				tp2 := e.refresh(t, tp.RefreshToken)
				e.refresh(t, tp2.RefreshToken)
				return tp.RefreshToken
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			alice := e.register(t, "alice@example.org")
			tp := e.login(t, "alice@example.org")
			sid := e.claims(t, tp.AccessToken).SessionID
			rt := tt.do(t, e, tp)
			svc := e.svc
			if tt.swap != nil {
				svc = e.service(t, tt.swap)
			}
			_, err := svc.Refresh(t.Context(), rt, client)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Refresh error = %v, want %v", err, tt.wantErr)
			}
			_, verr := e.verify(t, tp.AccessToken)
			if revoked := errors.Is(verr, token.ErrRevoked); revoked != tt.wantRevoked {
				t.Errorf("first access token revoked = %v (%v), want %v", revoked, verr, tt.wantRevoked)
			}
			if tt.wantRevoked {
				if _, err := e.sessions.Get(t.Context(), sid); !errors.Is(err, ports.ErrNotFound) {
					t.Errorf("revoked session still stored: %v", err)
				}
				// No refresh token of the family works any more.
				for gen := uint64(1); gen <= 3; gen++ {
					if _, err := e.svc.Refresh(t.Context(), e.svc.codec.Token(sid, gen), client); !errors.Is(err, ErrInvalidGrant) {
						t.Errorf("generation %d after revocation: %v", gen, err)
					}
				}
			}
			if tt.wantAliveSess {
				// Past the grace window: had the failed call rotated the session, the token
				// would now be reuse.
				e.clock.Advance(11 * time.Second)
				if _, err := e.svc.Refresh(t.Context(), tp.RefreshToken, client); err != nil {
					t.Errorf("the legitimate refresh token no longer works: %v", err)
				}
			}
			if tt.wantAudit != "" {
				acts := e.auditActions(t, alice.ID)
				if acts[len(acts)-1] != tt.wantAudit {
					t.Errorf("audit = %v, want last %s", acts, tt.wantAudit)
				}
			}
		})
	}
}

// Reuse is stored, then pushed: when the EventRevoked arrives, the store already holds it.
func TestRefreshReuseRevokesDurablyThenPublishes(t *testing.T) {
	e := newEnv(t)
	e.register(t, "alice@example.org")
	tp1 := e.login(t, "alice@example.org")
	sid := e.claims(t, tp1.AccessToken).SessionID
	type delivery struct {
		ev      revocation.Event
		inStore bool
		seq     uint64
	}
	got := make(chan delivery, 10)
	portstest.Events(t, e.bus, func(ev revocation.Event) {
		if ev.Kind != revocation.EventRevoked {
			return
		}
		snap, err := e.revs.Snapshot(t.Context())
		in := false
		for _, x := range snap.Entries {
			in = in || x == ev.Entry
		}
		got <- delivery{ev: ev, inStore: err == nil && in, seq: snap.Seq}
	})
	tp2 := e.refresh(t, tp1.RefreshToken)
	e.refresh(t, tp2.RefreshToken)
	if _, err := e.svc.Refresh(t.Context(), tp1.RefreshToken, client); !errors.Is(err, ErrInvalidGrant) {
		t.Fatalf("grandparent: %v", err)
	}
	var d delivery
	select {
	case d = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("no EventRevoked published")
	}
	want := revocation.Event{Kind: revocation.EventRevoked, Seq: 1, PublishedAt: t0,
		Entry: revocation.Entry{Kind: revocation.KindSession, Key: sid, ExpiresAt: t0.Add(15*time.Minute + 2*time.Minute)}}
	if diff := cmp.Diff(want, d.ev); diff != "" {
		t.Errorf("event (-want +got):\n%s", diff)
	}
	if !d.inStore || d.seq < d.ev.Seq {
		t.Errorf("at delivery the store holds the entry = %v at seq %d; want true at >= %d", d.inStore, d.seq, d.ev.Seq)
	}
}

// N clients refreshing one token at once (a client's own parallel retries) all get the same
// successor: no sibling is created and the family stays alive.
func TestRefreshConcurrentSameToken(t *testing.T) {
	for round := range 5 {
		e := newEnv(t)
		e.register(t, "alice@example.org")
		tp := e.login(t, "alice@example.org")
		const n = 50
		var wg sync.WaitGroup
		start := make(chan struct{})
		results := make([]TokenPair, n)
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				<-start
				results[i], errs[i] = e.svc.Refresh(t.Context(), tp.RefreshToken, client)
			})
		}
		close(start)
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("round %d: refresh %d: %v", round, i, errs[i])
			}
			if results[i].RefreshToken != results[0].RefreshToken {
				t.Fatalf("round %d: refresh %d got a sibling refresh token", round, i)
			}
			e.claims(t, results[i].AccessToken)
		}
		sid := e.claims(t, tp.AccessToken).SessionID
		if s, _ := e.sessions.Get(t.Context(), sid); s.Generation != 2 {
			t.Errorf("round %d: generation = %d, want 2", round, s.Generation)
		}
		e.refresh(t, results[0].RefreshToken)
	}
}

// After Revoke of a refresh token returns, no refresh of its family succeeds, and every access
// token a racing refresh obtained is refused (the Supabase #52614 class).
func TestRevokeVersusRefreshRace(t *testing.T) {
	e := newEnv(t)
	e.register(t, "alice@example.org")
	for i := range 1000 {
		tp := e.login(t, "alice@example.org")
		var revoked atomic.Bool
		var wg sync.WaitGroup
		var late []string
		var issued []string
		wg.Go(func() {
			if err := e.svc.Revoke(t.Context(), string(tp.RefreshToken), "refresh_token", client); err != nil {
				t.Errorf("Revoke: %v", err)
			}
			revoked.Store(true)
		})
		wg.Go(func() {
			rt := tp.RefreshToken
			for {
				after := revoked.Load()
				got, err := e.svc.Refresh(t.Context(), rt, client)
				if err != nil {
					if !errors.Is(err, ErrInvalidGrant) {
						t.Errorf("Refresh: %v", err)
					}
					return
				}
				if after {
					late = append(late, "a refresh that started after Revoke returned succeeded")
				}
				issued = append(issued, got.AccessToken)
				rt = got.RefreshToken
			}
		})
		wg.Wait()
		if len(late) > 0 {
			t.Fatalf("iteration %d: %s", i, late[0])
		}
		set := revocation.NewSet()
		set.Replace(e.snapshot(t), e.clock.Now())
		for _, at := range append(issued, tp.AccessToken) {
			_, c, _, _, err := decodeJWS(at)
			if err != nil || !set.Revoked(c.ID, c.SessionID, c.Subject, c.IssuedAt, e.clock.Now()) {
				t.Fatalf("iteration %d: an access token of the revoked family is not revoked (%v)", i, err)
			}
		}
	}
}

func TestRefreshKeepsClientDetails(t *testing.T) {
	e := newEnv(t)
	e.register(t, "alice@example.org")
	tp := e.login(t, "alice@example.org")
	c := Client{IP: "198.51.100.7", UserAgent: string(make([]byte, 1000))}
	if _, err := e.svc.Refresh(t.Context(), tp.RefreshToken, c); err != nil {
		t.Fatal(err)
	}
	s, _ := e.sessions.Get(t.Context(), e.claims(t, tp.AccessToken).SessionID)
	if s.RemoteIP != c.IP || len(s.UserAgent) != 256 {
		t.Errorf("session client = %q, user agent of %d bytes", s.RemoteIP, len(s.UserAgent))
	}
	_ = identity.User{}
}
