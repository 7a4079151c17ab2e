package redis_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	redisadapter "github.com/keygate/keygate/adapters/redis"
	"github.com/keygate/keygate/core/guard"
	"github.com/keygate/keygate/core/revocation"
	"github.com/keygate/keygate/core/token"
	"github.com/keygate/keygate/ports"
	"github.com/keygate/keygate/test/containers"
)

const (
	issuer   = "https://auth.keygate.test"
	audience = "orders"
)

// rig is one Redis with the auth service's side of the feed (a store and a bus on their own
// client) and the entries it has revoked.
type rig struct {
	redis   *containers.Redis
	prefix  string
	auth    goredis.UniversalClient
	store   *redisadapter.RevocationStore
	bus     *redisadapter.EventBus
	signer  signer
	timeout time.Duration
	addr    string // where clients connect

	mu    sync.Mutex
	acked []revocation.Entry // Revoke returned a sequence number
	next  atomic.Int64
}

// newRig starts Redis; the clients time out after timeout (and ping an idle subscription
// every timeout/4), so that faults show quickly.
func newRig(t testing.TB, timeout time.Duration, opts ...containers.RedisOption) *rig {
	t.Helper()
	r := &rig{redis: containers.StartRedis(t, opts...), prefix: fmt.Sprintf("fault-%d", time.Now().UnixNano()),
		signer: newSigner(), timeout: timeout}
	r.addr = r.redis.Addr
	r.connect(t)
	return r
}

// direct makes the rig's clients, and the verifiers made after, connect to the container's
// own address, bypassing Docker's userland proxy (as pods on one network would).
func (r *rig) direct(t testing.TB) {
	t.Helper()
	r.addr = r.redis.ContainerAddr
	r.connect(t)
}

// connect (re)makes the auth side's client, store and bus.
func (r *rig) connect(t testing.TB) {
	t.Helper()
	cfg := r.config()
	var cleanup func()
	var err error
	r.auth, cleanup, err = redisadapter.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	if r.store, err = redisadapter.NewRevocationStore(r.auth, cfg); err != nil {
		t.Fatal(err)
	}
	if r.bus, err = redisadapter.NewEventBus(r.auth, cfg); err != nil {
		t.Fatal(err)
	}
}

// config is the rig's client configuration.
func (r *rig) config() redisadapter.Config {
	return redisadapter.Config{Addrs: []string{r.addr}, Prefix: r.prefix,
		DialTimeout: r.timeout, ReadTimeout: r.timeout, WriteTimeout: r.timeout, PingInterval: r.timeout / 4}
}

// entry returns a new revocation of each kind in turn, live for an hour.
func (r *rig) entry() revocation.Entry {
	n := r.next.Add(1)
	now := time.Now()
	e := revocation.Entry{Key: fmt.Sprintf("k-%d", n), ExpiresAt: now.Add(time.Hour)}
	switch n % 3 {
	case 0:
		e.Kind = revocation.KindToken
	case 1:
		e.Kind = revocation.KindSession
	default:
		e.Kind, e.NotBefore = revocation.KindSubject, now
	}
	return e
}

// revoke does what the auth service does: Revoke, which stores, logs and publishes the
// revocation in one round trip. It records e as acknowledged once the store has it.
func (r *rig) revoke(ctx context.Context, e revocation.Entry) (uint64, error) {
	seq, err := r.store.Revoke(ctx, e)
	if err != nil {
		return 0, err
	}
	r.mu.Lock()
	r.acked = append(r.acked, e)
	r.mu.Unlock()
	return seq, nil
}

func (r *rig) mustRevoke(t testing.TB, e revocation.Entry) uint64 {
	t.Helper()
	seq, err := r.revoke(t.Context(), e)
	if err != nil {
		t.Fatalf("revoke %s: %v", e.Key, err)
	}
	return seq
}

// verifier is one microservice's view: a Feed on its own Redis client and a Guard over it.
type verifier struct {
	feed    *guard.Feed
	guard   *guard.Guard
	bus     *watchedBus
	metrics *recorder
}

// verifier starts a Feed that reconciles only through the bus (its poll and periodic resync
// are an hour away, so they cannot hide a lost event) and waits for its first snapshot.
func (r *rig) verifier(t testing.TB, stall time.Duration) *verifier {
	t.Helper()
	return r.verifierWithin(t, stall, 10*time.Second)
}

// verifierWithin is verifier, waiting up to within for the first snapshot.
func (r *rig) verifierWithin(t testing.TB, stall, within time.Duration) *verifier {
	t.Helper()
	cfg := r.config()
	if stall > 0 {
		// Straight to the container: Docker's proxy would buffer what the stalled
		// verifier does not read.
		cfg.Addrs = []string{r.redis.ContainerAddr}
	}
	c, cleanup, err := redisadapter.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	store, err := redisadapter.NewRevocationStore(c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := redisadapter.NewEventBus(c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	v := &verifier{bus: &watchedBus{EventBus: b, stall: stall}, metrics: newRecorder()}
	v.feed = guard.NewFeed(store, v.bus, nil, wallClock{}, v.metrics, guard.FeedConfig{
		Poll: time.Hour, Reconcile: time.Hour, Timeout: 2 * time.Second,
		RetryMin: 20 * time.Millisecond, RetryMax: 500 * time.Millisecond,
	})
	keys := &oneKey{kid: r.signer.kid, pub: r.signer.pub()}
	if v.guard, err = guard.New(keys, v.feed, wallClock{}, v.metrics, guard.Config{Issuer: issuer, Audiences: []string{audience}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = v.feed.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	wctx, wcancel := context.WithTimeout(t.Context(), within)
	defer wcancel()
	if err := v.feed.WaitSynced(wctx); err != nil {
		t.Fatalf("verifier not synced: %v", err)
	}
	return v
}

// waitSeq waits until the verifier has applied every revocation up to seq.
func (v *verifier) waitSeq(t testing.TB, seq uint64, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for v.feed.Status().Seq < seq {
		if time.Since(start) > within {
			t.Fatalf("verifier at seq %d, want %d within %v (status %+v)", v.feed.Status().Seq, seq, within, v.feed.Status())
		}
		time.Sleep(2 * time.Millisecond)
	}
	return time.Since(start)
}

// converged waits until the verifier's set holds what the store holds, then checks that every
// acknowledged revocation is in the store, that the verifier refuses a token for each entry of
// the store, and that it still accepts a token nobody revoked. With as many entries in its
// set as the store has, and each of the store's enforced, the set equals the store's.
func (r *rig) converged(t testing.TB, v *verifier, within time.Duration) revocation.Snapshot {
	t.Helper()
	start := time.Now()
	var snap revocation.Snapshot
	for {
		// Compare sequence numbers first: a snapshot of thousands of entries is work for
		// Redis and for this process, and would slow the verifier down.
		seq, err := r.store.Seq(t.Context())
		if err != nil {
			t.Fatalf("store seq: %v", err)
		}
		st := v.feed.Status()
		if st.Seq == seq {
			if snap, err = r.store.Snapshot(t.Context()); err != nil {
				t.Fatalf("store snapshot: %v", err)
			}
			if st = v.feed.Status(); st.Seq == snap.Seq && st.Entries == len(snap.Entries) {
				break
			}
		}
		if time.Since(start) > within {
			t.Fatalf("verifier did not converge within %v: verifier seq %d with %d entries, store seq %d (last snapshot: seq %d with %d)",
				within, st.Seq, st.Entries, seq, snap.Seq, len(snap.Entries))
		}
		time.Sleep(20 * time.Millisecond)
	}
	waited := time.Since(start)
	in := map[string]bool{}
	for _, e := range snap.Entries {
		in[string(e.Kind)+":"+e.Key] = true
	}
	local := map[string]bool{}
	for _, e := range v.feed.Entries(time.Now()) {
		local[string(e.Kind)+":"+e.Key] = true
	}
	for k := range in {
		if !local[k] {
			t.Errorf("store entry %s missing from the verifier's set", k)
		}
	}
	for k := range local {
		if !in[k] {
			t.Errorf("verifier holds %s, which the store does not", k)
		}
	}
	r.mu.Lock()
	acked := append([]revocation.Entry(nil), r.acked...)
	r.mu.Unlock()
	missing := 0
	for _, e := range acked {
		if !in[string(e.Kind)+":"+e.Key] {
			missing++
			if missing <= 5 {
				t.Errorf("acknowledged revocation %s %s is not in the store", e.Kind, e.Key)
			}
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged revocations lost by the store", missing, len(acked))
	}
	ctx := t.Context()
	accepted := 0
	for _, e := range snap.Entries {
		if _, err := v.guard.Authenticate(ctx, r.signer.tokenFor(e)); !errors.Is(err, token.ErrRevoked) {
			accepted++
			if accepted <= 5 {
				t.Errorf("token for revoked %s %s: Authenticate = %v, want token.ErrRevoked", e.Kind, e.Key, err)
			}
		}
	}
	if accepted > 0 {
		t.Fatalf("%d of %d revoked tokens accepted", accepted, len(snap.Entries))
	}
	if _, err := v.guard.Authenticate(ctx, r.signer.token("live-jti", "live-sid", "live-sub", time.Now().Add(-time.Minute))); err != nil {
		t.Fatalf("token nobody revoked: Authenticate = %v, want accepted", err)
	}
	t.Logf("converged in %v: %d entries at seq %d, %d acknowledged, every one refused (checked in %v)",
		waited.Round(time.Millisecond), len(snap.Entries), snap.Seq, len(acked), (time.Since(start) - waited).Round(time.Millisecond))
	return snap
}

// watchedBus counts the (re)connections and losses a subscriber sees and can stall the
// subscriber once, at its first revocation, as a verifier starved of CPU would.
type watchedBus struct {
	ports.EventBus
	stall         time.Duration
	stalled       atomic.Bool
	connects      atomic.Int64
	disconnects   atomic.Int64
	revokedEvents atomic.Int64
}

func (b *watchedBus) Subscribe(ctx context.Context, h func(revocation.Event)) error {
	return b.EventBus.Subscribe(ctx, func(e revocation.Event) {
		switch e.Kind {
		case revocation.EventConnected:
			b.connects.Add(1)
		case revocation.EventDisconnected:
			b.disconnects.Add(1)
		case revocation.EventRevoked:
			b.revokedEvents.Add(1)
			if b.stall > 0 && b.stalled.CompareAndSwap(false, true) {
				time.Sleep(b.stall)
			}
		}
		h(e)
	})
}

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

// oneKey is a KeySet with one key.
type oneKey struct {
	kid string
	pub ed25519.PublicKey
}

func (k *oneKey) PublicKey(_ context.Context, kid string, _ bool) (ed25519.PublicKey, error) {
	if kid != k.kid {
		return nil, token.ErrUnknownKid
	}
	return k.pub, nil
}

func (k *oneKey) Refresh(context.Context, string) error { return nil }

func (k *oneKey) Distrust(string) {}

// signer mints access tokens as the auth service would.
type signer struct {
	priv ed25519.PrivateKey
	kid  string
}

func newSigner() signer {
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		panic(err)
	}
	return signer{priv: priv, kid: "test-key"}
}

func (s signer) pub() ed25519.PublicKey { return s.priv.Public().(ed25519.PublicKey) }

func (s signer) token(jti, sid, sub string, iat time.Time) string {
	enc := base64.RawURLEncoding.EncodeToString
	h, _ := json.Marshal(map[string]string{"alg": "EdDSA", "typ": "at+jwt", "kid": s.kid})
	c, _ := json.Marshal(map[string]any{
		"iss": issuer, "sub": sub, "aud": []string{audience}, "exp": time.Now().Add(10 * time.Minute).Unix(),
		"iat": iat.Unix(), "nbf": iat.Unix(), "jti": jti, "sid": sid, "client_id": "web", "scope": "orders:read",
	})
	in := enc(h) + "." + enc(c)
	return in + "." + enc(ed25519.Sign(s.priv, []byte(in)))
}

// tokenFor returns a token that e revokes (and nothing else does).
func (s signer) tokenFor(e revocation.Entry) string {
	iat := time.Now().Add(-time.Minute)
	switch e.Kind {
	case revocation.KindToken:
		return s.token(e.Key, "live-sid", "live-sub", iat)
	case revocation.KindSession:
		return s.token("live-jti", e.Key, "live-sub", iat)
	default:
		return s.token("live-jti", "live-sid", e.Key, e.NotBefore.Add(-2*time.Second))
	}
}

// recorder is a ports.Metrics that keeps the propagation delays and resynchronisations.
type recorder struct {
	ports.NopMetrics
	mu      sync.Mutex
	lags    []time.Duration
	resyncs map[string]int
}

func newRecorder() *recorder { return &recorder{resyncs: map[string]int{}} }

func (m *recorder) EventApplied(kind string, lag time.Duration) {
	if kind != string(revocation.EventRevoked) {
		return
	}
	m.mu.Lock()
	m.lags = append(m.lags, lag)
	m.mu.Unlock()
}

func (m *recorder) Resynced(reason string) {
	m.mu.Lock()
	m.resyncs[reason]++
	m.mu.Unlock()
}

func (m *recorder) resynced(reason string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.resyncs[reason]
}

// takeLags returns the delays recorded so far, sorted, and forgets them.
func (m *recorder) takeLags() []time.Duration {
	m.mu.Lock()
	l := m.lags
	m.lags = nil
	m.mu.Unlock()
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	return l
}
