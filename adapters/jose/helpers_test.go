package jose

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate/adapters/memory"
	"github.com/keygate/keygate/core/guard"
	"github.com/keygate/keygate/core/key"
	"github.com/keygate/keygate/core/token"
	"github.com/keygate/keygate/ports"
)

// countingMetrics records JWKS fetches; everything else is a no-op.
type countingMetrics struct {
	ports.NopMetrics
	mu      sync.Mutex
	fetches []string // "trigger/outcome"
}

func (m *countingMetrics) JWKSFetch(trigger, outcome string, _ time.Duration) {
	m.mu.Lock()
	m.fetches = append(m.fetches, trigger+"/"+outcome)
	m.mu.Unlock()
}

func (m *countingMetrics) list() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.fetches...)
}

var epoch = time.Unix(1_800_000_000, 0).UTC()

// newKey returns a ring key from a fixed seed.
func newKey(t testing.TB, seed byte) key.Key {
	t.Helper()
	s := make([]byte, ed25519.SeedSize)
	for i := range s {
		s[i] = seed
	}
	priv := ed25519.NewKeyFromSeed(s)
	pub := priv.Public().(ed25519.PublicKey)
	return key.Key{ID: key.Thumbprint(pub), Seq: int64(seed), Public: pub, Private: priv, CreatedAt: epoch, ActivatesAt: epoch}
}

const (
	testIssuer = "https://auth.example.test"
	testAud    = "orders"
)

func testClaims(now time.Time) token.Claims {
	return token.Claims{Issuer: testIssuer, Subject: "u1", Audience: []string{testAud}, ExpiresAt: now.Add(10 * time.Minute),
		IssuedAt: now, ID: "t1", SessionID: "s1", ClientID: "web", Scope: "orders:read", Roles: []string{"user"}}
}

// sign returns a token of k at now.
func sign(t testing.TB, k key.Key, now time.Time) string {
	t.Helper()
	s, err := NewTokenIssuer().Sign(k, testClaims(now))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// jwksServer serves a JWKS that tests change, and counts requests.
type jwksServer struct {
	*httptest.Server
	mu       sync.Mutex
	keys     []key.Key
	raw      []byte // served instead of keys when set
	status   int    // 0: 200
	header   http.Header
	etag     string
	inm      []string // If-None-Match values received
	cc       []string // Cache-Control values received
	requests atomic.Int64
	block    chan struct{} // when set, requests wait on it
}

func newJWKSServer(t *testing.T, keys ...key.Key) *jwksServer {
	t.Helper()
	s := &jwksServer{keys: keys, header: http.Header{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) serve(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	s.mu.Lock()
	block := s.block
	s.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-r.Context().Done():
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.URL.Path == DiscoveryPath {
		doc, _ := Discovery(s.URL)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(doc)
		return
	}
	s.inm = append(s.inm, r.Header.Get("If-None-Match"))
	s.cc = append(s.cc, r.Header.Get("Cache-Control"))
	for k, v := range s.header {
		w.Header()[k] = v
	}
	if s.status != 0 {
		w.WriteHeader(s.status)
		return
	}
	if s.etag != "" {
		w.Header().Set("ETag", s.etag)
		if r.Header.Get("If-None-Match") == s.etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	body := s.raw
	if body == nil {
		var err error
		if body, err = NewTokenIssuer().JWKS(s.keys); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/jwk-set+json")
	}
	_, _ = w.Write(body)
}

func (s *jwksServer) set(f func(s *jwksServer)) {
	s.mu.Lock()
	f(s)
	s.mu.Unlock()
}

// fixture is a RemoteKeySet over a jwksServer and a guard using it.
type fixture struct {
	srv     *jwksServer
	ks      *RemoteKeySet
	clock   *memory.FakeClock
	metrics *countingMetrics
	g       *guard.Guard
	feed    *guard.Feed
	bus     *memory.EventBus
}

func newFixture(t *testing.T, cfg Config, keys ...key.Key) *fixture {
	t.Helper()
	f := &fixture{srv: newJWKSServer(t, keys...), clock: memory.NewFakeClock(epoch), metrics: &countingMetrics{}}
	if cfg.PushInterval == 0 {
		cfg.PushInterval = time.Nanosecond // each test's Refresh fetches at once
	}
	if cfg.URL == "" && cfg.Issuer == "" {
		cfg.URL = f.srv.URL + JWKSPath
	}
	ks, closeKS, err := NewRemoteKeySet(f.srv.Client(), f.clock, f.metrics, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeKS)
	f.ks = ks
	f.bus = memory.NewEventBus(memory.EventBusConfig{})
	f.feed = guard.NewFeed(memory.NewRevocationStore(f.clock, f.bus), f.bus, ks, f.clock, f.metrics, guard.FeedConfig{})
	f.g, err = guard.New(ks, f.feed, f.clock, f.metrics, guard.Config{Issuer: testIssuer, Audiences: []string{testAud}})
	if err != nil {
		t.Fatal(err)
	}
	// The guard refuses every token until its revocation set is first loaded: load it once
	// (an empty set), then stop the feed so a test may run it again.
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f.feed.Run(ctx) }()
	err = f.feed.WaitSynced(t.Context())
	cancel()
	<-done
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
