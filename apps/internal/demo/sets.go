package demo

import (
	"github.com/google/wire"

	"github.com/keygate/keygate/adapters/telemetry"
	"github.com/keygate/keygate/apps/internal/authsvc"
	"github.com/keygate/keygate/ports"
)

// Core is what every profile of a demo service shares: metrics, the remote key set, the
// feed, the guard, the HTTP API and the App. A profile adds the revocation store and bus.
var Core = wire.NewSet(
	NewRegistry,
	telemetry.New,
	wire.Bind(new(ports.Metrics), new(*telemetry.Metrics)),
	NewKeySet,
	NewFeed,
	NewGuard,
	NewHandler,
	NewApp,
)

// StandaloneProfile runs without a revocation feed: a private, empty store and bus (dev
// only; nothing revoked elsewhere reaches this service).
var StandaloneProfile = wire.NewSet(Core, authsvc.RealClock, authsvc.MemoryRevocations, authsvc.NoDependencies)

// RedisProfile follows authd's revocations through Redis: the revocation store and the event
// bus on the client of the Redis Config.
var RedisProfile = wire.NewSet(Core, authsvc.RealClock, wire.FieldsOf(new(Config), "Redis"),
	authsvc.RedisRevocations, authsvc.RedisDependencies)
