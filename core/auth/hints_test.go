package auth

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate/core/audit"
	"github.com/keygate/keygate/core/identity"
	"github.com/keygate/keygate/core/session"
	"github.com/keygate/keygate/ports"
)

// countingSessions counts the reads of a SessionStore.
type countingSessions struct {
	ports.SessionStore
	gets atomic.Int64
}

func (c *countingSessions) Get(ctx context.Context, sid string) (session.Session, error) {
	c.gets.Add(1)
	return c.SessionStore.Get(ctx, sid)
}

// Two replicas on the same stores: a is e.svc, b another Service whose session reads are counted.
func twoReplicas(t *testing.T, e *env) (a, b *Service, bReads *countingSessions) {
	t.Helper()
	bReads = &countingSessions{SessionStore: e.sessions}
	b = e.service(t, func(d *Deps) { d.Sessions = bReads })
	return e.svc, b, bReads
}

func TestRefreshSkipsTheReadOnTheReplicaThatStoredTheSession(t *testing.T) {
	e := newEnv(t)
	e.register(t, "alice@example.org")
	_, b, reads := twoReplicas(t, e)
	tp, err := b.Login(t.Context(), "alice@example.org", testPassword, client)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if tp, err = b.Refresh(t.Context(), tp.RefreshToken, client); err != nil {
			t.Fatalf("Refresh: %v", err)
		}
	}
	if n := reads.gets.Load(); n != 0 {
		t.Errorf("%d session reads for 3 refreshes on the replica that stored the session, want 0", n)
	}
	e.claims(t, tp.AccessToken)

	// Without hints every refresh reads the session first.
	e.cfg.RefreshHints = -1
	_, cold, coldReads := twoReplicas(t, e)
	for range 2 {
		if tp, err = cold.Refresh(t.Context(), tp.RefreshToken, client); err != nil {
			t.Fatalf("Refresh without hints: %v", err)
		}
	}
	if n := coldReads.gets.Load(); n != 2 {
		t.Errorf("%d session reads for 2 refreshes without hints, want 2", n)
	}
}

// A replica whose hint is older than the session (another replica rotated it since) must not
// take the current token for a stolen one.
func TestRefreshPastAStaleHintIsNotTheft(t *testing.T) {
	e := newEnv(t)
	e.register(t, "alice@example.org")
	a, b, _ := twoReplicas(t, e)
	tp1 := e.login(t, "alice@example.org") // a remembers generation 1
	tp2, err := b.Refresh(t.Context(), tp1.RefreshToken, client)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute) // past the grace window: a generation-1 token now would be reuse
	tp3, err := a.Refresh(t.Context(), tp2.RefreshToken, client)
	if err != nil {
		t.Fatalf("refresh of the current token at the replica with a stale hint: %v", err)
	}
	e.claims(t, tp3.AccessToken)
	if got := e.snapshot(t); len(got) != 0 {
		t.Errorf("revocations after legitimate refreshes: %v", got)
	}
	if _, err := a.Refresh(t.Context(), tp3.RefreshToken, client); err != nil {
		t.Errorf("the next refresh: %v", err)
	}
}

// A replay of an old token at a replica whose stale hint still shows it as current is theft
// all the same: the store, not the hint, decides.
func TestReplayAtAReplicaWithAStaleHintIsStillTheft(t *testing.T) {
	e := newEnv(t)
	alice := e.register(t, "alice@example.org")
	a, b, _ := twoReplicas(t, e)
	tp1 := e.login(t, "alice@example.org") // a remembers generation 1
	tp2, err := b.Refresh(t.Context(), tp1.RefreshToken, client)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(11 * time.Second) // past the 10 s grace window
	if _, err := a.Refresh(t.Context(), tp1.RefreshToken, client); !errors.Is(err, ErrInvalidGrant) {
		t.Fatalf("replay of generation 1: %v, want ErrInvalidGrant", err)
	}
	if _, err := e.verify(t, tp2.AccessToken); err == nil {
		t.Error("the session's access token still accepted after a detected reuse")
	}
	if _, err := b.Refresh(t.Context(), tp2.RefreshToken, client); !errors.Is(err, ErrInvalidGrant) {
		t.Errorf("the thief's victim's successor token: %v, want ErrInvalidGrant (the session is revoked)", err)
	}
	if got := e.auditActions(t, alice.ID); !slices.Contains(got, audit.ActionRefreshReuse) {
		t.Errorf("audit %v, want a %s", got, audit.ActionRefreshReuse)
	}
}

func TestRefreshAfterLogoutOnAnotherReplica(t *testing.T) {
	e := newEnv(t)
	e.register(t, "alice@example.org")
	a, b, _ := twoReplicas(t, e)
	tp := e.login(t, "alice@example.org") // a remembers the session
	if err := b.Logout(t.Context(), e.claims(t, tp.AccessToken), client); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Refresh(t.Context(), tp.RefreshToken, client); !errors.Is(err, ErrInvalidGrant) {
		t.Errorf("refresh after logout elsewhere: %v, want ErrInvalidGrant", err)
	}
}

// A disabled user's session is refused by the replica holding a hint, as by any other.
func TestRefreshWithAHintOfADisabledUser(t *testing.T) {
	e := newEnv(t)
	alice := e.register(t, "alice@example.org")
	tp := e.login(t, "alice@example.org")
	sid := e.claims(t, tp.AccessToken).SessionID
	if _, err := e.users.Update(t.Context(), alice.ID, func(u *identity.User) error { u.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Refresh(t.Context(), tp.RefreshToken, client); !errors.Is(err, ErrInvalidGrant) {
		t.Errorf("refresh of a disabled user's session: %v, want ErrInvalidGrant", err)
	}
	if _, err := e.sessions.Get(t.Context(), sid); err == nil {
		t.Error("the disabled user's session is still stored")
	}
}

func TestHintsAreBounded(t *testing.T) {
	h := newHints(3)
	for i := range 10 {
		h.put(session.Session{ID: string(rune('a' + i))})
	}
	if len(h.m) != 3 {
		t.Errorf("%d hints held, want 3", len(h.m))
	}
	if _, ok := h.get("j"); !ok {
		t.Error("the latest hint was evicted")
	}
	h.put(session.Session{ID: "j", Generation: 2}) // replacing one evicts none
	if s, _ := h.get("j"); len(h.m) != 3 || s.Generation != 2 {
		t.Errorf("after replacing: %d held, generation %d", len(h.m), s.Generation)
	}
	off := newHints(-1)
	off.put(session.Session{ID: "x"})
	if _, ok := off.get("x"); ok {
		t.Error("disabled hints remembered a session")
	}
}

// BenchmarkRefreshHintsMemory fills the default number of hints with sessions whose user agent
// is as long as one is kept (256 bytes) and reports the live heap they take, in total and per
// hint: the memory Config.RefreshHints bounds.
//
//	go test -run '^$' -bench RefreshHintsMemory -benchtime 1x ./core/auth/
func BenchmarkRefreshHintsMemory(b *testing.B) {
	for b.Loop() {
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		h := newHints(0)
		now := time.Now()
		for range DefaultRefreshHints {
			s := session.New(identity.NewID(), identity.NewID(), DefaultClientID, now, session.Policy{IdleTTL: time.Hour, MaxTTL: time.Hour})
			s.UserAgent = strings.Repeat("x", 256)
			s.RemoteIP = "2001:db8::1234:5678"
			h.put(s)
		}
		runtime.GC()
		runtime.ReadMemStats(&m1)
		live := float64(m1.HeapAlloc - m0.HeapAlloc)
		b.ReportMetric(live/(1<<20), "MiB")
		b.ReportMetric(live/float64(len(h.m)), "B/hint")
		runtime.KeepAlive(h)
	}
}
