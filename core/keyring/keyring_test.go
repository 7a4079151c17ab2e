package keyring

import (
	"context"
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

func TestNewChecksConfigAndFillsDefaults(t *testing.T) {
	e := newEnv(t)
	want := Config{TokenLife: 17 * time.Minute, CheckEvery: time.Minute, Policy: key.Policy{
		RotateEvery: 720 * time.Hour, PublishLead: 10 * time.Minute, KeepAfter: 15*time.Minute + 2*time.Minute + time.Minute}}
	if diff := cmp.Diff(want, e.ring.Config()); diff != "" {
		t.Errorf("effective config (-want +got):\n%s", diff)
	}
	if got := e.ring.KeepAfter(); got != want.Policy.KeepAfter {
		t.Errorf("KeepAfter = %v", got)
	}
	tests := []struct {
		name   string
		change func(*Config, *Deps)
	}{
		{"KEK of 16 bytes", func(c *Config, _ *Deps) { c.KEK = testKEK[:16] }},
		{"no KEK", func(c *Config, _ *Deps) { c.KEK = nil }},
		{"keep-after shorter than token life", func(c *Config, _ *Deps) { c.Policy.KeepAfter = time.Minute }},
		{"rotation shorter than publish lead", func(c *Config, _ *Deps) {
			c.Policy.RotateEvery, c.Policy.PublishLead = time.Minute, time.Hour
		}},
		{"negative check interval", func(c *Config, _ *Deps) { c.CheckEvery = -time.Second }},
		{"no key store", func(_ *Config, d *Deps) { d.Keys = nil }},
		{"no issuer", func(_ *Config, d *Deps) { d.Issuer = nil }},
		{"no bus", func(_ *Config, d *Deps) { d.Bus = nil }},
		{"no audit log", func(_ *Config, d *Deps) { d.Audit = nil }},
		{"no clock", func(_ *Config, d *Deps) { d.Clock = nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, d := Config{KEK: testKEK}, e.deps
			tt.change(&c, &d)
			r, err := New(d, c)
			if !errors.Is(err, ErrInvalidConfig) || r != nil {
				t.Errorf("New = %v, %v; want ErrInvalidConfig", r, err)
			}
		})
	}
}

func TestFirstKeySignsAtOnce(t *testing.T) {
	e := newEnv(t)
	ks := e.storedKeys(t)
	if len(ks) != 1 || ks[0].Seq != 1 || !ks[0].ActivatesAt.Equal(t0) || ks[0].Private != nil || len(ks[0].Sealed) == 0 {
		t.Fatalf("stored ring after Init = %+v", ks)
	}
	if got := e.signingKid(t, e.ring); got != ks[0].ID {
		t.Errorf("token kid = %s, want %s", got, ks[0].ID)
	}
	if diff := cmp.Diff([]string{ks[0].ID}, jwksKids(t, e.ring)); diff != "" {
		t.Errorf("JWKS kids (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]audit.Action{audit.ActionKeyRotated}, e.auditActions(t)); diff != "" {
		t.Errorf("audit of the first key (-want +got):\n%s", diff)
	}
	e.metrics.mu.Lock()
	defer e.metrics.mu.Unlock()
	if e.metrics.issued != 1 {
		t.Errorf("tokens issued = %d, want 1", e.metrics.issued)
	}
}

// Without Init, the first use loads the ring (and creates the first key).
func TestRingLoadsLazily(t *testing.T) {
	e := newEnv(t)
	other := memory.NewKeyStore()
	d := e.deps
	d.Keys = other
	r, err := New(d, e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.JWKS(t.Context()); err != nil {
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
		c.Policy = key.Policy{RotateEvery: 24 * time.Hour, PublishLead: 10 * time.Minute}
	})
	k1 := e.storedKeys(t)[0].ID
	events := portstest.Events(t, e.bus, nil)

	e.clock.Advance(24*time.Hour - 11*time.Minute)
	e.ring.check(t.Context())
	if n := len(e.storedKeys(t)); n != 1 {
		t.Fatalf("a key was created %v before it was due: %d keys", 11*time.Minute, n)
	}
	e.clock.Advance(time.Minute)
	e.ring.check(t.Context())
	ks := e.storedKeys(t)
	if len(ks) != 2 {
		t.Fatalf("no next key at RotateEvery - PublishLead: %d keys", len(ks))
	}
	k2 := ks[1].ID
	if want := t0.Add(24 * time.Hour); !ks[1].ActivatesAt.Equal(want) {
		t.Errorf("next key activates at %v, want %v", ks[1].ActivatesAt, want)
	}
	if diff := cmp.Diff([]string{k1, k2}, jwksKids(t, e.ring)); diff != "" {
		t.Errorf("JWKS while the next key is pending (-want +got):\n%s", diff)
	}
	if got := e.signingKid(t, e.ring); got != k1 {
		t.Errorf("pending key signs already")
	}
	portstest.Eventually(t, "keys_changed event", func() bool {
		return slices.ContainsFunc(events(), func(ev revocation.Event) bool { return ev.Kind == revocation.EventKeysChanged })
	})

	e.clock.Advance(10 * time.Minute)
	e.ring.check(t.Context())
	if got := e.signingKid(t, e.ring); got != k2 {
		t.Errorf("token kid after activation = %s, want the next key", got)
	}
	if diff := cmp.Diff([]string{k1, k2}, jwksKids(t, e.ring)); diff != "" {
		t.Errorf("JWKS just after the switch (-want +got):\n%s", diff)
	}
	if _, err := e.ring.PublicKey(t.Context(), k1, false); err != nil {
		t.Errorf("old key right after the switch: %v", err)
	}
	e.clock.Advance(e.ring.KeepAfter())
	if diff := cmp.Diff([]string{k2}, jwksKids(t, e.ring)); diff != "" {
		t.Errorf("JWKS after KeepAfter (-want +got):\n%s", diff)
	}
	if _, err := e.ring.PublicKey(t.Context(), k1, false); !errors.Is(err, token.ErrUnknownKid) {
		t.Errorf("old key after KeepAfter: %v", err)
	}
	e.metrics.mu.Lock()
	age, next := e.metrics.keyAge, e.metrics.keyNext
	e.metrics.mu.Unlock()
	if age != 0 || next != 24*time.Hour {
		t.Errorf("SigningKey metric at the switch = age %v, until next %v", age, next)
	}
}

func TestRetiredKeyKeepsVerifyingUntilKeepAfter(t *testing.T) {
	e := newEnv(t)
	k1 := e.storedKeys(t)[0].ID
	e.clock.Advance(time.Minute)
	if err := e.ring.Retire(t.Context(), k1); err != nil {
		t.Fatal(err)
	}
	ks := e.storedKeys(t)
	if len(ks) != 2 || ks[0].RetiredAt.IsZero() {
		t.Fatalf("ring after retiring the only key = %+v", ks)
	}
	if got := e.signingKid(t, e.ring); got != ks[1].ID {
		t.Errorf("after retirement the token kid = %s, want the replacement %s", got, ks[1].ID)
	}
	e.clock.Advance(e.ring.KeepAfter() - time.Second)
	if _, err := e.ring.PublicKey(t.Context(), k1, false); err != nil {
		t.Errorf("retired key just before KeepAfter: %v", err)
	}
	if !slices.Contains(jwksKids(t, e.ring), k1) {
		t.Error("retired key left the JWKS before KeepAfter")
	}
	e.clock.Advance(time.Second)
	if _, err := e.ring.PublicKey(t.Context(), k1, true); !errors.Is(err, token.ErrUnknownKid) {
		t.Errorf("retired key after KeepAfter: %v", err)
	}
	if slices.Contains(jwksKids(t, e.ring), k1) {
		t.Error("retired key still in the JWKS after KeepAfter")
	}
	if err := e.ring.Retire(t.Context(), "no-such-kid"); !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("Retire of an unknown kid: %v", err)
	}
	if got := e.auditActions(t); !slices.Contains(got, audit.ActionKeyRetired) {
		t.Errorf("audit = %v, want a key_retired event", got)
	}
}

func TestRotate(t *testing.T) {
	e := newEnv(t)
	k1 := e.storedKeys(t)[0].ID
	_, etag1, _ := e.ring.JWKS(t.Context())
	events := portstest.Events(t, e.bus, nil)
	k, err := e.ring.Rotate(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if k.Private != nil || k.Sealed != nil || k.Seq != 2 || !k.ActivatesAt.Equal(t0.Add(10*time.Minute)) {
		t.Errorf("Rotate returned %+v", k)
	}
	if diff := cmp.Diff([]string{k1, k.ID}, jwksKids(t, e.ring)); diff != "" {
		t.Errorf("JWKS (-want +got):\n%s", diff)
	}
	_, etag2, _ := e.ring.JWKS(t.Context())
	if etag2 == etag1 || !strings.HasPrefix(etag2, `"`) || !strings.HasSuffix(etag2, `"`) {
		t.Errorf("ETag %s after rotation (before %s)", etag2, etag1)
	}
	if got := e.signingKid(t, e.ring); got != k1 {
		t.Error("the new key signs before PublishLead")
	}
	portstest.Eventually(t, "keys_changed event", func() bool { return len(events()) > 0 })
	if got := events()[0]; got.Kind != revocation.EventKeysChanged || got.Keys != (revocation.KeyChange{JWKSETag: etag2}) {
		t.Errorf("event = %+v, want keys_changed naming the served document %s", got, etag2)
	}
	list, err := e.ring.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != k1 || list[1].ID != k.ID || list[0].Sealed != nil || list[1].Sealed != nil {
		t.Errorf("List = %+v, want both keys, oldest first, without private material", list)
	}
}

func TestJWKSIsCachedWithAStrongETag(t *testing.T) {
	e := newEnv(t)
	doc1, etag1, err := e.ring.JWKS(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	doc2, etag2, _ := e.ring.JWKS(t.Context())
	if etag1 != etag2 || string(doc1) != string(doc2) || len(etag1) != 34 || strings.HasPrefix(etag1, "W/") {
		t.Errorf("ETags %s, %s", etag1, etag2)
	}
	if got := ETag(doc1); got != etag1 {
		t.Errorf("ETag(doc) = %s, the JWKS answered %s", got, etag1)
	}
	// Another replica serving the same ring answers the same ETag.
	if _, etag3, _ := e.replica(t, nil).JWKS(t.Context()); etag3 != etag1 {
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
		rings := make([]*Ring, 4)
		for i := range rings {
			rings[i], _ = New(d, e.cfg)
		}
		var wg sync.WaitGroup
		for _, r := range rings {
			wg.Go(func() {
				if err := r.Init(t.Context()); err != nil {
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
		for _, r := range rings {
			wg.Go(func() { r.check(t.Context()) })
		}
		wg.Wait()
		ks, _ = store.Keys(t.Context())
		if len(ks) != 2 {
			t.Fatalf("round %d: %d keys after racing rotations", round, len(ks))
		}
		e.clock.Advance(10 * time.Minute)
		var kids []string
		for _, r := range rings {
			kids = append(kids, e.signingKid(t, r))
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
	r, err := New(e.deps, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Init(t.Context()); !errors.Is(err, key.ErrOpen) {
		t.Errorf("Init with a wrong KEK: %v", err)
	}
	if err := r.Ready(t.Context()); !errors.Is(err, ports.ErrUnavailable) {
		t.Errorf("Ready with a wrong KEK: %v", err)
	}
	down, _ := New(func() Deps { d := e.deps; d.Keys = portstest.UnavailableKeyStore{}; return d }(), e.cfg)
	if err := down.Init(t.Context()); !errors.Is(err, ports.ErrUnavailable) {
		t.Errorf("Init with the key store down: %v", err)
	}
	if _, err := down.Sign(t.Context(), token.Claims{Subject: "u1"}); !errors.Is(err, ports.ErrUnavailable) {
		t.Errorf("Sign without a ring: %v", err)
	}
	if err := down.Ready(t.Context()); !errors.Is(err, ports.ErrUnavailable) {
		t.Errorf("Ready without a ring: %v", err)
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
	if _, err := a.PublicKey(t.Context(), "x", false); !errors.Is(err, token.ErrKeysUnavailable) {
		t.Errorf("before any load: %v", err)
	}
	if err := a.Init(t.Context()); err != nil {
		t.Fatal(err)
	}
	k, err := e.ring.Rotate(t.Context()) // another replica
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.PublicKey(t.Context(), k.ID, false); !errors.Is(err, token.ErrUnknownKid) {
		t.Errorf("unknown kid without refresh: %v", err)
	}
	loads := counting.loads.Load()
	pk, err := a.PublicKey(t.Context(), k.ID, true)
	if err != nil || !pk.Equal(k.Public) {
		t.Errorf("unknown kid with refresh = %v, %v", pk, err)
	}
	for range 10 {
		if _, err := a.PublicKey(t.Context(), "made-up", true); !errors.Is(err, token.ErrUnknownKid) {
			t.Errorf("made-up kid: %v", err)
		}
	}
	if got := counting.loads.Load() - loads; got != 1 {
		t.Errorf("KeyStore reads for 11 unknown kids within a second = %d, want 1", got)
	}
	e.clock.Advance(time.Second)
	_, _ = a.PublicKey(t.Context(), "made-up", true)
	if got := counting.loads.Load() - loads; got != 2 {
		t.Errorf("KeyStore reads a second later = %d, want 2", got)
	}
	k3, _ := e.ring.Rotate(t.Context())
	if err := a.Refresh(t.Context(), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := a.PublicKey(t.Context(), k3.ID, false); err != nil {
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

func TestRunReportsTheSigningKeyAndSurvivesFailures(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.CheckEvery = 5 * time.Millisecond })
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- e.ring.Run(ctx) }()
	portstest.Eventually(t, "a signing-key report", func() bool {
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
	k1 := e.storedKeys(t)[0].ID
	if _, err := e.ring.PublicKey(t.Context(), k1, false); err != nil {
		t.Fatalf("signing key before the withdrawal: %v", err)
	}
	events := portstest.Events(t, e.bus, nil)
	if err := e.ring.Withdraw(t.Context(), k1); err != nil {
		t.Fatal(err)
	}
	// Withdrawing the signing key created its successor (one event), then the withdrawal's
	// event names the kid and the document served from then on.
	_, served, _ := e.ring.JWKS(t.Context())
	portstest.Eventually(t, "the withdrawal's event", func() bool { return len(events()) >= 2 })
	if got, want := events()[len(events())-1].Keys, (revocation.KeyChange{JWKSETag: served, Withdrawn: k1}); got != want {
		t.Errorf("withdrawal event says %+v, want %+v", got, want)
	}
	if slices.Contains(jwksKids(t, e.ring), k1) {
		t.Error("withdrawn key still in the JWKS")
	}
	if _, err := e.ring.PublicKey(t.Context(), k1, true); !errors.Is(err, token.ErrUnknownKid) {
		t.Errorf("withdrawn key: PublicKey = %v, want token.ErrUnknownKid", err)
	}
	if got := e.signingKid(t, e.ring); got == k1 || got == "" {
		t.Errorf("after the withdrawal tokens are signed by %q, want a new key", got)
	}
	if err := e.ring.Withdraw(t.Context(), "no-such-kid"); !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("Withdraw of an unknown kid: %v", err)
	}
	if got := e.auditActions(t); !slices.Contains(got, audit.ActionKeyWithdrawn) {
		t.Errorf("audit = %v, want a key_withdrawn event", got)
	}
}
