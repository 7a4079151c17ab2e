//go:build wireinject

package main

import (
	"context"
	"log/slog"

	"github.com/google/wire"

	"github.com/keygate/keygate/apps/internal/authsvc"
)

// initMemory wires the memory profile: every store in this process (KEYGATE_DEV=1).
func initMemory(cfg authsvc.Config, log *slog.Logger) (*authsvc.App, func(), error) {
	wire.Build(authsvc.MemoryProfile)
	return nil, nil, nil
}

// initRedis wires Redis (sessions, revocations, rate limits, events) with users, keys and the
// audit log in memory (KEYGATE_DEV=1).
func initRedis(cfg authsvc.Config, log *slog.Logger) (*authsvc.App, func(), error) {
	wire.Build(authsvc.RedisProfile)
	return nil, nil, nil
}

// initRedisMySQL wires the production profile on Redis and MySQL.
func initRedisMySQL(ctx context.Context, cfg authsvc.Config, log *slog.Logger) (*authsvc.App, func(), error) {
	wire.Build(authsvc.RedisMySQLProfile)
	return nil, nil, nil
}

// initRedisPostgres wires the production profile on Redis and PostgreSQL.
func initRedisPostgres(ctx context.Context, cfg authsvc.Config, log *slog.Logger) (*authsvc.App, func(), error) {
	wire.Build(authsvc.RedisPostgresProfile)
	return nil, nil, nil
}
