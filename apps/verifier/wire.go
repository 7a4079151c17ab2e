//go:build wireinject

package verifier

import (
	"log/slog"

	"github.com/google/wire"

	redisadapter "github.com/keygate/keygate/adapters/redis"
	"github.com/keygate/keygate/apps/internal/stores"
	"github.com/keygate/keygate/ports"
)

// initRedis wires a verifier following authd's revocations through Redis.
func initRedis(cfg Config, redis redisadapter.Config, log *slog.Logger) (*parts, func(), error) {
	wire.Build(core, stores.RedisRevocations, stores.RedisDependencies)
	return nil, nil, nil
}

// initInProcess wires a verifier on a revocation store and bus of this process.
func initInProcess(cfg Config, store ports.RevocationStore, bus ports.EventBus) (*parts, func(), error) {
	wire.Build(core, stores.NoDependencies)
	return nil, nil, nil
}

// initStandalone wires a verifier without a revocation feed (dev only): a private, empty
// store and bus.
func initStandalone(cfg Config) (*parts, func(), error) {
	wire.Build(core, stores.MemoryRevocations, stores.NoDependencies)
	return nil, nil, nil
}
