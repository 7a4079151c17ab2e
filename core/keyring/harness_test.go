package keyring

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate/adapters/jose"
	"github.com/keygate/keygate/adapters/memory"
	"github.com/keygate/keygate/core/audit"
	"github.com/keygate/keygate/core/key"
	"github.com/keygate/keygate/core/token"
	"github.com/keygate/keygate/ports"
)

var (
	t0      = time.Date(2026, 3, 1, 10, 0, 0, 999_000_000, time.UTC)
	testKEK = []byte("kek-kek-kek-kek-kek-kek-kek-kek!")
)

// env is a Ring on the real memory adapters and the jose issuer, with a fake clock.
type env struct {
	clock   *memory.FakeClock
	keys    *memory.KeyStore
	bus     *memory.EventBus
	audit   *recAudit
	metrics *recMetrics
	deps    Deps
	cfg     Config
	ring    *Ring
}

func newEnv(t *testing.T, tweak ...func(*Config)) *env {
	t.Helper()
	e := &env{clock: memory.NewFakeClock(t0), keys: memory.NewKeyStore(), audit: &recAudit{AuditLog: memory.NewAuditLog()},
		bus: memory.NewEventBus(memory.EventBusConfig{}), metrics: &recMetrics{}}
	e.deps = Deps{Keys: e.keys, Issuer: jose.NewTokenIssuer(), Bus: e.bus, Audit: e.audit, Clock: e.clock,
		Metrics: e.metrics}
	e.cfg = Config{KEK: testKEK}
	for _, f := range tweak {
		f(&e.cfg)
	}
	e.ring = e.replica(t, nil)
	return e
}

// replica returns a new Ring on e's deps (changed by swap): another replica of authd on the
// same KeyStore. It is initialised.
func (e *env) replica(t *testing.T, swap func(*Deps)) *Ring {
	t.Helper()
	d := e.deps
	if swap != nil {
		swap(&d)
	}
	r, err := New(d, e.cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := r.Init(t.Context()); err != nil {
		t.Fatalf("Init: %v", err)
	}
	return r
}

// jwksKids returns the kids of r's JWKS document, in order.
func jwksKids(t *testing.T, r *Ring) []string {
	t.Helper()
	doc, _, err := r.JWKS(t.Context())
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

// signingKid signs a token with r, checks its signature against r as a KeySet, and returns
// its kid.
func (e *env) signingKid(t *testing.T, r *Ring) string {
	t.Helper()
	now := e.clock.Now()
	raw, err := r.Sign(t.Context(), token.Claims{Issuer: "https://auth.test", Subject: "u1", Audience: []string{"orders"},
		IssuedAt: now, NotBefore: now, ExpiresAt: now.Add(15 * time.Minute), ID: "j1", SessionID: "s1"})
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	parts := strings.Split(raw, ".")
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		t.Fatal(err)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(hb, &h); err != nil {
		t.Fatal(err)
	}
	pk, err := r.PublicKey(t.Context(), h.Kid, true)
	if err != nil {
		t.Fatalf("the signing key %s is not in the key set: %v", h.Kid, err)
	}
	if !ed25519.Verify(pk, []byte(parts[0]+"."+parts[1]), sig) {
		t.Fatal("the signature does not verify")
	}
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

// auditActions returns the actions of the audit events appended so far, oldest first.
func (e *env) auditActions(t *testing.T) []audit.Action {
	t.Helper()
	e.audit.mu.Lock()
	defer e.audit.mu.Unlock()
	return slices.Clone(e.audit.actions)
}

// recAudit records the actions appended to a memory AuditLog (which lists by user only).
type recAudit struct {
	*memory.AuditLog
	mu      sync.Mutex
	actions []audit.Action
}

func (a *recAudit) Append(ctx context.Context, e audit.Event) error {
	a.mu.Lock()
	a.actions = append(a.actions, e.Action)
	a.mu.Unlock()
	return a.AuditLog.Append(ctx, e)
}

// recMetrics records what the Ring reports.
type recMetrics struct {
	ports.NopMetrics
	mu         sync.Mutex
	issued     int
	keyAge     time.Duration
	keyNext    time.Duration
	keyReports int
}

func (m *recMetrics) TokenIssued()    { m.mu.Lock(); m.issued++; m.mu.Unlock() }
func (m *recMetrics) TokenCache(bool) {}

func (m *recMetrics) SigningKey(age, next time.Duration) {
	m.mu.Lock()
	m.keyAge, m.keyNext = age, next
	m.keyReports++
	m.mu.Unlock()
}
