// Package demo assembles keygate's demo microservices, ordersd and paymentsd: small real APIs
// under /api/ behind the guard middleware, which verifies tokens locally against the JWKS
// discovered from KEYGATE_ISSUER and a revocation set kept current by a feed. The binaries
// (and devstack) hold the wire injectors; this package holds the configuration, the
// providers and the handlers.
package demo

import (
	"time"

	"github.com/keygate/keygate/adapters/jose"
	redisadapter "github.com/keygate/keygate/adapters/redis"
	"github.com/keygate/keygate/apps/internal/authsvc"
	"github.com/keygate/keygate/apps/internal/env"
	"github.com/keygate/keygate/core/guard"
)

// Kinds of demo service.
const (
	Orders   = "orders"
	Payments = "payments"
)

// Profile names a deployment profile of a demo service.
type Profile string

// Profiles. Redis is the production profile: the revocation store and events of authd's
// Redis, chosen by REDIS_ADDR. Standalone has no revocation feed (KEYGATE_DEV=1 only); Shared
// is the dev stack's, with the auth service's in-process bus and store.
const (
	ProfileRedis      Profile = "redis"
	ProfileStandalone Profile = "standalone"
	ProfileShared     Profile = "shared-memory"
)

// Config is a demo service's whole configuration, read once at start.
type Config struct {
	Kind     string // Orders or Payments
	Port     int
	Dev      bool
	LogLevel string
	Profile  Profile
	Keys     jose.Config         // KEYGATE_ISSUER, KEYGATE_JWKS_URL
	Guard    guard.Config        // KEYGATE_AUDIENCE, KEYGATE_LEEWAY, KEYGATE_MAX_TOKEN_AGE, KEYGATE_FAIL_CLOSED_AFTER
	Redis    redisadapter.Config // REDIS_*, KEYGATE_REDIS_PREFIX; zero without REDIS_ADDR
	Warnings []string
}

// Load reads the configuration of the demo service kind (Orders or Payments) through getenv,
// with defPort when PORT is unset.
func Load(getenv func(string) string, kind string, defPort int) (Config, error) {
	r := env.New(getenv)
	c := Config{
		Kind:     kind,
		Port:     r.Port(defPort),
		Dev:      r.Flag("KEYGATE_DEV"),
		LogLevel: r.OneOf("KEYGATE_LOG_LEVEL", "info", "debug", "info", "warn", "error"),
	}
	issuer := r.String("KEYGATE_ISSUER", "http://localhost:8080")
	authsvc.CheckIssuer(r, "KEYGATE_ISSUER", issuer)
	c.Keys = jose.Config{Issuer: issuer, URL: r.String("KEYGATE_JWKS_URL", "")}
	c.Guard = guard.Config{
		Issuer:          issuer,
		Audiences:       []string{r.String("KEYGATE_AUDIENCE", kind)},
		Leeway:          r.Duration("KEYGATE_LEEWAY", guard.DefaultLeeway, 0, guard.MaxLeeway),
		MaxAge:          r.Duration("KEYGATE_MAX_TOKEN_AGE", guard.DefaultMaxAge, time.Minute, 24*time.Hour),
		FailClosedAfter: r.Duration("KEYGATE_FAIL_CLOSED_AFTER", 0, time.Second, 0),
	}
	var hasRedis bool
	c.Redis, hasRedis = authsvc.LoadRedis(r, getenv)
	switch {
	case hasRedis:
		c.Profile = ProfileRedis
	case !c.Dev:
		c.Profile = ProfileStandalone
		r.Fail("REDIS_ADDR", "required: without Redis there is no revocation feed (logged-out tokens would stay valid); set KEYGATE_DEV=1 to run without one")
	default:
		c.Profile = ProfileStandalone
		c.Warnings = append(c.Warnings, "dev mode without REDIS_ADDR: no revocation feed; revoked tokens are accepted here until they expire")
	}
	return c, r.Err()
}
