package stores

import (
	"github.com/google/wire"

	"github.com/keygate/keygate/adapters/memory"
	mysqladapter "github.com/keygate/keygate/adapters/mysql"
	"github.com/keygate/keygate/adapters/postgres"
	redisadapter "github.com/keygate/keygate/adapters/redis"
	"github.com/keygate/keygate/adapters/system"
	"github.com/keygate/keygate/ports"
)

// Clock is the production clock.
var Clock = wire.NewSet(
	wire.Value(system.Clock{}),
	wire.Bind(new(ports.Clock), new(system.Clock)),
)

// A profile is a clock, the stores of accounts (UserRepo, KeyStore, AuditLog), of sessions
// (SessionStore, RateLimiter), the revocation store and bus, and the Dependencies /ready and
// keygate_dependency_up watch.

// MemoryUsers keeps users, signing keys and the audit log in memory (dev mode).
var MemoryUsers = wire.NewSet(
	memory.NewUserRepo,
	wire.Bind(new(ports.UserRepo), new(*memory.UserRepo)),
	memory.NewKeyStore,
	wire.Bind(new(ports.KeyStore), new(*memory.KeyStore)),
	memory.NewAuditLog,
	wire.Bind(new(ports.AuditLog), new(*memory.AuditLog)),
)

// MemorySessions keeps refresh sessions, rate-limit counters and the one-time tokens of
// account e-mails in memory (dev mode).
var MemorySessions = wire.NewSet(
	memory.NewSessionStore,
	wire.Bind(new(ports.SessionStore), new(*memory.SessionStore)),
	memory.NewRateLimiter,
	wire.Bind(new(ports.RateLimiter), new(*memory.RateLimiter)),
	memory.NewOneTimeTokenStore,
	wire.Bind(new(ports.OneTimeTokenStore), new(*memory.OneTimeTokenStore)),
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

// MemoryProfile is every store in this process.
var MemoryProfile = wire.NewSet(Clock, MemoryUsers, MemorySessions, MemoryRevocations, NoDependencies)

// RedisRevocations keeps revocations in Redis and carries events over its pub/sub, from the
// universal client of the Redis Config (which a profile provides, e.g. with wire.FieldsOf).
var RedisRevocations = wire.NewSet(
	NewRedisClient,
	redisadapter.NewRevocationStore,
	wire.Bind(new(ports.RevocationStore), new(*redisadapter.RevocationStore)),
	redisadapter.NewEventBus,
	wire.Bind(new(ports.EventBus), new(*redisadapter.EventBus)),
)

// RedisSessions keeps refresh sessions, rate-limit counters and the one-time tokens of
// account e-mails in Redis, shared by every replica (docs/architecture.md: why Redis).
var RedisSessions = wire.NewSet(
	redisadapter.NewSessionStore,
	wire.Bind(new(ports.SessionStore), new(*redisadapter.SessionStore)),
	redisadapter.NewRateLimiter,
	wire.Bind(new(ports.RateLimiter), new(*redisadapter.RateLimiter)),
	redisadapter.NewOneTimeTokenStore,
	wire.Bind(new(ports.OneTimeTokenStore), new(*redisadapter.OneTimeTokenStore)),
)

// redisConfig takes the Redis adapter's Config out of Config.
var redisConfig = wire.FieldsOf(new(Config), "Redis")

// RedisProfile is Redis with users, keys and the audit log in memory (KEYGATE_DEV=1 only).
var RedisProfile = wire.NewSet(Clock, redisConfig, RedisRevocations, RedisSessions, MemoryUsers, RedisDependencies)

// MySQLUsers keeps users, signing keys and the audit log in MySQL.
var MySQLUsers = wire.NewSet(
	OpenMySQL,
	mysqladapter.NewUserRepo,
	wire.Bind(new(ports.UserRepo), new(*mysqladapter.UserRepo)),
	mysqladapter.NewKeyStore,
	wire.Bind(new(ports.KeyStore), new(*mysqladapter.KeyStore)),
	mysqladapter.NewAuditLog,
	wire.Bind(new(ports.AuditLog), new(*mysqladapter.AuditLog)),
)

// PostgresUsers keeps users, signing keys and the audit log in PostgreSQL.
var PostgresUsers = wire.NewSet(
	OpenPostgres,
	postgres.NewUserRepo,
	wire.Bind(new(ports.UserRepo), new(*postgres.UserRepo)),
	postgres.NewKeyStore,
	wire.Bind(new(ports.KeyStore), new(*postgres.KeyStore)),
	postgres.NewAuditLog,
	wire.Bind(new(ports.AuditLog), new(*postgres.AuditLog)),
)

// RedisMySQLProfile is the production profile on MySQL (or MariaDB).
var RedisMySQLProfile = wire.NewSet(Clock, redisConfig, RedisRevocations, RedisSessions, MySQLUsers,
	RedisMySQLDependencies)

// RedisPostgresProfile is the production profile on PostgreSQL.
var RedisPostgresProfile = wire.NewSet(Clock, redisConfig, RedisRevocations, RedisSessions, PostgresUsers,
	RedisPostgresDependencies)
