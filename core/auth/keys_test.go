package auth

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/keygate/keygate/adapters/memory"
	"github.com/keygate/keygate/core/audit"
	"github.com/keygate/keygate/core/key"
	"github.com/keygate/keygate/core/revocation"
	"github.com/keygate/keygate/core/token"
	"github.com/keygate/keygate/ports"
	"github.com/keygate/keygate/ports/portstest"
)

// jwksKids returns the kids of the Service's JWKS document, in order.
func (e *env) jwksKids(t *testing.T) []string {
	t.Helper()
	doc, _, err := e.svc.JWKS(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
			D   string `json:"d"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(doc, &set); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range set.Keys {
		if k.D != "" {
			t.Fatal("JWKS carries private material")
		}
		kids = append(kids, k.Kid)
	}
	return kids
}

// signingKid logs in and returns the kid of the access token.
func (e *env) signingKid(t *testing.T) string {
	t.Helper()
	tp := e.login(t, "alice@example.org")
	h, _, _, _, err := decodeJWS(tp.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	e.claims(t, tp.AccessToken)
	return h.Kid
}

func (e *env) storedKeys(t *testing.T) []key.Key {
	t.Helper()
	ks, err := e.keys.Keys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(ks, func(a, b key.Key) int { return int(a.Seq - b.Seq) })
	return ks
}

func TestFirstKeySignsAtOnce(t *testing.T) {
	e := newEnv(t)
	e.register(t, "alice@example.org")
	ks := e.storedKeys(t)
	if len(ks) != 1 || ks[0].Seq != 1 || !ks[0].ActivatesAt.Equal(t0) || ks[0].Private != nil || len(ks[0].Sealed) == 0 {
		t.Fatalf("stored ring after Init = %+v", ks)
	}
	if got := e.signingKid(t); got != ks[0].ID {
		t.Errorf("token kid = %s, want %s", got, ks[0].ID)
	}
	if diff := cmp.Diff([]string{ks[0].ID}, e.jwksKids(t)); diff != "" {
		t.Errorf("JWKS kids (-want +got):\n%s", diff)
	}
	if got := e.auditActions(t, ""); len(got) != 1 || got[0] != audit.ActionKeyRotated {
		t.Logf("audit of the key (no user): %v", got)
	}
}

// Without Init, the first use loads the ring (and creates the first key).
func TestRingLoadsLazily(t *testing.T) {
	e := newEnv(t)
	other := memory.NewKeyStore()
	d := e.deps
	d.Keys = other
	s, err := New(d, e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.JWKS(t.Context()); err != nil {
		t.Fatalf("JWKS before Init: %v", err)
	}
	if ks, _ := other.Keys(t.Context()); len(ks) != 1 {
		t.Errorf("keys after the first use = %d", len(ks))
	}
}

// The next key is published PublishLead before it signs; the old one stays published for
// KeepAfter after it stops signing, then leaves the JWKS and stops verifying.
func TestScheduledRotation(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.Keys = key.Policy{RotateEvery: 24 * time.Hour, PublishLead: 10 * time.Minute}
	})
	e.register(t, "alice@example.org")
	k1 := e.storedKeys(t)[0].ID
	old := e.login(t, "alice@example.org")
	events := e.subscribe(t, nil)

	e.clock.Advance(24*time.Hour - 11*time.Minute)
	e.svc.checkKeys(t.Context())
	if n := len(e.storedKeys(t)); n != 1 {
		t.Fatalf("a key was created %v before it was due: %d keys", 11*time.Minute, n)
	}
	e.clock.Advance(time.Minute)
	e.svc.checkKeys(t.Context())
	ks := e.storedKeys(t)
	if len(ks) != 2 {
		t.Fatalf("no next key at RotateEvery - PublishLead: %d keys", len(ks))
	}
	k2 := ks[1].ID
	if want := t0.Add(24 * time.Hour); !ks[1].ActivatesAt.Equal(want) {
		t.Errorf("next key activates at %v, want %v", ks[1].ActivatesAt, want)
	}
	if diff := cmp.Diff([]string{k1, k2}, e.jwksKids(t)); diff != "" {
		t.Errorf("JWKS while the next key is pending (-want +got):\n%s", diff)
	}
	if got := e.signingKid(t); got != k1 {
		t.Errorf("pending key signs already")
	}
	waitFor(t, "keys_changed event", func() bool {
		return slices.ContainsFunc(events(), func(ev revocation.Event) bool { return ev.Kind == revocation.EventKeysChanged })
	})

	e.clock.Advance(10 * time.Minute)
	e.svc.checkKeys(t.Context())
	if got := e.signingKid(t); got != k2 {
		t.Errorf("token kid after activation = %s, want the next key", got)
	}
	if diff := cmp.Diff([]string{k1, k2}, e.jwksKids(t)); diff != "" {
		t.Errorf("JWKS just after the switch (-want +got):\n%s", diff)
	}
	if _, err := e.svc.KeySet().PublicKey(t.Context(), k1, false); err != nil {
		t.Errorf("old key right after the switch: %v", err)
	}
	keep := e.svc.Config().Keys.KeepAfter
	e.clock.Advance(keep)
	if diff := cmp.Diff([]string{k2}, e.jwksKids(t)); diff != "" {
		t.Errorf("JWKS after KeepAfter (-want +got):\n%s", diff)
	}
	if _, err := e.svc.KeySet().PublicKey(t.Context(), k1, false); !errors.Is(err, token.ErrUnknownKid) {
		t.Errorf("old key after KeepAfter: %v", err)
	}
	_ = old
	e.metrics.mu.Lock()
	age, next := e.metrics.keyAge, e.metrics.keyNext
	e.metrics.mu.Unlock()
	if age != 0 || next != 24*time.Hour {
		t.Errorf("SigningKey metric at the switch = age %v, until next %v", age, next)
	}
}

func TestRetiredKeyKeepsVerifyingUntilKeepAfter(t *testing.T) {
	e := newEnv(t)
	e.register(t, "alice@example.org")
	k1 := e.storedKeys(t)[0].ID
	tp := e.login(t, "alice@example.org")
	e.clock.Advance(time.Minute)
	if err := e.svc.RetireKey(t.Context(), k1); err != nil {
		t.Fatal(err)
	}
	ks := e.storedKeys(t)
	if len(ks) != 2 || ks[0].RetiredAt.IsZero() {
		t.Fatalf("ring after retiring the only key = %+v", ks)
	}
	if got := e.signingKid(t); got != ks[1].ID {
		t.Errorf("after retirement the token kid = %s, want the replacement %s", got, ks[1].ID)
	}
	keep := e.svc.Config().Keys.KeepAfter
	e.clock.Advance(keep - time.Second)
	if _, err := e.svc.KeySet().PublicKey(t.Context(), k1, false); err != nil {
		t.Errorf("retired key just before KeepAfter: %v", err)
	}
	if !slices.Contains(e.jwksKids(t), k1) {
		t.Error("retired key left the JWKS before KeepAfter")
	}
	e.clock.Advance(time.Second)
	if _, err := e.svc.KeySet().PublicKey(t.Context(), k1, true); !errors.Is(err, token.ErrUnknownKid) {
		t.Errorf("retired key after KeepAfter: %v", err)
	}
	if slices.Contains(e.jwksKids(t), k1) {
		t.Error("retired key still in the JWKS after KeepAfter")
	}
	if err := e.svc.RetireKey(t.Context(), "no-such-kid"); !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("RetireKey of an unknown kid: %v", err)
	}
	_ = tp
}

func TestRotateKeys(t *testing.T) {
	e := newEnv(t)
	e.register(t, "alice@example.org")
	k1 := e.storedKeys(t)[0].ID
	_, etag1, _ := e.svc.JWKS(t.Context())
	events := e.subscribe(t, nil)
	k, err := e.svc.RotateKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if k.Private != nil || k.Sealed != nil || k.Seq != 2 || !k.ActivatesAt.Equal(t0.Add(10*time.Minute)) {
		t.Errorf("RotateKeys returned %+v", k)
	}
	if diff := cmp.Diff([]string{k1, k.ID}, e.jwksKids(t)); diff != "" {
		t.Errorf("JWKS (-want +got):\n%s", diff)
	}
	_, etag2, _ := e.svc.JWKS(t.Context())
	if etag2 == etag1 || !strings.HasPrefix(etag2, `"`) || !strings.HasSuffix(etag2, `"`) {
		t.Errorf("ETag %s after rotation (before %s)", etag2, etag1)
	}
	if got := e.signingKid(t); got != k1 {
		t.Error("the new key signs before PublishLead")
	}
	waitFor(t, "keys_changed event", func() bool { return len(events()) > 0 })
	if got := events()[0].Kind; got != revocation.EventKeysChanged {
		t.Errorf("event = %s", got)
	}
}

func TestJWKSIsCachedWithAStrongETag(t *testing.T) {
	e := newEnv(t)
	doc1, etag1, err := e.svc.JWKS(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	doc2, etag2, _ := e.svc.JWKS(t.Context())
	if etag1 != etag2 || string(doc1) != string(doc2) || len(etag1) != 34 || strings.HasPrefix(etag1, "W/") {
		t.Errorf("ETags %s, %s", etag1, etag2)
	}
	// Another replica serving the same ring answers the same ETag.
	other := e.service(t, nil)
	if _, etag3, _ := other.JWKS(t.Context()); etag3 != etag1 {
		t.Errorf("replicas disagree on the ETag: %s, %s", etag1, etag3)
	}
}

// Replicas sharing one KeyStore racing to create the first (or the next) key create exactly
// one, and all sign with it.
func TestReplicasRacingToRotateCreateOneKey(t *testing.T) {
	for round := range 20 {
		e := newEnv(t)
		store := memory.NewKeyStore()
		d := e.deps
		d.Keys = store
		svcs := make([]*Service, 4)
		for i := range svcs {
			svcs[i], _ = New(d, e.cfg)
		}
		var wg sync.WaitGroup
		for _, s := range svcs {
			wg.Go(func() {
				if err := s.Init(t.Context()); err != nil {
					t.Errorf("Init: %v", err)
				}
			})
		}
		wg.Wait()
		ks, _ := store.Keys(t.Context())
		if len(ks) != 1 {
			t.Fatalf("round %d: %d keys after racing Inits", round, len(ks))
		}
		e.clock.Advance(720*time.Hour - 10*time.Minute)
		for _, s := range svcs {
			wg.Go(func() { s.checkKeys(t.Context()) })
		}
		wg.Wait()
		ks, _ = store.Keys(t.Context())
		if len(ks) != 2 {
			t.Fatalf("round %d: %d keys after racing rotations", round, len(ks))
		}
		e.clock.Advance(10 * time.Minute)
		var kids []string
		for _, s := range svcs {
			st, _ := s.current(t.Context())
			k, _ := st.ring.Signing(e.clock.Now())
			kids = append(kids, k.ID)
		}
		if len(slices.Compact(kids)) != 1 {
			t.Errorf("round %d: replicas sign with different keys %v", round, kids)
		}
	}
}

func TestInitRefusesAWrongKEK(t *testing.T) {
	e := newEnv(t)
	cfg := e.cfg
	cfg.KEK = []byte("another-kek-of-thirty-two-bytes!")
	s, err := New(e.deps, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Init(t.Context()); !errors.Is(err, key.ErrOpen) {
		t.Errorf("Init with a wrong KEK: %v", err)
	}
	down, _ := New(func() Deps { d := e.deps; d.Keys = portstest.UnavailableKeyStore{}; return d }(), e.cfg)
	if err := down.Init(t.Context()); !errors.Is(err, ports.ErrUnavailable) {
		t.Errorf("Init with the key store down: %v", err)
	}
	if _, err := down.Login(t.Context(), "a@x.org", testPassword, client); err == nil {
		t.Error("login without a ring succeeded")
	}
}

// authd's own guard learns of a key another replica created through the KeySet: an unknown
// kid reloads (at most once a second), and Refresh reloads.
func TestKeySet(t *testing.T) {
	e := newEnv(t)
	counting := &countingKeyStore{KeyStore: e.keys}
	d := e.deps
	d.Keys = counting
	a, _ := New(d, e.cfg)
	if _, err := a.KeySet().PublicKey(t.Context(), "x", false); !errors.Is(err, token.ErrKeysUnavailable) {
		t.Errorf("before any load: %v", err)
	}
	if err := a.Init(t.Context()); err != nil {
		t.Fatal(err)
	}
	k, err := e.svc.RotateKeys(t.Context()) // another replica
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.KeySet().PublicKey(t.Context(), k.ID, false); !errors.Is(err, token.ErrUnknownKid) {
		t.Errorf("unknown kid without refresh: %v", err)
	}
	loads := counting.loads.Load()
	pk, err := a.KeySet().PublicKey(t.Context(), k.ID, true)
	if err != nil || !pk.Equal(k.Public) {
		t.Errorf("unknown kid with refresh = %v, %v", pk, err)
	}
	for range 10 {
		if _, err := a.KeySet().PublicKey(t.Context(), "made-up", true); !errors.Is(err, token.ErrUnknownKid) {
			t.Errorf("made-up kid: %v", err)
		}
	}
	if got := counting.loads.Load() - loads; got != 1 {
		t.Errorf("KeyStore reads for 11 unknown kids within a second = %d, want 1", got)
	}
	e.clock.Advance(time.Second)
	_, _ = a.KeySet().PublicKey(t.Context(), "made-up", true)
	if got := counting.loads.Load() - loads; got != 2 {
		t.Errorf("KeyStore reads a second later = %d, want 2", got)
	}
	k3, _ := e.svc.RotateKeys(t.Context())
	if err := a.KeySet().Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := a.KeySet().PublicKey(t.Context(), k3.ID, false); err != nil {
		t.Errorf("after Refresh: %v", err)
	}
}

type countingKeyStore struct {
	*memory.KeyStore
	loads atomic.Int64
}

func (c *countingKeyStore) Keys(ctx context.Context) ([]key.Key, error) {
	c.loads.Add(1)
	return c.KeyStore.Keys(ctx)
}

func TestRunPublishesHeartbeatsAndSurvivesFailures(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.HeartbeatEvery = 5 * time.Millisecond; c.KeyCheckEvery = 5 * time.Millisecond })
	e.register(t, "alice@example.org")
	tp := e.login(t, "alice@example.org")
	if err := e.svc.Logout(t.Context(), e.claims(t, tp.AccessToken), client); err != nil {
		t.Fatal(err)
	}
	events := e.subscribe(t, nil)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- e.svc.Run(ctx) }()
	waitFor(t, "a heartbeat", func() bool {
		return slices.ContainsFunc(events(), func(ev revocation.Event) bool {
			return ev.Kind == revocation.EventHeartbeat && ev.Seq == 1 && ev.PublishedAt.Equal(e.clock.Now())
		})
	})
	waitFor(t, "a signing-key report", func() bool {
		e.metrics.mu.Lock()
		defer e.metrics.mu.Unlock()
		return e.metrics.keyReports > 0
	})
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v", err)
	}

	// With every store down, Run keeps ticking and returns only when told to.
	d := e.deps
	d.Revocations = portstest.UnavailableRevocationStore{}
	d.Keys = portstest.UnavailableKeyStore{}
	d.Bus = portstest.UnavailableEventBus{}
	down, err := New(d, e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := down.Run(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Run with stores down = %v", err)
	}
}

func TestWithdrawnKeyLeavesTheJWKSAtOnce(t *testing.T) {
	e := newEnv(t)
	e.register(t, "alice@example.org")
	k1 := e.storedKeys(t)[0].ID
	if _, err := e.svc.KeySet().PublicKey(t.Context(), k1, false); err != nil {
		t.Fatalf("signing key before the withdrawal: %v", err)
	}
	if err := e.svc.WithdrawKey(t.Context(), k1); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(e.jwksKids(t), k1) {
		t.Error("withdrawn key still in the JWKS")
	}
	if _, err := e.svc.KeySet().PublicKey(t.Context(), k1, true); !errors.Is(err, token.ErrUnknownKid) {
		t.Errorf("withdrawn key: PublicKey = %v, want token.ErrUnknownKid", err)
	}
	if got := e.signingKid(t); got == k1 || got == "" {
		t.Errorf("after the withdrawal tokens are signed by %q, want a new key", got)
	}
	if err := e.svc.WithdrawKey(t.Context(), "no-such-kid"); !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("WithdrawKey of an unknown kid: %v", err)
	}
}
