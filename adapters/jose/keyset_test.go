package jose

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate/core/key"
	"github.com/keygate/keygate/core/revocation"
	"github.com/keygate/keygate/core/token"
)

// load fetches the JWKS once and fails the test if that does not work.
func (f *fixture) load(t *testing.T) {
	t.Helper()
	if err := f.ks.Refresh(t.Context(), ""); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	f.clock.Advance(2 * time.Second) // past the push interval, so the next Refresh does not wait
}

func (f *fixture) auth(t *testing.T, tok string) error {
	t.Helper()
	_, err := f.g.Authenticate(t.Context(), tok)
	return err
}

// eventually polls cond in real time for up to 5s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestKeyRotationPrePublishedKeyNeedsNoFetch(t *testing.T) {
	active, next := newKey(t, 1), newKey(t, 2)
	f := newFixture(t, Config{}, active, next)
	f.load(t)
	if err := f.auth(t, sign(t, next, epoch)); err != nil {
		t.Fatalf("token of the pre-published key: %v", err)
	}
	if err := f.auth(t, sign(t, active, epoch)); err != nil {
		t.Fatalf("token of the active key: %v", err)
	}
	if got := f.srv.requests.Load(); got != 1 {
		t.Errorf("%d JWKS requests, want 1 (no forced fetch)", got)
	}
}

func TestUnpublishedKidCausesOneFetchThenSucceeds(t *testing.T) {
	old, rotated := newKey(t, 1), newKey(t, 2)
	f := newFixture(t, Config{}, old)
	f.load(t)
	f.srv.set(func(s *jwksServer) { s.keys = []key.Key{old, rotated} })
	for i := range 3 {
		if err := f.auth(t, sign(t, rotated, epoch)); err != nil {
			t.Fatalf("token %d of the newly published key: %v", i, err)
		}
	}
	if got := f.srv.requests.Load(); got != 2 {
		t.Errorf("%d JWKS requests, want 2 (the load and one forced fetch)", got)
	}
	if got := f.metrics.list(); !slices.Contains(got, "unknown_kid/200") {
		t.Errorf("fetches %v, want an unknown_kid/200", got)
	}
}

func TestRemovedKeyRejectedAfterNextRefresh(t *testing.T) {
	retired, active := newKey(t, 1), newKey(t, 2)
	f := newFixture(t, Config{}, retired, active)
	f.load(t)
	tok := sign(t, retired, epoch)
	if err := f.auth(t, tok); err != nil {
		t.Fatal(err)
	}
	f.srv.set(func(s *jwksServer) { s.keys = []key.Key{active} })
	if err := f.auth(t, tok); err != nil {
		t.Fatalf("before the refresh the cached key still verifies: %v", err)
	}
	if err := f.ks.Refresh(t.Context(), ""); err != nil {
		t.Fatal(err)
	}
	if err := f.auth(t, tok); !errors.Is(err, token.ErrUnknownKid) {
		t.Errorf("token of a removed key: %v, want ErrUnknownKid", err)
	}
}

func TestKidFloodFetchesAtMostOncePerCooldown(t *testing.T) {
	k := newKey(t, 1)
	f := newFixture(t, Config{}, k)
	f.load(t)
	flood := func(n int, seed byte) {
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				priv := ed25519.NewKeyFromSeed(append([]byte{seed, byte(i), byte(i >> 8)}, make([]byte, 29)...))
				pub := priv.Public().(ed25519.PublicKey)
				tok := sign(t, key.Key{ID: key.Thumbprint(pub), Public: pub, Private: priv}, epoch)
				if err := f.auth(t, tok); !errors.Is(err, token.ErrUnknownKid) {
					t.Errorf("random kid: %v, want ErrUnknownKid", err)
				}
			})
		}
		wg.Wait()
	}
	flood(500, 1)
	if got := f.srv.requests.Load(); got != 2 {
		t.Errorf("%d JWKS requests after 500 random kids, want 2 (the load and one forced fetch)", got)
	}
	f.clock.Advance(10 * time.Second)
	flood(100, 2)
	if got := f.srv.requests.Load(); got != 2 {
		t.Errorf("%d JWKS requests within the cooldown, want still 2", got)
	}
	f.clock.Advance(30 * time.Second)
	flood(100, 3)
	if got := f.srv.requests.Load(); got != 3 {
		t.Errorf("%d JWKS requests after the cooldown, want 3", got)
	}
	if err := f.auth(t, sign(t, k, epoch)); err != nil {
		t.Errorf("a real token during the flood: %v", err)
	}
}

func TestJWKSDownAtStartRecoversWithoutRestart(t *testing.T) {
	k := newKey(t, 1)
	f := newFixture(t, Config{RetryMin: 5 * time.Millisecond, RetryMax: 20 * time.Millisecond}, k)
	f.srv.set(func(s *jwksServer) { s.status = http.StatusServiceUnavailable })
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f.ks.Run(ctx) }()
	eventually(t, "a failed fetch", func() bool { return f.ks.Status().LastOutcome == outcomeHTTPError })
	err := f.auth(t, sign(t, k, epoch))
	if !errors.Is(err, token.ErrKeysUnavailable) || !token.Unavailable(err) {
		t.Errorf("with no keys ever loaded: %v, want ErrKeysUnavailable (503)", err)
	}
	if f.ks.Ready() {
		t.Error("Ready with no keys")
	}
	f.srv.set(func(s *jwksServer) { s.status = 0 })
	eventually(t, "the key set to recover", f.ks.Ready)
	if err := f.auth(t, sign(t, k, epoch)); err != nil {
		t.Errorf("after recovery: %v", err)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run: %v, want context.Canceled", err)
	}
}

func TestStaleKeysServedUntilTheBound(t *testing.T) {
	tests := []struct {
		name  string
		cache string
		bound time.Duration // interval + stale-if-error
	}{
		{"default stale-if-error (24h)", "max-age=300", 5*time.Minute + 24*time.Hour},
		{"stale-if-error from the response", "max-age=60, stale-if-error=600", 60*time.Second + 600*time.Second},
		{"stale-if-error capped by the configuration", "max-age=60, stale-if-error=9999999", 60*time.Second + 24*time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newKey(t, 1)
			f := newFixture(t, Config{}, k)
			f.srv.header.Set("Cache-Control", tt.cache)
			if err := f.ks.Refresh(t.Context(), ""); err != nil {
				t.Fatal(err)
			}
			f.srv.set(func(s *jwksServer) { s.status = http.StatusBadGateway })
			f.clock.Advance(tt.bound - time.Second)
			if err := f.auth(t, sign(t, k, f.clock.Now())); err != nil {
				t.Errorf("a second before the bound: %v", err)
			}
			f.clock.Advance(2 * time.Second)
			if err := f.auth(t, sign(t, k, f.clock.Now())); !errors.Is(err, token.ErrKeysUnavailable) {
				t.Errorf("past the bound: %v, want ErrKeysUnavailable", err)
			}
			if f.ks.Ready() {
				t.Error("Ready past the stale bound")
			}
		})
	}
}

func TestNotModifiedRenewsFreshness(t *testing.T) {
	k := newKey(t, 1)
	f := newFixture(t, Config{}, k)
	f.srv.set(func(s *jwksServer) { s.etag = `"v1"`; s.header.Set("Cache-Control", "max-age=300") })
	f.load(t)
	f.clock.Advance(20 * time.Hour)
	// An unknown-kid fetch revalidates (a key-change push never does: see
	// TestRefreshSeesPastAnIssuerNotYetReloaded).
	_, _ = f.ks.PublicKey(t.Context(), "not-yet-known", true)
	f.srv.mu.Lock()
	inm := slices.Clone(f.srv.inm)
	f.srv.mu.Unlock()
	if want := []string{"", `"v1"`}; !slices.Equal(inm, want) {
		t.Errorf("If-None-Match sent %q, want %q", inm, want)
	}
	if st := f.ks.Status(); st.Age != 0 || st.LastOutcome != outcome304 || st.Keys != 1 {
		t.Errorf("after a 304: %+v, want age 0, outcome 304, 1 key", st)
	}
	f.srv.set(func(s *jwksServer) { s.status = 500 })
	f.clock.Advance(10 * time.Hour) // 30h after the 200, 10h after the 304
	if err := f.auth(t, sign(t, k, f.clock.Now())); err != nil {
		t.Errorf("keys renewed by the 304: %v", err)
	}
}

func TestCacheHeaders(t *testing.T) {
	ks, closeKS, err := NewRemoteKeySet(nil, &fakeNow{epoch}, &countingMetrics{}, Config{URL: "https://jwks.example"})
	if err != nil {
		t.Fatal(err)
	}
	defer closeKS()
	tests := []struct {
		name     string
		header   http.Header
		interval time.Duration
		stale    time.Duration // staleAfter - fetchedAt
	}{
		{"max-age 0 is the floor", http.Header{"Cache-Control": {"max-age=0"}}, 30 * time.Second, 30*time.Second + 24*time.Hour},
		{"max-age 10 is the floor", http.Header{"Cache-Control": {"public, max-age=10"}}, 30 * time.Second, 30*time.Second + 24*time.Hour},
		{"max-age 300", http.Header{"Cache-Control": {"max-age=300"}}, 5 * time.Minute, 5*time.Minute + 24*time.Hour},
		{"max-age a day is the ceiling", http.Header{"Cache-Control": {"max-age=86400"}}, time.Hour, time.Hour + 24*time.Hour},
		{"no-store is the floor", http.Header{"Cache-Control": {"no-store"}}, 30 * time.Second, 30*time.Second + 24*time.Hour},
		{"no headers: 5 minutes", http.Header{}, 5 * time.Minute, 5*time.Minute + 24*time.Hour},
		{"Expires minus Date", http.Header{"Date": {"Mon, 02 Jan 2006 15:04:05 GMT"}, "Expires": {"Mon, 02 Jan 2006 15:14:05 GMT"}}, 10 * time.Minute, 10*time.Minute + 24*time.Hour},
		{"stale-if-error", http.Header{"Cache-Control": {"max-age=60, stale-if-error=120"}}, time.Minute, 3 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s snapshot
			ks.fresh(&s, tt.header, epoch)
			if s.interval != tt.interval || s.staleAfter.Sub(epoch) != tt.stale {
				t.Errorf("interval %v, stale after %v; want %v, %v", s.interval, s.staleAfter.Sub(epoch), tt.interval, tt.stale)
			}
		})
	}
}

type fakeNow struct{ t time.Time }

func (c *fakeNow) Now() time.Time { return c.t }

func TestFetchRefusals(t *testing.T) {
	huge := []byte(`{"keys":[` + strings.Repeat(" ", 64<<10) + `]}`)
	tests := []struct {
		name    string
		setup   func(s *jwksServer, other *httptest.Server)
		outcome string
	}{
		{"redirect not followed", func(s *jwksServer, other *httptest.Server) {
			s.status = http.StatusFound
			s.header.Set("Location", other.URL)
		}, outcomeHTTPError},
		{"server error", func(s *jwksServer, _ *httptest.Server) { s.status = 500 }, outcomeHTTPError},
		{"body over 64 KiB", func(s *jwksServer, _ *httptest.Server) { s.raw = huge }, outcomeTooLarge},
		{"HTML content type", func(s *jwksServer, _ *httptest.Server) { s.header.Set("Content-Type", "text/html") }, outcomeParseError},
		{"not JSON", func(s *jwksServer, _ *httptest.Server) { s.raw = []byte("<html>") }, outcomeParseError},
		{"duplicate kid", func(s *jwksServer, _ *httptest.Server) {
			s.keys = append(s.keys, s.keys[0])
			s.raw = dupKidDoc(s.keys[0])
		}, outcomeDupKid},
		{"no usable key", func(s *jwksServer, _ *httptest.Server) { s.raw = []byte(`{"keys":[{"kty":"oct","k":"AA","kid":"x"}]}`) }, outcomeEmpty},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newKey(t, 1)
			f := newFixture(t, Config{}, k)
			f.load(t) // a good set first: every refusal must keep it
			var hits int
			other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits++ }))
			defer other.Close()
			f.srv.set(func(s *jwksServer) { tt.setup(s, other) })
			var fe *fetchError
			if err := f.ks.Refresh(t.Context(), ""); !errors.As(err, &fe) || fe.outcome != tt.outcome {
				t.Fatalf("Refresh: %v, want a %s refusal", err, tt.outcome)
			}
			if hits != 0 {
				t.Error("redirect followed")
			}
			if err := f.auth(t, sign(t, k, epoch)); err != nil {
				t.Errorf("last good keys lost after a refused fetch: %v", err)
			}
			if got := f.metrics.list(); got[len(got)-1] != "push/"+tt.outcome {
				t.Errorf("fetch metrics %v, want a push/%s last", got, tt.outcome)
			}
		})
	}
}

func dupKidDoc(k key.Key) []byte {
	j := fmt.Sprintf(`{"kty":"OKP","crv":"Ed25519","x":%q,"kid":%q,"alg":"EdDSA"}`, b64(k.Public), k.ID)
	return []byte(`{"keys":[` + j + "," + j + `]}`)
}

func TestHungServerTimesOut(t *testing.T) {
	k := newKey(t, 1)
	f := newFixture(t, Config{Timeout: 100 * time.Millisecond, MaxWait: 20 * time.Millisecond}, k)
	release := make(chan struct{})
	defer close(release)
	f.srv.set(func(s *jwksServer) { s.block = release })

	// A lookup waits for the fetch at most MaxWait, then answers while the fetch still hangs.
	_, err := f.ks.PublicKey(t.Context(), k.ID, true)
	if !errors.Is(err, token.ErrKeysUnavailable) {
		t.Errorf("PublicKey during a hung fetch: %v, want ErrKeysUnavailable", err)
	}
	eventually(t, "the hung fetch to time out", func() bool { return f.ks.Status().LastOutcome == outcomeTimeout })
}

func TestDiscoveryFromIssuer(t *testing.T) {
	k := newKey(t, 1)
	f := &fixture{srv: newJWKSServer(t, k), metrics: &countingMetrics{}}
	ks, closeKS, err := NewRemoteKeySet(f.srv.Client(), &fakeNow{epoch}, f.metrics, Config{Issuer: f.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer closeKS()
	if err := ks.Refresh(t.Context(), ""); err != nil {
		t.Fatal(err)
	}
	if st := ks.Status(); st.URL != f.srv.URL+JWKSPath || st.Keys != 1 {
		t.Errorf("status %+v, want the discovered URL and 1 key", st)
	}
	if _, _, err := NewRemoteKeySet(nil, &fakeNow{epoch}, f.metrics, Config{}); err == nil {
		t.Error("a key set with neither URL nor issuer")
	}
}

// TestLowOrderKeyCannotVerifyForgery (B-41): a JWKS that lists a small-order key next to ours
// does not let a token "signed" with R = identity, S = 0 through.
func TestLowOrderKeyCannotVerifyForgery(t *testing.T) {
	k := newKey(t, 1)
	f := newFixture(t, Config{}, k)
	identity := append([]byte{1}, make([]byte, 31)...)
	f.srv.set(func(s *jwksServer) {
		s.raw = []byte(fmt.Sprintf(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":%q,"kid":%q,"alg":"EdDSA"},{"kty":"OKP","crv":"Ed25519","x":%q,"kid":"low","alg":"EdDSA"}]}`,
			b64(k.Public), k.ID, b64(identity)))
	})
	f.load(t)
	tok := sign(t, k, epoch)
	parts := strings.Split(tok, ".")
	forgedSig := append(append([]byte(nil), identity...), make([]byte, 32)...)
	hdr := b64([]byte(`{"alg":"EdDSA","typ":"at+jwt","kid":"low"}`))
	forged := hdr + "." + parts[1] + "." + b64(forgedSig)
	if !ed25519.Verify(identity, []byte(hdr+"."+parts[1]), forgedSig) {
		t.Fatal("the forgery does not work against a raw low-order key: the test proves nothing")
	}
	if err := f.auth(t, forged); !errors.Is(err, token.ErrUnknownKid) {
		t.Errorf("forged token: %v, want ErrUnknownKid", err)
	}
	if st := f.ks.Status(); st.Skipped != 1 {
		t.Errorf("skipped %d keys, want 1", st.Skipped)
	}
}

// TestKeysChangedEventRefreshesKeySet: a key-change event on the bus makes the feed call
// Refresh, so a verifier sees a rotation at once instead of after max-age.
func TestKeysChangedEventRefreshesKeySet(t *testing.T) {
	old, rotated := newKey(t, 1), newKey(t, 2)
	f := newFixture(t, Config{}, old)
	f.srv.header.Set("Cache-Control", "max-age=3600")
	runCtx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { _ = f.ks.Run(runCtx) })
	wg.Go(func() { _ = f.feed.Run(runCtx) })
	// Connected, not Ready: Ready stays true from newFixture's load, before this Run has
	// subscribed, and an event published then reaches no one.
	eventually(t, "keys ready and feed subscribed", func() bool { return f.ks.Ready() && f.feed.Status().Connected })

	f.srv.set(func(s *jwksServer) { s.keys = []key.Key{old, rotated} })
	if _, err := f.ks.PublicKey(t.Context(), rotated.ID, false); !errors.Is(err, token.ErrUnknownKid) {
		t.Fatalf("rotated key known before the event: %v", err)
	}
	f.clock.Advance(2 * time.Second)
	if err := f.bus.Publish(t.Context(), revocation.Event{Kind: revocation.EventKeysChanged, PublishedAt: f.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the rotated key", func() bool {
		_, err := f.ks.PublicKey(t.Context(), rotated.ID, false)
		return err == nil
	})
	if got := f.metrics.list(); !slices.Contains(got, "push/200") {
		t.Errorf("fetches %v, want a push/200", got)
	}
}

func TestCloseEndsRun(t *testing.T) {
	f := newFixture(t, Config{}, newKey(t, 1))
	done := make(chan error, 1)
	go func() { done <- f.ks.Run(context.Background()) }()
	eventually(t, "the first fetch", f.ks.Ready)
	f.ks.Close()
	if err := <-done; err != nil {
		t.Errorf("Run after Close: %v, want nil", err)
	}
}

func TestNegativeCacheSparesRepeatedUnknownKid(t *testing.T) {
	k := newKey(t, 1)
	f := newFixture(t, Config{}, k)
	f.load(t)
	stranger := func(seed byte) string { return sign(t, newKey(t, seed), epoch) }
	if err := f.auth(t, stranger(50)); !errors.Is(err, token.ErrUnknownKid) {
		t.Fatal(err)
	}
	f.clock.Advance(31 * time.Second) // past the cooldown
	if err := f.auth(t, stranger(50)); !errors.Is(err, token.ErrUnknownKid) {
		t.Fatal(err)
	}
	if got := f.srv.requests.Load(); got != 2 {
		t.Errorf("%d requests, want 2: a kid a fetch showed absent must not fetch again", got)
	}
	if err := f.auth(t, stranger(51)); !errors.Is(err, token.ErrUnknownKid) {
		t.Fatal(err)
	}
	if got := f.srv.requests.Load(); got != 3 {
		t.Errorf("%d requests, want 3: a new kid after the cooldown fetches once", got)
	}
}

func TestRefreshBurstCostsOneDeferredFetch(t *testing.T) {
	old, rotated := newKey(t, 1), newKey(t, 2)
	f := newFixture(t, Config{PushInterval: time.Second}, old)
	if err := f.ks.Refresh(t.Context(), ""); err != nil {
		t.Fatal(err)
	}
	f.srv.set(func(s *jwksServer) { s.keys = []key.Key{old, rotated} })
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if err := f.ks.Refresh(t.Context(), ""); err != nil {
				t.Errorf("Refresh: %v", err)
			}
		})
	}
	wg.Wait()
	eventually(t, "the deferred fetch", func() bool {
		_, err := f.ks.PublicKey(t.Context(), rotated.ID, false)
		return err == nil
	})
	time.Sleep(100 * time.Millisecond)
	if got := f.srv.requests.Load(); got != 2 {
		t.Errorf("%d fetches for 21 Refresh calls within a second, want 2 (the first and one deferred)", got)
	}
}

// TestRefreshSeesPastAnIssuerNotYetReloaded: after a key-change event, the issuer replica
// answering may not have reloaded its keys yet. The push refetch never revalidates (no
// If-None-Match, so no 304 for the old copy) and looks again, briefly, while the document is
// unchanged: a withdrawn key is gone when Refresh returns.
func TestRefreshSeesPastAnIssuerNotYetReloaded(t *testing.T) {
	kept, withdrawn := newKey(t, 1), newKey(t, 2)
	f := newFixture(t, Config{}, kept, withdrawn)
	f.srv.set(func(s *jwksServer) { s.etag = `"v1"` })
	if err := f.ks.Refresh(t.Context(), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ks.PublicKey(t.Context(), withdrawn.ID, false); err != nil {
		t.Fatalf("before the withdrawal: %v", err)
	}
	before := f.srv.requests.Load()
	f.srv.set(func(s *jwksServer) { s.inm = nil })
	// The issuer reloads 40ms after the event.
	time.AfterFunc(40*time.Millisecond, func() {
		f.srv.set(func(s *jwksServer) { s.keys, s.etag = []key.Key{kept}, `"v2"` })
	})
	if err := f.ks.Refresh(t.Context(), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ks.PublicKey(t.Context(), withdrawn.ID, false); err == nil {
		t.Error("the withdrawn key is still served after Refresh returned")
	}
	if _, err := f.ks.PublicKey(t.Context(), kept.ID, false); err != nil {
		t.Errorf("the kept key: %v", err)
	}
	f.srv.mu.Lock()
	inm := slices.Clone(f.srv.inm)
	f.srv.mu.Unlock()
	if n := f.srv.requests.Load() - before; n < 2 {
		t.Errorf("%d fetches after the event, want the unchanged answer fetched again", n)
	}
	for i, v := range inm {
		if v != "" {
			t.Errorf("fetch %d after the event sent If-None-Match %q: it could get a 304 for the old keys", i, v)
		}
	}
}

// TestRefreshChasesTheDocumentTheEventNames: a key-change event names the ETag of the new
// document. The issuer replica answering first has not reloaded (it serves the old keys, with
// the withdrawn one); Refresh asks again, past any cache, until it is served the named
// document, and returns holding it. A second Refresh naming the held document fetches nothing.
func TestRefreshChasesTheDocumentTheEventNames(t *testing.T) {
	kept, withdrawn := newKey(t, 1), newKey(t, 2)
	f := newFixture(t, Config{}, kept, withdrawn)
	f.srv.set(func(s *jwksServer) { s.etag = `"v1"` })
	if err := f.ks.Refresh(t.Context(), ""); err != nil {
		t.Fatal(err)
	}
	f.srv.set(func(s *jwksServer) { s.inm, s.cc = nil, nil })
	before := f.srv.requests.Load()
	time.AfterFunc(30*time.Millisecond, func() {
		f.srv.set(func(s *jwksServer) { s.keys, s.etag = []key.Key{kept}, `"v2"` })
	})
	if err := f.ks.Refresh(t.Context(), `"v2"`); err != nil {
		t.Fatal(err)
	}
	if !f.ks.holds(`"v2"`) {
		t.Fatalf("Refresh returned holding %q, want the named document", f.ks.snap.Load().etag)
	}
	if _, err := f.ks.PublicKey(t.Context(), withdrawn.ID, false); !errors.Is(err, token.ErrUnknownKid) {
		t.Errorf("withdrawn key after Refresh: %v, want ErrUnknownKid", err)
	}
	if _, err := f.ks.PublicKey(t.Context(), kept.ID, false); err != nil {
		t.Errorf("kept key: %v", err)
	}
	n := f.srv.requests.Load() - before
	if n < 2 {
		t.Errorf("%d fetches, want the old document fetched and then the named one", n)
	}
	f.srv.mu.Lock()
	inm, cc := slices.Clone(f.srv.inm), slices.Clone(f.srv.cc)
	f.srv.mu.Unlock()
	for i := range inm {
		if inm[i] != "" || cc[i] != "no-cache" {
			t.Errorf("chase fetch %d: If-None-Match %q, Cache-Control %q; want none and no-cache", i, inm[i], cc[i])
		}
	}
	if err := f.ks.Refresh(t.Context(), `"v2"`); err != nil {
		t.Fatal(err)
	}
	if got := f.srv.requests.Load() - before; got != n {
		t.Errorf("Refresh naming the held document fetched %d times", got-n)
	}
}

// TestRefreshLooksPastAStaleReplica: behind a round-robin balancer
// one replica has reloaded and one has not. While the chase has not reached the named
// document it keeps the keys it held (the stale replica's document is no better), and it ends
// on the named one whichever replica answers first.
func TestRefreshLooksPastAStaleReplica(t *testing.T) {
	old, rotated := newKey(t, 1), newKey(t, 2)
	stale, fresh := newJWKSServer(t, old), newJWKSServer(t, old, rotated)
	stale.etag, fresh.etag = `"old"`, `"new"`
	var n atomic.Int64
	lb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The stale replica answers the first three, then every other one.
		s := stale
		if i := n.Add(1); i > 3 && i%2 == 0 {
			s = fresh
		}
		s.serve(w, r)
	}))
	t.Cleanup(lb.Close)
	f := newFixture(t, Config{URL: lb.URL + JWKSPath})
	if err := f.ks.Refresh(t.Context(), `"new"`); err != nil {
		t.Fatal(err)
	}
	if !f.ks.holds(`"new"`) {
		t.Fatalf("holding %q, want the named document", f.ks.snap.Load().etag)
	}
	if _, err := f.ks.PublicKey(t.Context(), rotated.ID, false); err != nil {
		t.Errorf("rotated key: %v", err)
	}
	if got := n.Load(); got < 4 {
		t.Errorf("%d fetches, want the stale answers looked past", got)
	}
}

// TestRefreshGivesUpOnADocumentNeverServed: an event overtaken by a later change names a
// document no replica serves any more: the chase is bounded and installs what is served.
func TestRefreshGivesUpOnADocumentNeverServed(t *testing.T) {
	old, rotated := newKey(t, 1), newKey(t, 2)
	f := newFixture(t, Config{PushRetries: 3}, old, rotated)
	f.srv.set(func(s *jwksServer) { s.etag = `"latest"` })
	if err := f.ks.Refresh(t.Context(), `"overtaken"`); err != nil {
		t.Fatal(err)
	}
	if got := f.srv.requests.Load(); got != 4 {
		t.Errorf("%d fetches, want 4 (one and PushRetries more)", got)
	}
	if !f.ks.holds(`"latest"`) {
		t.Errorf("holding %q after giving up, want the served document", f.ks.snap.Load().etag)
	}
	if _, err := f.ks.PublicKey(t.Context(), rotated.ID, false); err != nil {
		t.Errorf("rotated key: %v", err)
	}
}

// TestRefreshFollowsALaterEventDuringAChase: a Refresh naming a newer document while one
// chases an older moves the goal; both return holding the newer. A proxy that weakens the
// ETag (gzip) does not hide the match.
func TestRefreshFollowsALaterEventDuringAChase(t *testing.T) {
	k1, k2, k3 := newKey(t, 1), newKey(t, 2), newKey(t, 3)
	f := newFixture(t, Config{}, k1)
	f.srv.set(func(s *jwksServer) { s.etag = `W/"v1"` })
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := f.ks.Refresh(t.Context(), `"v2"`); err != nil {
			t.Errorf("Refresh v2: %v", err)
		}
	})
	time.Sleep(20 * time.Millisecond)
	wg.Go(func() {
		if err := f.ks.Refresh(t.Context(), `"v3"`); err != nil {
			t.Errorf("Refresh v3: %v", err)
		}
	})
	time.Sleep(20 * time.Millisecond)
	f.srv.set(func(s *jwksServer) { s.keys, s.etag = []key.Key{k1, k2, k3}, `W/"v3"` })
	wg.Wait()
	if !f.ks.holds(`"v3"`) {
		t.Fatalf("holding %q, want v3", f.ks.snap.Load().etag)
	}
	if _, err := f.ks.PublicKey(t.Context(), k3.ID, false); err != nil {
		t.Errorf("k3: %v", err)
	}
}

// TestDistrustBeatsAFetchInFlight: a kid distrusted while a fetch of a document that still
// lists it is in flight stays refused when that fetch lands.
func TestDistrustBeatsAFetchInFlight(t *testing.T) {
	kept, withdrawn := newKey(t, 1), newKey(t, 2)
	f := newFixture(t, Config{}, kept, withdrawn)
	if err := f.ks.Refresh(t.Context(), ""); err != nil {
		t.Fatal(err)
	}
	block := make(chan struct{})
	f.srv.set(func(s *jwksServer) { s.block = block })
	done := make(chan error, 1)
	go func() { done <- f.ks.Refresh(t.Context(), `"never"`) }()
	eventually(t, "the fetch to start", func() bool { return f.srv.requests.Load() >= 2 })
	f.ks.Distrust(withdrawn.ID)
	if _, err := f.ks.PublicKey(t.Context(), withdrawn.ID, false); !errors.Is(err, token.ErrUnknownKid) {
		t.Errorf("distrusted kid while a fetch is in flight: %v", err)
	}
	f.srv.set(func(s *jwksServer) { s.block = nil })
	close(block)
	<-done
	if _, err := f.ks.PublicKey(t.Context(), withdrawn.ID, true); !errors.Is(err, token.ErrUnknownKid) {
		t.Errorf("distrusted kid after the fetch landed: %v", err)
	}
	if _, err := f.ks.PublicKey(t.Context(), kept.ID, false); err != nil {
		t.Errorf("kept key: %v", err)
	}
}
