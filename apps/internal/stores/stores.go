// Package stores is where a deployment profile is chosen and opened: which adapters back the
// ports below the use cases (users, keys, audit log, sessions, rate limits, revocations, the
// event bus, the clock) and which dependencies /ready and keygate_dependency_up watch. authd,
// keygatectl and devstack ask Open for the Stores of their configuration and build what they
// need on top; the verifiers take the revocation sets from here. It reads its part of the
// environment (REDIS_*, DB_*, DATABASE_URL, KEYGATE_MIGRATE) and imports no use case.
//
// Adding a store profile: a Profile constant and its case in choose (this file), a provider
// set (sets.go), an injector (wire.go) and its case in Open (this file).
package stores

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	redisadapter "github.com/keygate/keygate/adapters/redis"
	"github.com/keygate/keygate/apps/internal/env"
	"github.com/keygate/keygate/ports"
)

// Profile names a deployment profile: which adapters back the ports.
type Profile string

// Profiles, chosen by Load from what is configured (docs/configuration.md):
//
//	no REDIS_ADDR, no database       ProfileMemory         (KEYGATE_DEV=1 only)
//	REDIS_ADDR, no database          ProfileRedis          (KEYGATE_DEV=1 only: users, audit log and keys in memory)
//	REDIS_ADDR + MySQL               ProfileRedisMySQL
//	REDIS_ADDR + PostgreSQL          ProfileRedisPostgres
//	a database without REDIS_ADDR    refused
const (
	ProfileMemory        Profile = "memory"
	ProfileRedis         Profile = "redis"
	ProfileRedisMySQL    Profile = "redis+mysql"
	ProfileRedisPostgres Profile = "redis+postgres"
)

// InMemory reports whether the profile keeps users and signing keys in process memory (they
// vanish at exit, and no other process sees them).
func (p Profile) InMemory() bool { return p == ProfileMemory || p == ProfileRedis }

// Config is the stores' part of the configuration.
type Config struct {
	Profile  Profile
	Redis    redisadapter.Config // REDIS_*, KEYGATE_REDIS_PREFIX; zero in the memory profile
	Database Database            // DB_*, DATABASE_URL; zero without a database
	Migrate  bool                // KEYGATE_MIGRATE: apply schema migrations at start
	// SchemaWait (KEYGATE_SCHEMA_WAIT) is how long a start waits for a schema behind the binary.
	SchemaWait time.Duration
}

// Load reads the stores' settings and chooses the profile (dev: KEYGATE_DEV=1 allows the
// in-memory ones). Problems are recorded on r; warnings (dev-mode compromises) are returned.
func Load(r *env.Reader, getenv func(string) string, dev bool) (c Config, warnings []string) {
	var hasRedis bool
	c.Redis, hasRedis = LoadRedis(r, getenv)
	c.Database = LoadDatabase(r, getenv)
	c.Migrate = r.Flag("KEYGATE_MIGRATE")
	c.SchemaWait = r.Duration("KEYGATE_SCHEMA_WAIT", 0, 0, time.Hour)
	if r.Set("KEYGATE_SCHEMA_WAIT") && !c.Database.Configured() {
		r.Fail("KEYGATE_SCHEMA_WAIT", "set without a database (DB_HOST or DATABASE_URL)")
	}
	if c.Migrate && !c.Database.Configured() {
		r.Fail("KEYGATE_MIGRATE", "set without a database (DB_HOST or DATABASE_URL)")
	}
	c.Profile, warnings = choose(r, c.Database, hasRedis, dev)
	return c, warnings
}

// choose is the one place a profile is picked from what is configured.
func choose(r *env.Reader, db Database, hasRedis, dev bool) (Profile, []string) {
	switch {
	case hasRedis && db.Configured() && db.Driver == DriverPostgres:
		return ProfileRedisPostgres, nil
	case hasRedis && db.Configured():
		return ProfileRedisMySQL, nil
	case db.Configured():
		r.Fail("REDIS_ADDR", "required with a database: refresh sessions, revocations and rate-limit counters must be shared by every replica")
		return ProfileRedisMySQL, nil
	case hasRedis:
		if !dev {
			r.Fail("DB_HOST", "required outside dev mode (or DATABASE_URL): without a database, users, the audit log and the signing keys live in memory; set KEYGATE_DEV=1 to run so")
			return ProfileRedis, nil
		}
		return ProfileRedis, []string{"dev mode: REDIS_ADDR without a database: users, audit log and signing keys live in this process's memory and vanish at exit; run one replica only"}
	}
	if !dev {
		r.Fail("KEYGATE_DEV", "no database is configured (DB_HOST or DATABASE_URL): in-memory users need KEYGATE_DEV=1")
		return ProfileMemory, nil
	}
	return ProfileMemory, []string{"dev mode: users, sessions, keys and revocations live in memory and vanish at exit"}
}

// Stores are the ports a profile backs, open and ready to use, and what to watch.
type Stores struct {
	Clock        ports.Clock
	Users        ports.UserRepo
	Keys         ports.KeyStore
	Audit        ports.AuditLog
	Sessions     ports.SessionStore
	Limiter      ports.RateLimiter
	Tokens       ports.OneTimeTokenStore // of reset and verification links: beside the sessions
	Revocations  ports.RevocationStore
	Bus          ports.EventBus
	Dependencies Dependencies
}

// Open opens the stores of cfg.Profile: the database must answer (the signing keys live
// there); Redis is not dialled (its stores answer ports.ErrUnavailable until it is up). The
// cleanup closes what was opened.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*Stores, func(), error) {
	switch cfg.Profile {
	case ProfileMemory:
		return openMemory()
	case ProfileRedis:
		return openRedis(cfg, log)
	case ProfileRedisMySQL:
		return openRedisMySQL(ctx, cfg, log)
	case ProfileRedisPostgres:
		return openRedisPostgres(ctx, cfg, log)
	}
	return nil, nil, fmt.Errorf("stores: no profile %q", cfg.Profile)
}
