package verifier

import (
	"fmt"
	"time"

	"github.com/keygate/keygate/adapters/jose"
	"github.com/keygate/keygate/apps/internal/env"
	"github.com/keygate/keygate/apps/internal/stores"
	"github.com/keygate/keygate/core/guard"
)

// FromEnv reads a verifier's configuration through getenv (os.Getenv), with the names and
// defaults of docs/configuration.md that ordersd, paymentsd and guardd share:
// KEYGATE_ISSUER (default http://localhost:8080), KEYGATE_JWKS_URL, KEYGATE_JWKS_CA_FILE,
// KEYGATE_JWKS_ALLOW_HTTP, KEYGATE_AUDIENCE
// (default audience; comma-separated for several), KEYGATE_LEEWAY, KEYGATE_MAX_TOKEN_AGE,
// KEYGATE_FAIL_CLOSED_AFTER, KEYGATE_TOKEN_CACHE_ENTRIES, KEYGATE_TOKEN_CACHE_MIB,
// KEYGATE_REQUIRE_SID, REDIS_ADDR, REDIS_PASSWORD, REDIS_MASTER_NAME,
// REDIS_SENTINEL_PASSWORD, REDIS_DB, KEYGATE_REDIS_PREFIX and KEYGATE_DEV. Every problem
// is reported at once, one line per variable ("config: NAME: ..."). Without REDIS_ADDR it is
// an error unless KEYGATE_DEV=1, which adds a warning.
func FromEnv(getenv func(string) string, audience string) (Config, error) {
	r := env.New(getenv)
	c := Config{Dev: r.Flag("KEYGATE_DEV")}
	issuer := r.String("KEYGATE_ISSUER", "http://localhost:8080")
	env.CheckIssuer(r, "KEYGATE_ISSUER", issuer)
	c.Keys = jose.Config{Issuer: issuer, URL: r.String("KEYGATE_JWKS_URL", ""), RootCAs: r.CertPool("KEYGATE_JWKS_CA_FILE")}
	checkKeysURL(r, &c)
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
	// KEYGATE_REQUIRE_SID=0 accepts tokens without sid (a foreign issuer's); default: required.
	c.Guard.SessionOptional = r.Set("KEYGATE_REQUIRE_SID") && !r.Flag("KEYGATE_REQUIRE_SID")
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

// checkKeysURL holds where the keys come from (KEYGATE_JWKS_URL, or the issuer's discovery
// document) to https:// outside dev mode: whoever can answer that fetch can mint tokens this
// service accepts. Loopback hosts pass (env.CheckHTTPS); KEYGATE_JWKS_ALLOW_HTTP=1 lets an
// operator fetch plain http:// on a network it trusts (a cluster-internal Service, a mesh
// that encrypts it), with a warning.
func checkKeysURL(r *env.Reader, c *Config) {
	name, u := "KEYGATE_JWKS_URL", c.Keys.URL
	if u == "" {
		name, u = "KEYGATE_ISSUER", c.Keys.Issuer
	}
	if c.Dev || !env.PlainHTTP(u) {
		return
	}
	if r.Flag("KEYGATE_JWKS_ALLOW_HTTP") {
		c.Warnings = append(c.Warnings, fmt.Sprintf("KEYGATE_JWKS_ALLOW_HTTP=1: the signing keys are fetched over plain http from %s; "+
			"whoever is on that path can forge tokens this service accepts", u))
		return
	}
	r.Fail(name, "the signing keys are fetched from %q: outside dev mode (KEYGATE_DEV=1) use https:// (KEYGATE_JWKS_CA_FILE for a private CA), "+
		"or set KEYGATE_JWKS_ALLOW_HTTP=1 where the network is trusted (a cluster-internal Service, a mesh with mTLS)", u)
}
