package verifier

import (
	"github.com/google/wire"
	"github.com/prometheus/client_golang/prometheus"

	edwardsadapter "github.com/keygate/keygate/adapters/edwards25519"
	"github.com/keygate/keygate/adapters/jose"
	"github.com/keygate/keygate/adapters/telemetry"
	"github.com/keygate/keygate/apps/internal/stores"
	"github.com/keygate/keygate/core/guard"
	"github.com/keygate/keygate/ports"
)

// core is what every profile shares: the clock, metrics, the remote key set, the feed and
// the guard. A profile adds the revocation store, the bus and the dependencies it watches.
//
//lint:ignore U1000 used by the injectors of wire.go (build tag wireinject), which staticcheck does not read
var core = wire.NewSet(
	stores.Clock,
	newRegistry,
	telemetry.New,
	wire.Bind(new(ports.Metrics), new(*telemetry.Metrics)),
	newKeySet,
	newFeed,
	newGuard,
	newParts,
)

// newRegistry returns Config.Registry, or a new registry.
func newRegistry(cfg Config) *prometheus.Registry {
	if cfg.Registry != nil {
		return cfg.Registry
	}
	return prometheus.NewRegistry()
}

// newKeySet returns the issuer's remote JWKS; its cleanup stops it.
func newKeySet(clock ports.Clock, m ports.Metrics, cfg Config) (*jose.RemoteKeySet, func(), error) {
	return jose.NewRemoteKeySet(nil, clock, m, cfg.Keys)
}

// newFeed keeps the revocation set equal to store through bus; key-change events refresh the
// keys at once.
func newFeed(store ports.RevocationStore, bus ports.EventBus, keys *jose.RemoteKeySet, clock ports.Clock, m ports.Metrics) *guard.Feed {
	return guard.NewFeed(store, bus, keys, clock, m, guard.FeedConfig{})
}

// newGuard builds the guard of cfg, verifying signatures with the public keys kept decoded.
func newGuard(keys *jose.RemoteKeySet, feed *guard.Feed, clock ports.Clock, m ports.Metrics, cfg Config) (*guard.Guard, error) {
	gc := cfg.Guard
	if gc.Verifier == nil {
		gc.Verifier = edwardsadapter.NewVerifier()
	}
	return guard.New(keys, feed, clock, m, gc)
}
