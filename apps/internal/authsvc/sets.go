package authsvc

import (
	"github.com/google/wire"

	"github.com/keygate/keygate/adapters/argon2"
	"github.com/keygate/keygate/adapters/jose"
	"github.com/keygate/keygate/adapters/memory"
	"github.com/keygate/keygate/adapters/norm"
	"github.com/keygate/keygate/adapters/telemetry"
	"github.com/keygate/keygate/core/auth"
	"github.com/keygate/keygate/ports"
)

// Core is what every profile shares: token signing, password hashing, normalisation,
// metrics, the use cases, authd's own guard and feed, the HTTP API and the App. A profile
// adds the stores (and the clock).
var Core = wire.NewSet(
	NewRegistry,
	telemetry.New,
	wire.Bind(new(ports.Metrics), new(*telemetry.Metrics)),
	jose.NewTokenIssuer,
	wire.Bind(new(ports.TokenIssuer), new(*jose.TokenIssuer)),
	NewHasher,
	wire.Bind(new(ports.PasswordHasher), new(*argon2.Hasher)),
	norm.New,
	wire.Bind(new(ports.Normalizer), new(norm.Normalizer)),
	wire.Struct(new(auth.Deps), "Users", "Sessions", "Revocations", "Bus", "Keys", "Issuer", "Hasher",
		"Norm", "Limiter", "Audit", "Clock", "Metrics"),
	NewService,
	NewFeed,
	NewGuard,
	NewHandler,
	NewApp,
)

// RealClock tells the real time.
var RealClock = wire.NewSet(
	wire.Value(memory.RealClock{}),
	wire.Bind(new(ports.Clock), new(memory.RealClock)),
)

// A profile is Core plus a clock, the stores of accounts (UserRepo, SessionStore, KeyStore,
// RateLimiter, AuditLog), the revocation store and bus, and the readiness Checks of those
// stores. Adding the Redis and database profiles is adding such a set and one injector each.

// MemoryAccounts keeps users, sessions, keys, rate-limit counters and the audit log in
// memory (dev mode).
var MemoryAccounts = wire.NewSet(
	memory.NewUserRepo,
	wire.Bind(new(ports.UserRepo), new(*memory.UserRepo)),
	memory.NewSessionStore,
	wire.Bind(new(ports.SessionStore), new(*memory.SessionStore)),
	memory.NewKeyStore,
	wire.Bind(new(ports.KeyStore), new(*memory.KeyStore)),
	memory.NewRateLimiter,
	wire.Bind(new(ports.RateLimiter), new(*memory.RateLimiter)),
	memory.NewAuditLog,
	wire.Bind(new(ports.AuditLog), new(*memory.AuditLog)),
)

// MemoryRevocations keeps revocations and carries events in this process.
var MemoryRevocations = wire.NewSet(
	NewMemoryBus,
	wire.Bind(new(ports.EventBus), new(*memory.EventBus)),
	memory.NewRevocationStore,
	wire.Bind(new(ports.RevocationStore), new(*memory.RevocationStore)),
)

// NewMemoryBus returns an in-process event bus.
func NewMemoryBus() *memory.EventBus { return memory.NewEventBus(memory.EventBusConfig{}) }

// MemoryProfile is the whole of the memory profile: every store in this process.
var MemoryProfile = wire.NewSet(Core, RealClock, MemoryAccounts, MemoryRevocations, NoChecks)
