//go:build wireinject

package main

import (
	"log/slog"

	"github.com/google/wire"

	"github.com/keygate/keygate/apps/internal/demo"
)

// initStandalone wires the standalone profile: no revocation feed (KEYGATE_DEV=1 only).
func initStandalone(cfg demo.Config, log *slog.Logger) (*demo.App, func(), error) {
	wire.Build(demo.StandaloneProfile)
	return nil, nil, nil
}

// initRedis wires the Redis profile: the revocation feed from authd's Redis.
func initRedis(cfg demo.Config, log *slog.Logger) (*demo.App, func(), error) {
	wire.Build(demo.RedisProfile)
	return nil, nil, nil
}
