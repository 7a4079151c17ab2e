//go:build wireinject

package main

import (
	"log/slog"

	"github.com/google/wire"

	"github.com/keygate/keygate/apps/verifier"
)

// initGuardd wires guardd: the verifier (whose configuration picks the revocation feed:
// Redis, or none with KEYGATE_DEV=1), the HTTP surface and the App.
func initGuardd(cfg Config, log *slog.Logger) (*App, func(), error) {
	wire.Build(wire.FieldsOf(new(Config), "Verifier"), verifier.Provide, NewHandler, NewApp)
	return nil, nil, nil
}
