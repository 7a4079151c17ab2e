//go:build wireinject

package stores

import (
	"context"
	"log/slog"

	"github.com/google/wire"
)

// The injectors of the profiles, one each; Open chooses among them.

func openMemory() (*Stores, func(), error) {
	wire.Build(MemoryProfile, wire.Struct(new(Stores), "*"))
	return nil, nil, nil
}

func openRedis(cfg Config, log *slog.Logger) (*Stores, func(), error) {
	wire.Build(RedisProfile, wire.Struct(new(Stores), "*"))
	return nil, nil, nil
}

func openRedisMySQL(ctx context.Context, cfg Config, log *slog.Logger) (*Stores, func(), error) {
	wire.Build(RedisMySQLProfile, wire.Struct(new(Stores), "*"))
	return nil, nil, nil
}

func openRedisPostgres(ctx context.Context, cfg Config, log *slog.Logger) (*Stores, func(), error) {
	wire.Build(RedisPostgresProfile, wire.Struct(new(Stores), "*"))
	return nil, nil, nil
}
