//go:build wireinject

package main

import (
	"log/slog"

	"github.com/google/wire"

	"github.com/keygate/keygate/apps/internal/authsvc"
	"github.com/keygate/keygate/apps/internal/stores"
)

// initTool wires the admin commands' tool on st, as authd wires its use cases.
func initTool(st *stores.Stores, cfg authsvc.Config, log *slog.Logger) (*tool, error) {
	wire.Build(authsvc.Core, newTool)
	return nil, nil
}
