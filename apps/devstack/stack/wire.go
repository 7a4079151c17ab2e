//go:build wireinject

package stack

import (
	"log/slog"

	"github.com/google/wire"

	"github.com/keygate/keygate/adapters/memory"
	"github.com/keygate/keygate/apps/internal/authsvc"
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
