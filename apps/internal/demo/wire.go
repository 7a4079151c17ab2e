//go:build wireinject

package demo

import (
	"log/slog"

	"github.com/google/wire"
)

// Build wires a demo service of cfg. The revocation feed is the verifier's choice: Redis
// (REDIS_ADDR), a store and bus of this process (cfg.Verifier.Revocations and Events, as the
// dev stack sets them), or none (KEYGATE_DEV=1).
func Build(cfg Config, log *slog.Logger) (*App, func(), error) {
	wire.Build(Set)
	return nil, nil, nil
}
