//go:build wireinject

package authsvc

import (
	"log/slog"

	"github.com/google/wire"

	"github.com/keygate/keygate/apps/internal/stores"
)

// Assemble builds authd on st: the ring, the guard, the use cases, the HTTP API and the App.
func Assemble(st *stores.Stores, cfg Config, log *slog.Logger) (*App, error) {
	wire.Build(Core)
	return nil, nil
}
