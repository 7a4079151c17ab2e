// Package demo assembles keygate's demo microservices, ordersd and paymentsd: small real APIs
// under /api/ behind the middleware of the public verifier package (apps/verifier), which
// verifies tokens locally against the JWKS discovered from KEYGATE_ISSUER and a revocation set
// kept current by a feed. This package holds the configuration, the providers, the wire
// injector and the handlers.
package demo

import (
	"errors"

	"github.com/keygate/keygate/apps/internal/env"
	"github.com/keygate/keygate/apps/verifier"
)

// Kinds of demo service.
const (
	Orders   = "orders"
	Payments = "payments"
)

// Config is a demo service's whole configuration, read once at start.
type Config struct {
	Kind      string // Orders or Payments
	Port      int
	AdminAddr string // KEYGATE_ADMIN_ADDR; "": off
	LogLevel  string
	Verifier  verifier.Config // KEYGATE_ISSUER, KEYGATE_AUDIENCE (default Kind), REDIS_*, ... (verifier.FromEnv)
}

// Load reads the configuration of the demo service kind (Orders or Payments) through getenv,
// with defPort when PORT is unset and defAdmin when KEYGATE_ADMIN_ADDR is. Every problem is
// reported at once.
func Load(getenv func(string) string, kind string, defPort int, defAdmin string) (Config, error) {
	r := env.New(getenv)
	c := Config{
		Kind:     kind,
		Port:     r.Port(defPort),
		LogLevel: r.OneOf("KEYGATE_LOG_LEVEL", "info", "debug", "info", "warn", "error"),
	}
	c.AdminAddr = r.AdminAddr(defAdmin, c.Port)
	var err error
	c.Verifier, err = verifier.FromEnv(getenv, kind)
	c.Verifier.Name = kind + "d"
	return c, errors.Join(r.Err(), err)
}
