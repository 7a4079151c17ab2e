package verifier

import (
	"time"

	"github.com/keygate/keygate/adapters/jose"
	"github.com/keygate/keygate/apps/internal/env"
	"github.com/keygate/keygate/apps/internal/stores"
	"github.com/keygate/keygate/core/guard"
)

// FromEnv reads a verifier's configuration through getenv (os.Getenv), with the names and
// defaults of docs/configuration.md that ordersd, paymentsd and guardd share:
// KEYGATE_ISSUER (default http://localhost:8080), KEYGATE_JWKS_URL, KEYGATE_AUDIENCE
// (default audience; comma-separated for several), KEYGATE_LEEWAY, KEYGATE_MAX_TOKEN_AGE,
// KEYGATE_FAIL_CLOSED_AFTER, KEYGATE_TOKEN_CACHE_ENTRIES, KEYGATE_TOKEN_CACHE_MIB, REDIS_ADDR, REDIS_PASSWORD, REDIS_MASTER_NAME,
// REDIS_SENTINEL_PASSWORD, REDIS_DB, KEYGATE_REDIS_PREFIX and KEYGATE_DEV. Every problem
// is reported at once, one line per variable ("config: NAME: ..."). Without REDIS_ADDR it is
// an error unless KEYGATE_DEV=1, which adds a warning.
func FromEnv(getenv func(string) string, audience string) (Config, error) {
	r := env.New(getenv)
	c := Config{Dev: r.Flag("KEYGATE_DEV")}
	issuer := r.String("KEYGATE_ISSUER", "http://localhost:8080")
	env.CheckIssuer(r, "KEYGATE_ISSUER", issuer)
	c.Keys = jose.Config{Issuer: issuer, URL: r.String("KEYGATE_JWKS_URL", "")}
	var def []string
	if audience != "" {
		def = []string{audience}
	}
	c.Guard = guard.Config{
		Issuer:          issuer,
		Audiences:       r.List("KEYGATE_AUDIENCE", def),
		Leeway:          r.Duration("KEYGATE_LEEWAY", guard.DefaultLeeway, 0, guard.MaxLeeway),
		MaxAge:          r.Duration("KEYGATE_MAX_TOKEN_AGE", guard.DefaultMaxAge, time.Minute, 24*time.Hour),
		FailClosedAfter: r.Duration("KEYGATE_FAIL_CLOSED_AFTER", 0, time.Second, 0),
		CacheEntries:    r.Int("KEYGATE_TOKEN_CACHE_ENTRIES", guard.DefaultCacheEntries, 0, 1<<24),
		CacheBytes:      r.Int("KEYGATE_TOKEN_CACHE_MIB", guard.DefaultCacheBytes>>20, 0, 4096) << 20,
	}
	if c.Guard.CacheEntries == 0 || c.Guard.CacheBytes == 0 {
		c.Guard.CacheEntries = -1 // 0 disables the cache of verified tokens
	}
	if len(c.Guard.Audiences) == 0 {
		r.Fail("KEYGATE_AUDIENCE", "required: the audience tokens must name to be accepted here")
	}
	var hasRedis bool
	c.Redis, hasRedis = stores.LoadRedis(r, getenv)
	switch {
	case hasRedis:
	case !c.Dev:
		r.Fail("REDIS_ADDR", "required: without Redis there is no revocation feed (logged-out tokens would stay valid); set KEYGATE_DEV=1 to run without one")
	default:
		c.Warnings = append(c.Warnings, "dev mode without REDIS_ADDR: no revocation feed; revoked tokens are accepted here until they expire")
	}
	return c, r.Err()
}
