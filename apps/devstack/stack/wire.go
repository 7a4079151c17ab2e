//go:build wireinject

package stack

import (
	"log/slog"

	"github.com/google/wire"

	"github.com/keygate/keygate/adapters/memory"
	"github.com/keygate/keygate/apps/internal/authsvc"
	"github.com/keygate/keygate/apps/internal/demo"
	"github.com/keygate/keygate/ports"
)

// initAuth wires authd on the memory profile, with the stack's shared bus and revocation store.
func initAuth(cfg authsvc.Config, log *slog.Logger, bus *memory.EventBus, store *memory.RevocationStore) (*authsvc.App, func(), error) {
	wire.Build(
		authsvc.Core, authsvc.RealClock, authsvc.MemoryAccounts, authsvc.NoDependencies,
		wire.Bind(new(ports.EventBus), new(*memory.EventBus)),
		wire.Bind(new(ports.RevocationStore), new(*memory.RevocationStore)),
	)
	return nil, nil, nil
}

// initDemo wires a demo microservice on the stack's shared bus and revocation store; it
// fetches the JWKS from authd over HTTP, as it would in production.
func initDemo(cfg demo.Config, log *slog.Logger, bus *memory.EventBus, store *memory.RevocationStore) (*demo.App, func(), error) {
	wire.Build(
		demo.Core, authsvc.RealClock, authsvc.NoDependencies,
		wire.Bind(new(ports.EventBus), new(*memory.EventBus)),
		wire.Bind(new(ports.RevocationStore), new(*memory.RevocationStore)),
	)
	return nil, nil, nil
}
