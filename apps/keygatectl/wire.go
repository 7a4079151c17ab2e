//go:build wireinject

package main

import (
	"context"
	"log/slog"

	"github.com/google/wire"

	"github.com/keygate/keygate/apps/internal/authsvc"
)

// initMemory wires the tool on the memory profile (KEYGATE_DEV=1: a fresh, empty process).
func initMemory(cfg authsvc.Config, log *slog.Logger) (*tool, func(), error) {
	wire.Build(authsvc.MemoryProfile, newTool)
	return nil, nil, nil
}

// initRedis wires the tool on Redis with in-memory users (KEYGATE_DEV=1).
func initRedis(cfg authsvc.Config, log *slog.Logger) (*tool, func(), error) {
	wire.Build(authsvc.RedisProfile, newTool)
	return nil, nil, nil
}

// initRedisMySQL wires the tool on Redis and MySQL, as authd.
func initRedisMySQL(ctx context.Context, cfg authsvc.Config, log *slog.Logger) (*tool, func(), error) {
	wire.Build(authsvc.RedisMySQLProfile, newTool)
	return nil, nil, nil
}

// initRedisPostgres wires the tool on Redis and PostgreSQL, as authd.
func initRedisPostgres(ctx context.Context, cfg authsvc.Config, log *slog.Logger) (*tool, func(), error) {
	wire.Build(authsvc.RedisPostgresProfile, newTool)
	return nil, nil, nil
}
