package auth

import (
	"testing"

	"github.com/keygate/keygate/adapters/argon2"
	"github.com/keygate/keygate/adapters/jose"
	"github.com/keygate/keygate/adapters/norm"
	"github.com/keygate/keygate/ports"
)

// The real adapters, the hasher at the cheapest parameters it accepts.

func newTestIssuer() ports.TokenIssuer { return jose.NewTokenIssuer() }

func newTestNorm() ports.Normalizer { return norm.New() }

func newTestHasher(t *testing.T) ports.PasswordHasher {
	t.Helper()
	h, err := argon2.New(argon2.Config{Memory: 64, Time: 1, Threads: 1, MaxConcurrent: 8, MaxQueue: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return h
}
