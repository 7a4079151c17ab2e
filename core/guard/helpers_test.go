package guard

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate/core/key"
	"github.com/keygate/keygate/core/revocation"
	"github.com/keygate/keygate/core/token"
	"github.com/keygate/keygate/ports"
)

// Test doubles: a fake clock, counting metrics, a map KeySet that counts lookups, and a store
// and bus in memory with failure switches. Written here so these tests need no adapter.

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Unix(1_800_000_000, 0).UTC()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// wallClock is time.Now: inside a synctest bubble it is the bubble's fake time.
type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

type countingMetrics struct {
	mu       sync.Mutex
	verified map[string]int
	resynced map[string]int
	applied  map[string]int
	storeOps map[string]int
	entries  int
	stale    time.Duration // last staleness reported by Feed
	hits     int           // TokenCache(true)
	misses   int           // TokenCache(false)
}

func newMetrics() *countingMetrics {
	return &countingMetrics{verified: map[string]int{}, resynced: map[string]int{},
		applied: map[string]int{}, storeOps: map[string]int{}}
}

func (m *countingMetrics) TokenIssued()                            {}
func (m *countingMetrics) Login(string)                            {}
func (m *countingMetrics) SigningKey(_, _ time.Duration)           {}
func (m *countingMetrics) JWKSFetch(string, string, time.Duration) {}
func (m *countingMetrics) Feed(_ bool, stale time.Duration) {
	m.mu.Lock()
	m.stale = stale
	m.mu.Unlock()
}
func (m *countingMetrics) TokenCache(hit bool) {
	m.mu.Lock()
	if hit {
		m.hits++
	} else {
		m.misses++
	}
	m.mu.Unlock()
}
func (m *countingMetrics) Verified(r string, _ time.Duration) {
	m.mu.Lock()
	m.verified[r]++
	m.mu.Unlock()
}
func (m *countingMetrics) RevocationStoreOp(op string, _ time.Duration, err error) {
	m.mu.Lock()
	if err != nil {
		op += ":error"
	}
	m.storeOps[op]++
	m.mu.Unlock()
}
func (m *countingMetrics) EventApplied(kind string, _ time.Duration) {
	m.mu.Lock()
	m.applied[kind]++
	m.mu.Unlock()
}
func (m *countingMetrics) RevocationSet(n int) {
	m.mu.Lock()
	m.entries = n
	m.mu.Unlock()
}
func (m *countingMetrics) Resynced(reason string) {
	m.mu.Lock()
	m.resynced[reason]++
	m.mu.Unlock()
}
func (m *countingMetrics) resyncs(reason string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.resynced[reason]
}

// mapKeys is a KeySet over a fixed map that counts lookups and refreshes.
type mapKeys struct {
	keys       map[string]ed25519.PublicKey
	err        error // returned by every lookup when set
	lookups    atomic.Int64
	refreshes  atomic.Int64
	mayRefresh atomic.Int64

	gate       chan struct{} // when set, Refresh waits for it (a fetch that takes long)
	mu         sync.Mutex
	etags      []string // given to Refresh
	distrusted []string // given to Distrust
}

func (k *mapKeys) PublicKey(_ context.Context, kid string, mayRefresh bool) (ed25519.PublicKey, error) {
	k.lookups.Add(1)
	if mayRefresh {
		k.mayRefresh.Add(1)
	}
	if k.err != nil {
		return nil, k.err
	}
	pub, ok := k.keys[kid]
	if !ok {
		return nil, token.ErrUnknownKid
	}
	return pub, nil
}

func (k *mapKeys) Refresh(_ context.Context, etag string) error {
	k.refreshes.Add(1)
	k.mu.Lock()
	k.etags = append(k.etags, etag)
	k.mu.Unlock()
	if k.gate != nil {
		<-k.gate
	}
	return nil
}

func (k *mapKeys) Distrust(kid string) {
	k.mu.Lock()
	k.distrusted = append(k.distrusted, kid)
	k.mu.Unlock()
}

// told returns the ETags Refresh was given and the kids Distrust was given.
func (k *mapKeys) told() (etags, distrusted []string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.etags), slices.Clone(k.distrusted)
}

// signer makes tokens with any header and claims.
type signer struct {
	priv ed25519.PrivateKey
	kid  string
}

func newSigner(seed byte) signer {
	s := make([]byte, ed25519.SeedSize)
	for i := range s {
		s[i] = seed
	}
	priv := ed25519.NewKeyFromSeed(s)
	return signer{priv: priv, kid: key.Thumbprint(priv.Public().(ed25519.PublicKey))}
}

func (s signer) pub() ed25519.PublicKey { return s.priv.Public().(ed25519.PublicKey) }

func enc(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// signSegs signs the two encoded segments as they are.
func (s signer) signSegs(h, p string) string {
	sig := ed25519.Sign(s.priv, []byte(h+"."+p))
	return h + "." + p + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// sign signs header and claims JSON given as text.
func (s signer) sign(header, claims string) string { return s.signSegs(enc(header), enc(claims)) }

func (s signer) header() string {
	return fmt.Sprintf(`{"alg":"EdDSA","typ":"at+jwt","kid":%q}`, s.kid)
}

const (
	testIssuer = "https://auth.example.test"
	testAud    = "orders"
)

// claimsMap is a valid claim set at now, as a map to edit.
func claimsMap(now time.Time) map[string]any {
	return map[string]any{
		"iss": testIssuer, "sub": "u1", "aud": []string{testAud, "payments"},
		"exp": now.Add(10 * time.Minute).Unix(), "iat": now.Add(-time.Minute).Unix(),
		"nbf": now.Add(-time.Minute).Unix(), "jti": "t1", "sid": "s1",
		"client_id": "web", "scope": "orders:read", "roles": []string{"user"},
	}
}

func js(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// with returns claimsMap(now) changed by edits (a nil value deletes the claim).
func with(now time.Time, edits map[string]any) string {
	m := claimsMap(now)
	for k, v := range edits {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	return js(m)
}

// fixture is a guard over mapKeys with one key, a fake clock, and a feed that is not running
// but marked loaded.
type fixture struct {
	g        *Guard
	uncached *Guard // the same guard without a cache of verified tokens
	keys     *mapKeys
	clock    *fakeClock
	metrics  *countingMetrics
	feed     *Feed
	s        signer
}

func newFixture(t testing.TB, cfg Config) *fixture {
	t.Helper()
	s := newSigner(7)
	f := &fixture{keys: &mapKeys{keys: map[string]ed25519.PublicKey{s.kid: s.pub()}},
		clock: newClock(), metrics: newMetrics(), s: s}
	f.feed = NewFeed(newStore(f.clock), newBus(), f.keys, f.clock, f.metrics, FeedConfig{})
	if cfg.Issuer == "" {
		cfg.Issuer = testIssuer
	}
	if cfg.Audiences == nil {
		cfg.Audiences = []string{testAud}
	}
	g, err := New(f.keys, f.feed, f.clock, f.metrics, cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.g = g
	nocache := cfg
	nocache.CacheEntries = -1
	if f.uncached, err = New(f.keys, f.feed, f.clock, newMetrics(), nocache); err != nil {
		t.Fatal(err)
	}
	markLoaded(f.feed)
	return f
}

// markLoaded makes feed look as if its first snapshot had just loaded (an empty set), for
// tests of a guard whose feed does not run.
func markLoaded(feed *Feed) {
	feed.markCurrent(feed.clock.Now())
	feed.connected.Store(true)
	feed.syncedOnce.Do(func() { close(feed.syncedCh) })
}

// good returns a valid token at the fixture's time.
func (f *fixture) good() string { return f.s.sign(f.s.header(), with(f.clock.Now(), nil)) }

// memStore is a RevocationStore in memory that can be switched off.
type memStore struct {
	mu      sync.Mutex
	clock   ports.Clock
	entries map[string]revocation.Entry
	seq     uint64
	down    bool
	calls   atomic.Int64
	onSnap  func() // called during Snapshot, after the copy is taken
	log     []revocation.Event
	noLog   bool // Since answers ErrNotFound, as a trimmed replay log does
	since   atomic.Int64
}

func newStore(c ports.Clock) *memStore {
	return &memStore{clock: c, entries: map[string]revocation.Entry{}}
}

var errDown = fmt.Errorf("test store: %w", ports.ErrUnavailable)

func (s *memStore) setDown(d bool) { s.mu.Lock(); s.down = d; s.mu.Unlock() }

func (s *memStore) Revoke(_ context.Context, e revocation.Entry) (uint64, error) {
	if err := e.Validate(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return 0, errDown
	}
	k := string(e.Kind) + "/" + e.Key
	if old, ok := s.entries[k]; ok {
		e = revocation.Merge(old, e)
	}
	s.entries[k] = e
	s.seq++
	s.log = append(s.log, revocation.Event{Kind: revocation.EventRevoked, Entry: e, Seq: s.seq, PublishedAt: s.clock.Now()})
	return s.seq, nil
}

func (s *memStore) Since(_ context.Context, seq uint64, limit int) ([]revocation.Event, error) {
	s.since.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.down:
		return nil, errDown
	case s.noLog || seq > s.seq:
		return nil, ports.ErrNotFound
	}
	out := s.log[seq:]
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return append([]revocation.Event(nil), out...), nil
}

func (s *memStore) setNoLog(v bool) { s.mu.Lock(); s.noLog = v; s.mu.Unlock() }

func (s *memStore) Snapshot(context.Context) (revocation.Snapshot, error) {
	s.calls.Add(1)
	s.mu.Lock()
	if s.down {
		s.mu.Unlock()
		return revocation.Snapshot{}, errDown
	}
	now := s.clock.Now()
	var snap revocation.Snapshot
	for _, e := range s.entries {
		if now.Before(e.ExpiresAt) {
			snap.Entries = append(snap.Entries, e)
		}
	}
	snap.Seq = s.seq
	hook := s.onSnap
	s.onSnap = nil
	s.mu.Unlock()
	if hook != nil {
		hook()
	}
	return snap, nil
}

func (s *memStore) Seq(context.Context) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return 0, errDown
	}
	return s.seq, nil
}

// memBus is an EventBus in memory. It can drop published events (a lost pub/sub message),
// refuse subscriptions (down) and drop its subscribers (a disconnect).
type memBus struct {
	mu     sync.Mutex
	subs   map[int]chan revocation.Event
	next   int
	drop   int // drop the next drop published events
	down   bool
	kicked chan struct{}
}

func newBus() *memBus {
	return &memBus{subs: map[int]chan revocation.Event{}, kicked: make(chan struct{})}
}

func (b *memBus) Publish(_ context.Context, e revocation.Event) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.down {
		return ports.ErrUnavailable
	}
	if b.drop > 0 {
		b.drop--
		return nil
	}
	for _, ch := range b.subs {
		ch <- e
	}
	return nil
}

func (b *memBus) Subscribe(ctx context.Context, h func(revocation.Event)) error {
	b.mu.Lock()
	if b.down {
		b.mu.Unlock()
		return ports.ErrUnavailable
	}
	ch := make(chan revocation.Event, 1024)
	id := b.next
	b.next++
	b.subs[id] = ch
	kicked := b.kicked
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.subs, id)
		b.mu.Unlock()
	}()
	h(revocation.Event{Kind: revocation.EventConnected})
	for {
		select {
		case e := <-ch:
			h(e)
		case <-kicked:
			h(revocation.Event{Kind: revocation.EventDisconnected})
			return errors.New("test bus: connection lost")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// kick drops every subscriber; set down to keep them out.
func (b *memBus) kick(down bool) {
	b.mu.Lock()
	close(b.kicked)
	b.kicked = make(chan struct{})
	b.down = down
	b.mu.Unlock()
}

func (b *memBus) setDown(d bool) { b.mu.Lock(); b.down = d; b.mu.Unlock() }

func (b *memBus) dropNext(n int) { b.mu.Lock(); b.drop = n; b.mu.Unlock() }

// revoke stores e and publishes it, as the auth service does.
func revoke(t *testing.T, s *memStore, b *memBus, e revocation.Entry) uint64 {
	t.Helper()
	seq, err := s.Revoke(t.Context(), e)
	if err != nil {
		t.Fatal(err)
	}
	_ = b.Publish(t.Context(), revocation.Event{Kind: revocation.EventRevoked, Entry: e, Seq: seq, PublishedAt: s.clock.Now()})
	return seq
}
