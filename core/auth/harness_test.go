package auth

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate/adapters/memory"
	"github.com/keygate/keygate/core/audit"
	"github.com/keygate/keygate/core/identity"
	"github.com/keygate/keygate/core/key"
	"github.com/keygate/keygate/core/keyring"
	"github.com/keygate/keygate/core/revocation"
	"github.com/keygate/keygate/core/session"
	"github.com/keygate/keygate/core/token"
	"github.com/keygate/keygate/ports"
)

// t0 is where the fake clock starts: 1 ms before a whole second, so the wait of a subject
// revocation (up to the next whole second) is 1 ms of real time.
var t0 = time.Date(2026, 3, 1, 10, 0, 0, 999_000_000, time.UTC)

var (
	testSecret = []byte("0123456789abcdef0123456789abcdef")
	testKEK    = []byte("kek-kek-kek-kek-kek-kek-kek-kek!")
)

const testPassword = "correct horse battery"

// env is a Service on the real memory adapters with a fake clock, signing with a key ring on a
// memory KeyStore.
type env struct {
	clock    *memory.FakeClock
	users    *memory.UserRepo
	sessions *memory.SessionStore
	revs     *memory.RevocationStore
	bus      *memory.EventBus
	keys     *memory.KeyStore
	audit    *memory.AuditLog
	limiter  *memory.RateLimiter
	hasher   *countingHasher
	metrics  *recMetrics
	ring     *keyring.Ring
	deps     Deps
	cfg      Config
	svc      *Service
}

func testConfig() Config {
	return Config{
		Issuer:        "https://auth.test",
		Audiences:     []string{"orders", "payments"},
		RefreshSecret: testSecret,
		LimitAccount:  Limit{N: 1000, Window: time.Minute},
		LimitAddress:  Limit{N: 1000, Window: time.Minute},
		LoginFailures: Limit{N: 1000, Window: time.Minute},
		LoginBrake:    Limit{N: 1000, Window: time.Minute},
	}
}

func newEnv(t *testing.T, tweak ...func(*Config)) *env {
	t.Helper()
	e := &env{clock: memory.NewFakeClock(t0), metrics: newRecMetrics()}
	e.users = memory.NewUserRepo()
	e.sessions = memory.NewSessionStore(e.clock)
	e.bus = memory.NewEventBus(memory.EventBusConfig{})
	e.revs = memory.NewRevocationStore(e.clock, e.bus)
	e.keys = memory.NewKeyStore()
	e.audit = memory.NewAuditLog()
	e.limiter = memory.NewRateLimiter(e.clock)
	e.hasher = &countingHasher{h: newTestHasher(t)}
	e.cfg = testConfig()
	for _, f := range tweak {
		f(&e.cfg)
	}
	e.ring = e.newRing(t)
	e.deps = Deps{
		Users: e.users, Sessions: e.sessions, Revocations: e.revs, Bus: e.bus, Signer: e.ring,
		Hasher: e.hasher, Norm: newTestNorm(), Limiter: e.limiter, Audit: e.audit, Clock: e.clock,
		Metrics: e.metrics, Verifier: &testVerifier{keys: e.ring, revs: e.revs, clock: e.clock, cfg: e.cfg},
	}
	e.svc = e.service(t, nil)
	return e
}

// newRing returns a loaded key ring on e's KeyStore: another replica's, after the first.
func (e *env) newRing(t *testing.T) *keyring.Ring {
	t.Helper()
	r, err := keyring.New(keyring.Deps{Keys: e.keys, Issuer: newTestIssuer(), Bus: e.bus, Audit: e.audit,
		Clock: e.clock, Metrics: e.metrics}, keyring.Config{KEK: testKEK, TokenLife: cmp.Or(e.cfg.AccessTTL, DefaultAccessTTL) + DefaultLeeway})
	if err != nil {
		t.Fatalf("keyring.New: %v", err)
	}
	if err := r.Init(t.Context()); err != nil {
		t.Fatalf("Init: %v", err)
	}
	return r
}

// service returns a new Service on e's deps, changed by swap.
func (e *env) service(t *testing.T, swap func(*Deps)) *Service {
	t.Helper()
	d := e.deps
	if swap != nil {
		swap(&d)
	}
	s, err := New(d, e.cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

var client = Client{IP: "192.0.2.1", UserAgent: "test/1.0"}

// register creates a user with testPassword.
func (e *env) register(t *testing.T, email string) identity.User {
	t.Helper()
	u, err := e.svc.Register(t.Context(), email, testPassword, "Test User", client)
	if err != nil {
		t.Fatalf("Register(%q): %v", email, err)
	}
	return u
}

func (e *env) login(t *testing.T, email string) TokenPair {
	t.Helper()
	tp, err := e.svc.Login(t.Context(), email, testPassword, client)
	if err != nil {
		t.Fatalf("Login(%q): %v", email, err)
	}
	return tp
}

// verify authenticates raw like a microservice would, from the store's current revocations.
func (e *env) verify(t *testing.T, raw string) (token.Claims, error) {
	t.Helper()
	v := &testVerifier{keys: e.ring, revs: e.revs, clock: e.clock, cfg: e.cfg}
	return v.Authenticate(t.Context(), raw)
}

func (e *env) claims(t *testing.T, raw string) token.Claims {
	t.Helper()
	c, err := e.verify(t, raw)
	if err != nil {
		t.Fatalf("access token refused: %v", err)
	}
	return c
}

func (e *env) snapshot(t *testing.T) []revocation.Entry {
	t.Helper()
	snap, err := e.revs.Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return snap.Entries
}

func (e *env) auditActions(t *testing.T, userID string) []audit.Action {
	t.Helper()
	evs, err := e.audit.ByUser(t.Context(), userID, 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []audit.Action
	for i := len(evs) - 1; i >= 0; i-- {
		out = append(out, evs[i].Action)
	}
	return out
}

// testVerifier is a minimal guard: signature from the key ring, exp, and the
// revocation store's entries. It stands in for core/guard, which is written elsewhere.
type testVerifier struct {
	keys  ports.KeySet
	revs  ports.RevocationStore
	clock ports.Clock
	cfg   Config
	down  atomic.Bool // answer ErrRevocationUnavailable
}

func (v *testVerifier) Authenticate(ctx context.Context, raw string) (token.Claims, error) {
	if v.down.Load() {
		return token.Claims{}, token.ErrRevocationUnavailable
	}
	h, c, signed, sig, err := decodeJWS(raw)
	if err != nil {
		return token.Claims{}, err
	}
	if h.Alg != "EdDSA" || h.Typ != token.Type {
		return token.Claims{}, token.ErrAlgRejected
	}
	pk, err := v.keys.PublicKey(ctx, h.Kid, true)
	if err != nil {
		return token.Claims{}, err
	}
	if !ed25519.Verify(pk, []byte(signed), sig) {
		return token.Claims{}, token.ErrBadSignature
	}
	now := v.clock.Now()
	if !now.Before(c.ExpiresAt) {
		return token.Claims{}, token.ErrExpired
	}
	if c.Issuer != v.cfg.Issuer {
		return token.Claims{}, token.ErrIssuerMismatch
	}
	snap, err := v.revs.Snapshot(ctx)
	if err != nil {
		return token.Claims{}, token.ErrRevocationUnavailable
	}
	set := revocation.NewSet()
	set.Replace(snap.Entries, now)
	if set.Revoked(c.ID, c.SessionID, c.Subject, c.IssuedAt, now) {
		return token.Claims{}, token.ErrRevoked
	}
	return c, nil
}

type jwsHeader struct {
	Alg string `json:"alg"`
	Typ string `json:"typ"`
	Kid string `json:"kid"`
}

type jwtClaims struct {
	Iss      string          `json:"iss"`
	Sub      string          `json:"sub"`
	Aud      json.RawMessage `json:"aud"`
	Exp      float64         `json:"exp"`
	Iat      float64         `json:"iat"`
	Nbf      float64         `json:"nbf"`
	Jti      string          `json:"jti"`
	Sid      string          `json:"sid"`
	ClientID string          `json:"client_id"`
	Scope    string          `json:"scope"`
	Roles    []string        `json:"roles"`
}

func numericDate(f float64) time.Time {
	if f == 0 {
		return time.Time{}
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC()
}

// decodeJWS splits a compact JWS and decodes its header and claims.
func decodeJWS(raw string) (jwsHeader, token.Claims, string, []byte, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return jwsHeader{}, token.Claims{}, "", nil, token.ErrMalformed
	}
	var h jwsHeader
	var jc jwtClaims
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	pb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err := errors.Join(err1, err2, err3); err != nil {
		return jwsHeader{}, token.Claims{}, "", nil, fmt.Errorf("%w: %v", token.ErrMalformed, err)
	}
	if err := errors.Join(json.Unmarshal(hb, &h), json.Unmarshal(pb, &jc)); err != nil {
		return jwsHeader{}, token.Claims{}, "", nil, fmt.Errorf("%w: %v", token.ErrMalformed, err)
	}
	var aud []string
	if len(jc.Aud) > 0 && jc.Aud[0] == '"' {
		var one string
		_ = json.Unmarshal(jc.Aud, &one)
		aud = []string{one}
	} else {
		_ = json.Unmarshal(jc.Aud, &aud)
	}
	c := token.Claims{Issuer: jc.Iss, Subject: jc.Sub, Audience: aud, ExpiresAt: numericDate(jc.Exp),
		IssuedAt: numericDate(jc.Iat), NotBefore: numericDate(jc.Nbf), ID: jc.Jti, SessionID: jc.Sid,
		ClientID: jc.ClientID, Scope: jc.Scope, Roles: jc.Roles}
	return h, c, parts[0] + "." + parts[1], sig, nil
}

// countingHasher counts the work a PasswordHasher does.
type countingHasher struct {
	h             ports.PasswordHasher
	hashes        atomic.Int64
	verifies      atomic.Int64
	emptyVerifies atomic.Int64
}

func (c *countingHasher) Hash(ctx context.Context, pw string) (string, error) {
	c.hashes.Add(1)
	return c.h.Hash(ctx, pw)
}

func (c *countingHasher) NeedsRehash(hash string) bool { return c.h.NeedsRehash(hash) }

func (c *countingHasher) Verify(ctx context.Context, hash, pw string) (bool, error) {
	c.verifies.Add(1)
	if hash == "" {
		c.emptyVerifies.Add(1)
	}
	return c.h.Verify(ctx, hash, pw)
}

// recMetrics records what the Service reports.
type recMetrics struct {
	ports.NopMetrics
	mu         sync.Mutex
	logins     map[string]int
	issued     int
	storeOps   map[string]int
	keyAge     time.Duration
	keyNext    time.Duration
	keyReports int
}

func newRecMetrics() *recMetrics {
	return &recMetrics{logins: map[string]int{}, storeOps: map[string]int{}}
}

func (m *recMetrics) TokenIssued() { m.mu.Lock(); m.issued++; m.mu.Unlock() }
func (m *recMetrics) Login(r string) {
	m.mu.Lock()
	m.logins[r]++
	m.mu.Unlock()
}
func (m *recMetrics) RevocationStoreOp(op string, _ time.Duration, err error) {
	m.mu.Lock()
	if err != nil {
		op += ":error"
	}
	m.storeOps[op]++
	m.mu.Unlock()
}

func (m *recMetrics) SigningKey(age, next time.Duration) {
	m.mu.Lock()
	m.keyAge, m.keyNext = age, next
	m.keyReports++
	m.mu.Unlock()
}

func (m *recMetrics) loginCounts() map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]int{}
	for k, v := range m.logins {
		out[k] = v
	}
	return out
}

var (
	_ ports.Metrics = (*recMetrics)(nil)
	_ Verifier      = (*testVerifier)(nil)
	_               = key.Key{}
	_               = session.Session{}
)
