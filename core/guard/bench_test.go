package guard

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gojose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	edwardsadapter "github.com/keygate/keygate/adapters/edwards25519"
	josead "github.com/keygate/keygate/adapters/jose"
	"github.com/keygate/keygate/core/key"
	"github.com/keygate/keygate/core/revocation"
)

// The verification benchmarks, in one file so one run compares them:
//
//	go test -run '^$' -bench . -count 6 ./core/guard/ | tee bench.txt && benchstat bench.txt
//
// Floor is ed25519.Verify alone; Miss is the whole Authenticate path over the real JWKS key
// set (adapters/jose.RemoteKeySet, loaded once) and a revocation set of 1,000,000 entries, for
// tokens not in the cache of verified tokens (1024 distinct tokens cycled through a cache of
// 64, so each is verified, admitted and later evicted), with the signature verifier the apps
// wire (adapters/edwards25519, the key kept decoded); MissStdlib is the same with
// crypto/ed25519.Verify (Config.Verifier nil: the key decompressed on every call); Hit is the same path for a token in
// the cache (revocation, claims, key and state still checked); Uncached is Miss's work on a
// guard without a cache (what the cache costs a miss: Miss/Uncached); Interleaved runs the floor, a
// miss, a hit and a stdlib miss in each iteration and reports miss/floor, hit/floor and
// missstd/floor; GoJose is go-jose's
// own path (jwt.ParseSigned, Claims with the key, Validate); Rejected is a malformed token
// refused before any key lookup, RejectedHeader a signed token refused for its jku header.

var benchOnce struct {
	sync.Once
	g    *Guard
	miss *Guard // a cache of 64 entries, cycled through by the 1024 tokens of toks
	std  *Guard // miss with crypto/ed25519.Verify
	none *Guard // no cache, for what the cache costs a miss
	toks []string
	s    signer
	tok  string
	stop func()
}

func benchGuard(b *testing.B) (*Guard, signer, string) {
	b.Helper()
	benchOnce.Do(func() {
		clock := newClock()
		s := newSigner(7)
		jwks, err := josead.NewTokenIssuer().JWKS([]key.Key{{ID: s.kid, Public: s.pub()}})
		if err != nil {
			panic(err)
		}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "max-age=300")
			_, _ = w.Write(jwks)
		}))
		ks, closeKS, err := josead.NewRemoteKeySet(srv.Client(), clock, newMetrics(), josead.Config{URL: srv.URL})
		if err != nil {
			panic(err)
		}
		if err := ks.Refresh(b.Context(), ""); err != nil {
			panic(err)
		}
		feed := NewFeed(newStore(clock), newBus(), ks, clock, newMetrics(), FeedConfig{})
		now := clock.Now()
		entries := make([]revocation.Entry, 0, 1_000_000)
		for i := range 1_000_000 {
			kind := []revocation.Kind{revocation.KindToken, revocation.KindSession, revocation.KindSubject}[i%3]
			entries = append(entries, revocation.Entry{Kind: kind, Key: fmt.Sprintf("k-%08d", i),
				NotBefore: now.Add(-time.Hour), ExpiresAt: now.Add(time.Hour)})
		}
		feed.set.Replace(entries, now)
		kept := edwardsadapter.NewVerifier()
		g, err := New(ks, feed, clock, newMetrics(), Config{Issuer: testIssuer, Audiences: []string{testAud}, Verifier: kept})
		if err != nil {
			panic(err)
		}
		miss, err := New(ks, feed, clock, newMetrics(), Config{Issuer: testIssuer, Audiences: []string{testAud}, CacheEntries: 64, Verifier: kept})
		if err != nil {
			panic(err)
		}
		std, err := New(ks, feed, clock, newMetrics(), Config{Issuer: testIssuer, Audiences: []string{testAud}, CacheEntries: 64})
		if err != nil {
			panic(err)
		}
		none, err := New(ks, feed, clock, newMetrics(), Config{Issuer: testIssuer, Audiences: []string{testAud}, CacheEntries: -1, Verifier: kept})
		if err != nil {
			panic(err)
		}
		benchOnce.std = std
		benchOnce.none = none
		markLoaded(feed)
		benchOnce.g, benchOnce.s, benchOnce.tok = g, s, s.sign(s.header(), with(now, nil))
		benchOnce.miss = miss
		for i := range 1024 {
			benchOnce.toks = append(benchOnce.toks, s.sign(s.header(), with(now, map[string]any{"jti": fmt.Sprintf("t-%04d", i)})))
		}
		benchOnce.stop = func() { closeKS(); srv.Close() }
	})
	return benchOnce.g, benchOnce.s, benchOnce.tok
}

func BenchmarkVerify(b *testing.B) {
	g, s, tok := benchGuard(b)
	if g.feed.set.Len() != 1_000_000 {
		b.Fatalf("revocation set has %d entries", g.feed.set.Len())
	}
	i := strings.LastIndexByte(tok, '.')
	input := []byte(tok[:i])
	sig, _ := base64.RawURLEncoding.DecodeString(tok[i+1:])
	pub := s.pub()

	b.Run("Floor", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !ed25519.Verify(pub, input, sig) {
				b.Fatal("verify failed")
			}
		}
	})
	miss, toks := benchOnce.miss, benchOnce.toks
	b.Run("Miss", func(b *testing.B) {
		b.ReportAllocs()
		ctx := b.Context()
		i := 0
		for b.Loop() {
			if _, err := miss.Authenticate(ctx, toks[i%len(toks)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("MissStdlib", func(b *testing.B) {
		b.ReportAllocs()
		ctx := b.Context()
		i := 0
		for b.Loop() {
			if _, err := benchOnce.std.Authenticate(ctx, toks[i%len(toks)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("Uncached", func(b *testing.B) {
		b.ReportAllocs()
		ctx := b.Context()
		i := 0
		for b.Loop() {
			if _, err := benchOnce.none.Authenticate(ctx, toks[i%len(toks)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("Hit", func(b *testing.B) {
		b.ReportAllocs()
		ctx := b.Context()
		if _, err := g.Authenticate(ctx, tok); err != nil { // admitted
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := g.Authenticate(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	// Interleaved runs the floor, a miss, a hit and a stdlib miss in every iteration and
	// reports the ratios of their median times: on a shared, loaded machine all four see the
	// same contention, and a median ignores the iterations a preemption lands in, so the
	// ratios are steadier than comparing separate runs.
	b.Run("Interleaved", func(b *testing.B) {
		ctx := b.Context()
		var floor, missed, hit, missedStd []time.Duration
		i := 0
		for b.Loop() {
			t0 := time.Now()
			if !ed25519.Verify(pub, input, sig) {
				b.Fatal("verify failed")
			}
			t1 := time.Now()
			if _, err := miss.Authenticate(ctx, toks[i%len(toks)]); err != nil {
				b.Fatal(err)
			}
			t2 := time.Now()
			if _, err := g.Authenticate(ctx, tok); err != nil {
				b.Fatal(err)
			}
			t3 := time.Now()
			if _, err := benchOnce.std.Authenticate(ctx, toks[(i+512)%len(toks)]); err != nil {
				b.Fatal(err)
			}
			t4 := time.Now()
			i++
			floor, missed = append(floor, t1.Sub(t0)), append(missed, t2.Sub(t1))
			hit, missedStd = append(hit, t3.Sub(t2)), append(missedStd, t4.Sub(t3))
		}
		f := median(floor)
		b.ReportMetric(median(missed)/f, "miss/floor")
		b.ReportMetric(median(hit)/f, "hit/floor")
		b.ReportMetric(median(missedStd)/f, "missstd/floor")
	})
	b.Run("GoJose", func(b *testing.B) {
		b.ReportAllocs()
		now := g.clock.Now()
		for b.Loop() {
			t, err := jwt.ParseSigned(tok, []gojose.SignatureAlgorithm{gojose.EdDSA})
			if err != nil {
				b.Fatal(err)
			}
			var std jwt.Claims
			var extra struct {
				ClientID string   `json:"client_id"`
				SID      string   `json:"sid"`
				Scope    string   `json:"scope"`
				Roles    []string `json:"roles"`
			}
			if err := t.Claims(pub, &std, &extra); err != nil {
				b.Fatal(err)
			}
			if err := std.ValidateWithLeeway(jwt.Expected{Issuer: testIssuer, AnyAudience: jwt.Audience{testAud}, Time: now}, DefaultLeeway); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Rejected", func(b *testing.B) {
		bad := tok[:len(tok)-1] + "B" // non-canonical last character of the signature
		b.ReportAllocs()
		ctx := b.Context()
		for b.Loop() {
			if _, err := g.Authenticate(ctx, bad); err == nil {
				b.Fatal("accepted")
			}
		}
	})
	b.Run("RejectedHeader", func(b *testing.B) {
		bad := s.sign(hdr(&fixture{s: s}, `,"jku":"https://evil.example/jwks.json"`), with(g.clock.Now(), nil))
		b.ReportAllocs()
		ctx := b.Context()
		for b.Loop() {
			if _, err := g.Authenticate(ctx, bad); err == nil {
				b.Fatal("accepted")
			}
		}
	})
}

// median returns the median of ds in nanoseconds.
func median(ds []time.Duration) float64 {
	slices.Sort(ds)
	return float64(ds[len(ds)/2])
}
