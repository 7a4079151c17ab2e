//go:build wireinject

package verifier

import (
	"log/slog"

	"github.com/google/wire"

	redisadapter "github.com/keygate/keygate/adapters/redis"
	"github.com/keygate/keygate/apps/internal/authsvc"
	"github.com/keygate/keygate/ports"
)

// initRedis wires a verifier following authd's revocations through Redis.
func initRedis(cfg Config, redis redisadapter.Config, log *slog.Logger) (*parts, func(), error) {
	wire.Build(core, authsvc.RedisRevocations, authsvc.RedisDependencies)
	return nil, nil, nil
}

// initInProcess wires a verifier on a revocation store and bus of this process.
func initInProcess(cfg Config, store ports.RevocationStore, bus ports.EventBus) (*parts, func(), error) {
	wire.Build(core, authsvc.NoDependencies)
	return nil, nil, nil
}

// initStandalone wires a verifier without a revocation feed (dev only): a private, empty
// store and bus.
func initStandalone(cfg Config) (*parts, func(), error) {
	wire.Build(core, authsvc.MemoryRevocations, authsvc.NoDependencies)
	return nil, nil, nil
}
