package guard

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keygate/keygate/core/revocation"
	"github.com/keygate/keygate/core/token"
)

// TestCacheHitIsNeverStalerThanAMiss verifies a token once (admitting it to the cache), then
// changes what the verifier knows, and checks that the cached token gets exactly the answer a
// guard without a cache gives: the revocation set, exp/nbf/iat with leeway, the fail-closed
// state and the key's withdrawal are checked on every hit.
func TestCacheHitIsNeverStalerThanAMiss(t *testing.T) {
	tests := []struct {
		name   string
		claims map[string]any
		change func(f *fixture)
		want   error
	}{
		{name: "nothing changed", change: func(*fixture) {}},
		{name: "token revoked", want: token.ErrRevoked, change: func(f *fixture) {
			f.feed.set.Apply(revocation.Entry{Kind: revocation.KindToken, Key: "t1", ExpiresAt: f.clock.Now().Add(time.Hour)})
		}},
		{name: "session revoked", want: token.ErrRevoked, change: func(f *fixture) {
			f.feed.set.Apply(revocation.Entry{Kind: revocation.KindSession, Key: "s1", ExpiresAt: f.clock.Now().Add(time.Hour)})
		}},
		{name: "user's tokens revoked", want: token.ErrRevoked, change: func(f *fixture) {
			f.feed.set.Apply(revocation.Entry{Kind: revocation.KindSubject, Key: "u1", NotBefore: f.clock.Now(), ExpiresAt: f.clock.Now().Add(time.Hour)})
		}},
		{name: "past exp, within the leeway", change: func(f *fixture) { f.clock.Add(10*time.Minute + DefaultLeeway/2) }},
		{name: "past exp and the leeway", want: token.ErrExpired, change: func(f *fixture) { f.clock.Add(10*time.Minute + DefaultLeeway) }},
		// iat is a minute before the fixture's start: the longest lifetime allowed ends 870s
		// after it, and 885s after it the token is older than MaxAge + Leeway but within exp's
		// leeway.
		{name: "older than the maximum age", want: token.ErrTooOld, claims: map[string]any{
			"exp": int64(1_800_000_000 + 870),
		}, change: func(f *fixture) { f.clock.Add(885 * time.Second) }},
		{name: "key withdrawn", want: token.ErrUnknownKid, change: func(f *fixture) { delete(f.keys.keys, f.s.kid) }},
		{name: "key replaced under the same kid", want: token.ErrBadSignature, change: func(f *fixture) { f.keys.keys[f.s.kid] = newSigner(9).pub() }},
		{name: "keys unavailable", want: token.ErrKeysUnavailable, change: func(f *fixture) { f.keys.err = token.ErrKeysUnavailable }},
		{name: "revocation set past the fail-closed bound", want: token.ErrRevocationUnavailable, change: func(f *fixture) {
			f.g.cfg.FailClosedAfter, f.uncached.cfg.FailClosedAfter = time.Minute, time.Minute
			f.clock.Add(2 * time.Minute)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Config{})
			tok := f.s.sign(f.s.header(), with(f.clock.Now(), tt.claims))
			if _, err := f.g.Authenticate(t.Context(), tok); err != nil {
				t.Fatalf("first verification: %v", err)
			}
			if _, err := f.g.Authenticate(t.Context(), tok); err != nil || f.metrics.hits != 1 {
				t.Fatalf("second verification: %v, %d hits; want a cache hit", err, f.metrics.hits)
			}
			tt.change(f)
			hitC, hitErr := f.g.Authenticate(t.Context(), tok)
			missC, missErr := f.uncached.Authenticate(t.Context(), tok)
			if tt.want == nil && hitErr != nil || tt.want != nil && !errors.Is(hitErr, tt.want) {
				t.Errorf("cached token: %v, want %v", hitErr, tt.want)
			}
			if token.Reason(hitErr) != token.Reason(missErr) {
				t.Errorf("cached token: %v; the same token without a cache: %v", hitErr, missErr)
			}
			if diff := cmp.Diff(missC, hitC); diff != "" {
				t.Errorf("claims from the cache differ from a full verification (-miss +hit):\n%s", diff)
			}
		})
	}
}

// TestCacheAdmitsOnlyVerifiedTokens: a token whose signature fails is never cached, so each
// attempt costs its sender a full verification and is refused by it.
func TestCacheAdmitsOnlyVerifiedTokens(t *testing.T) {
	f := newFixture(t, Config{})
	forged := newSigner(9).sign(f.s.header(), with(f.clock.Now(), nil))
	for range 5 {
		if _, err := f.g.Authenticate(t.Context(), forged); !errors.Is(err, token.ErrBadSignature) {
			t.Fatalf("forged token: %v, want ErrBadSignature", err)
		}
	}
	if f.metrics.hits != 0 || f.metrics.misses != 5 {
		t.Errorf("cache hits %d, misses %d; want 0 and 5", f.metrics.hits, f.metrics.misses)
	}
	if n, _ := f.g.cache.stats(); n != 0 {
		t.Errorf("cache holds %d entries after forged tokens only, want 0", n)
	}
}

// TestCacheClaimsAreTheCallers: a caller that changes the claims it was given does not
// change what the next caller of the same token gets.
func TestCacheClaimsAreTheCallers(t *testing.T) {
	f := newFixture(t, Config{})
	tok := f.good()
	for range 3 {
		c, err := f.g.Authenticate(t.Context(), tok)
		if err != nil {
			t.Fatal(err)
		}
		if c.Roles[0] != "user" || c.Audience[0] != testAud {
			t.Fatalf("roles %v, audience %v: changed by an earlier caller", c.Roles, c.Audience)
		}
		c.Roles[0], c.Audience[0] = "admin", "evil"
	}
}

// TestCacheFloodKeepsHotEntries: a client sends 20 times the cache's capacity of fresh valid
// tokens (each paid with a full verification) while 32 users keep using theirs; the users'
// tokens stay cached, and the cache stays within its bounds.
func TestCacheFloodKeepsHotEntries(t *testing.T) {
	const capacity, hot, flood = 256, 32, 20 * 256
	f := newFixture(t, Config{CacheEntries: capacity})
	mint := func(jti string) string {
		return f.s.sign(f.s.header(), with(f.clock.Now(), map[string]any{"jti": jti}))
	}
	var users []string
	for i := range hot {
		users = append(users, mint(fmt.Sprintf("user-%d", i)))
	}
	use := func() int { // returns how many of the users' tokens were hits
		before := f.metrics.hits
		for _, tok := range users {
			if _, err := f.g.Authenticate(t.Context(), tok); err != nil {
				t.Fatal(err)
			}
		}
		return f.metrics.hits - before
	}
	use()
	use()
	missed := 0
	for i := range flood {
		if _, err := f.g.Authenticate(t.Context(), mint(fmt.Sprintf("flood-%d", i))); err != nil {
			t.Fatal(err)
		}
		if i%hot == hot-1 { // the users make one request each while the flooder makes 32
			missed += hot - use()
		}
	}
	if missed != 0 {
		t.Errorf("users' tokens missed the cache %d times during the flood, want 0", missed)
	}
	if n, _ := f.g.cache.stats(); n > capacity {
		t.Errorf("cache holds %d entries, over its bound %d", n, capacity)
	}
}

// TestCacheBounds: the entry bound and the memory bound each hold, and expired entries make
// room first.
func TestCacheBounds(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		f := newFixture(t, Config{CacheBytes: 8 << 10})
		for i := range 100 {
			if _, err := f.g.Authenticate(t.Context(), f.s.sign(f.s.header(), with(f.clock.Now(), map[string]any{"jti": fmt.Sprint(i)}))); err != nil {
				t.Fatal(err)
			}
		}
		n, b := f.g.cache.stats()
		if b > 8<<10 || n == 0 || n == 100 {
			t.Errorf("cache holds %d entries in %d estimated bytes, want some, within 8 KiB", n, b)
		}
	})
	t.Run("disabled", func(t *testing.T) {
		f := newFixture(t, Config{CacheEntries: -1})
		tok := f.good()
		for range 3 {
			if _, err := f.g.Authenticate(t.Context(), tok); err != nil {
				t.Fatal(err)
			}
		}
		if f.g.cache != nil || f.metrics.hits+f.metrics.misses != 0 {
			t.Errorf("cache disabled: %d hits, %d misses counted", f.metrics.hits, f.metrics.misses)
		}
	})
	t.Run("expired entries go first", func(t *testing.T) {
		f := newFixture(t, Config{CacheEntries: 8})
		short := f.s.sign(f.s.header(), with(f.clock.Now(), map[string]any{"jti": "short", "exp": f.clock.Now().Add(time.Minute).Unix()}))
		var long []string
		for i := range 7 {
			long = append(long, f.s.sign(f.s.header(), with(f.clock.Now(), map[string]any{"jti": fmt.Sprint(i)})))
		}
		for _, tok := range append([]string{short}, long...) {
			for range 2 { // admitted, then referenced
				if _, err := f.g.Authenticate(t.Context(), tok); err != nil {
					t.Fatal(err)
				}
			}
		}
		f.clock.Add(2 * time.Minute)
		newer := f.s.sign(f.s.header(), with(f.clock.Now(), map[string]any{"jti": "newer"}))
		if _, err := f.g.Authenticate(t.Context(), newer); err != nil {
			t.Fatal(err)
		}
		before := f.metrics.hits
		for _, tok := range long {
			if _, err := f.g.Authenticate(t.Context(), tok); err != nil {
				t.Fatal(err)
			}
		}
		if got := f.metrics.hits - before; got != len(long) {
			t.Errorf("%d of %d live entries still cached after one insertion into a full cache, want all (the expired one makes room)", got, len(long))
		}
	})
}
