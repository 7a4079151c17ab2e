//go:build wireinject

package main

import (
	"log/slog"

	"github.com/google/wire"

	"github.com/keygate/keygate/apps/internal/authsvc"
)

// initMemory wires the memory profile: every store in this process (KEYGATE_DEV=1).
func initMemory(cfg authsvc.Config, log *slog.Logger) (*authsvc.App, func(), error) {
	wire.Build(authsvc.MemoryProfile)
	return nil, nil, nil
}
