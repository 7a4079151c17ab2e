//go:build wireinject

package demo

import (
	"log/slog"

	"github.com/google/wire"
)

// initStandalone wires the standalone profile: no revocation feed (KEYGATE_DEV=1 only).
func initStandalone(cfg Config, log *slog.Logger) (*App, func(), error) {
	wire.Build(StandaloneProfile)
	return nil, nil, nil
}

// initRedis wires the Redis profile: the revocation feed from authd's Redis.
func initRedis(cfg Config, log *slog.Logger) (*App, func(), error) {
	wire.Build(RedisProfile)
	return nil, nil, nil
}
