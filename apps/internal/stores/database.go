package stores

import (
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	goredis "github.com/redis/go-redis/v9"

	mysqladapter "github.com/keygate/keygate/adapters/mysql"
	"github.com/keygate/keygate/adapters/postgres"
	redisadapter "github.com/keygate/keygate/adapters/redis"
	"github.com/keygate/keygate/adapters/telemetry"
	"github.com/keygate/keygate/apps/internal/env"
)

// Database drivers (DB_DRIVER).
const (
	DriverMySQL    = "mysql"
	DriverPostgres = "postgres"
)

// Database is the database part of the configuration: the driver, and the adapter Config of
// that driver (the other one stays zero). A zero Database means none is configured.
type Database struct {
	Driver   string // DriverMySQL, DriverPostgres, or "" for none
	MySQL    mysqladapter.Config
	Postgres postgres.Config
}

// Configured reports whether a database is configured (DB_HOST or DATABASE_URL).
func (d Database) Configured() bool { return d.Driver != "" }

// LogValue names the driver and where the database is, never a password or a DSN.
func (d Database) LogValue() slog.Value {
	if !d.Configured() {
		return slog.StringValue("none")
	}
	host, name, dsn := d.MySQL.Host, d.MySQL.Name, d.MySQL.DSN != ""
	if d.Driver == DriverPostgres {
		host, name, dsn = d.Postgres.Host, d.Postgres.Name, d.Postgres.DSN != ""
	}
	if dsn {
		return slog.GroupValue(slog.String("driver", d.Driver), slog.String("dsn", "DATABASE_URL [redacted]"))
	}
	return slog.GroupValue(slog.String("driver", d.Driver), slog.String("host", host), slog.String("name", name))
}

// LoadRedis reads REDIS_ADDR (comma-separated host:port, each optionally rediss://),
// REDIS_PASSWORD, REDIS_MASTER_NAME, REDIS_SENTINEL_PASSWORD, REDIS_DB, REDIS_TLS,
// REDIS_CA_FILE and KEYGATE_REDIS_PREFIX into the Redis adapter's Config; ok is false when
// REDIS_ADDR is unset. TLS is on with REDIS_TLS=1 or rediss:// addresses (all or none), and
// verifies the server against REDIS_CA_FILE (PEM) or the system's roots; it is used for the
// Sentinels too. Problems are recorded on r.
func LoadRedis(r *env.Reader, getenv func(string) string) (cfg redisadapter.Config, ok bool) {
	if !r.Set("REDIS_ADDR") {
		for _, name := range []string{"REDIS_MASTER_NAME", "REDIS_SENTINEL_PASSWORD", "REDIS_DB", "REDIS_TLS", "REDIS_CA_FILE"} {
			if r.Set(name) {
				r.Fail(name, "set without REDIS_ADDR")
			}
		}
		return redisadapter.Config{}, false
	}
	cfg.Addrs = r.List("REDIS_ADDR", nil)
	secure := 0
	for i, a := range cfg.Addrs {
		if rest, ok := strings.CutPrefix(a, "rediss://"); ok {
			cfg.Addrs[i], secure = rest, secure+1
		} else if strings.Contains(a, "://") {
			r.Fail("REDIS_ADDR", "want host:port or rediss://host:port, got %q", a)
			break
		}
	}
	if secure > 0 && secure < len(cfg.Addrs) {
		r.Fail("REDIS_ADDR", "mixes rediss:// and plain addresses: TLS is for all of them or none")
	}
	if r.Flag("REDIS_TLS") || secure > 0 || r.Set("REDIS_CA_FILE") {
		cfg.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
		cfg.TLS.RootCAs = r.CertPool("REDIS_CA_FILE")
	}
	for _, a := range cfg.Addrs {
		if host, port, err := net.SplitHostPort(a); err != nil || host == "" || port == "" {
			r.Fail("REDIS_ADDR", "want host:port addresses separated by commas, got %q", a)
			break
		}
	}
	cfg.Password = getenv("REDIS_PASSWORD") // taken as given, not trimmed
	cfg.MasterName = r.String("REDIS_MASTER_NAME", "")
	cfg.SentinelPassword = getenv("REDIS_SENTINEL_PASSWORD")
	if cfg.SentinelPassword != "" && cfg.MasterName == "" {
		r.Fail("REDIS_SENTINEL_PASSWORD", "set without REDIS_MASTER_NAME (it is the Sentinels' password)")
	}
	cfg.DB = r.Int("REDIS_DB", 0, 0, 1<<16)
	// Durability of a revocation before authd acknowledges it (docs/revocation.md).
	cfg.RevokeReplicas = r.Int("REDIS_REVOKE_REPLICAS", 0, 0, 64)
	cfg.RevokeWait = r.Duration("REDIS_REVOKE_WAIT", time.Second, 10*time.Millisecond, 30*time.Second)
	cfg.Prefix = r.String("KEYGATE_REDIS_PREFIX", redisadapter.DefaultPrefix)
	if strings.ContainsAny(cfg.Prefix, "{} ") {
		r.Fail("KEYGATE_REDIS_PREFIX", "must not contain '{', '}' or spaces, got %q", cfg.Prefix)
	}
	return cfg, true
}

// LoadDatabase reads DB_DRIVER, DB_HOST, DB_PORT, DB_USER, DB_PASSWORD, DB_NAME,
// DATABASE_URL, DB_TLS and DB_CA_FILE. The driver is DB_DRIVER, else the scheme of
// DATABASE_URL (postgres://, postgresql://, mysql://), else mysql. Neither DB_HOST nor
// DATABASE_URL: no database. With DB_TLS=1 or DB_CA_FILE every connection uses TLS (1.2 at
// least, never falling back to plaintext) and verifies the server's certificate and name
// against DB_CA_FILE (PEM) or the system's roots, whatever the DSN's own tls or sslmode.
func LoadDatabase(r *env.Reader, getenv func(string) string) Database {
	url := r.String("DATABASE_URL", "")
	host := r.String("DB_HOST", "")
	driver := r.OneOf("DB_DRIVER", "", DriverMySQL, DriverPostgres)
	if url == "" && host == "" {
		for _, name := range []string{"DB_PORT", "DB_USER", "DB_NAME", "DB_TLS", "DB_CA_FILE"} {
			if r.Set(name) {
				r.Fail(name, "set without DB_HOST")
			}
		}
		return Database{}
	}
	if url != "" && host != "" {
		r.Fail("DATABASE_URL", "set DATABASE_URL or DB_HOST, not both")
	}
	bad := false // DATABASE_URL already reported
	if url != "" {
		var fromURL string
		scheme, _, found := strings.Cut(url, "://")
		switch strings.ToLower(scheme) {
		case "postgres", "postgresql":
			fromURL = DriverPostgres
		case "mysql":
			fromURL = DriverMySQL
		default:
			if found {
				r.Fail("DATABASE_URL", "unknown scheme %q: want postgres://, postgresql:// or mysql://", scheme)
				bad = true
			}
		}
		switch {
		case driver == "":
			driver = fromURL
		case fromURL != "" && fromURL != driver:
			r.Fail("DB_DRIVER", "is %s but DATABASE_URL is a %s URL", driver, fromURL)
			bad = true
		}
	}
	if driver == "" {
		driver = DriverMySQL
	}
	d := Database{Driver: driver}
	port := r.Int("DB_PORT", 0, 1, 65535)
	user, name := r.String("DB_USER", ""), r.String("DB_NAME", "")
	password := getenv("DB_PASSWORD") // taken as given
	if host != "" && name == "" {
		r.Fail("DB_NAME", "required with DB_HOST")
	}
	var tc *tls.Config
	if r.Flag("DB_TLS") || r.Set("DB_CA_FILE") {
		tc = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: r.CertPool("DB_CA_FILE")}
	}
	switch driver {
	case DriverMySQL:
		d.MySQL = mysqladapter.Config{DSN: url, Host: host, Port: port, User: user, Password: password, Name: name, TLS: tc}
		if url != "" && !bad {
			if _, err := mysqladapter.DriverConfig(d.MySQL); err != nil {
				// The driver's message may quote the DSN, password included.
				r.Fail("DATABASE_URL", "not a MySQL DSN (user:pass@tcp(host:3306)/name) or mysql:// URL with a database name")
			}
		}
	case DriverPostgres:
		d.Postgres = postgres.Config{DSN: url, Host: host, Port: port, User: user, Password: password, Name: name, TLS: tc}
		if url != "" && !bad {
			if _, err := postgres.PoolConfig(d.Postgres); err != nil {
				r.Fail("DATABASE_URL", "not a PostgreSQL URL (postgres://user:pass@host:5432/name) or key=value string")
			}
		}
	}
	return d
}

// openTimeout bounds opening a database pool and checking its schema at start.
const openTimeout = 20 * time.Second

// schemaError explains what to do about a schema the binary cannot use.
func schemaError(err, behind error) error {
	if errors.Is(err, behind) {
		return fmt.Errorf("%w (or set KEYGATE_MIGRATE=1 to migrate at start)", err)
	}
	return err
}

// schemaPoll is how often a start waiting for the schema checks it again.
var schemaPoll = 2 * time.Second

// waitSchema runs check until it passes, fails with an error other than behind, or wait has
// passed (wait <= 0: once). While it waits it logs, at the first check and every 30 s, that
// the schema is behind and what it waits for.
func waitSchema(ctx context.Context, wait time.Duration, log *slog.Logger, check func(context.Context) error, behind error) error {
	deadline := time.Now().Add(wait)
	var logged time.Time
	for {
		cctx, cancel := context.WithTimeout(ctx, openTimeout)
		err := check(cctx)
		cancel()
		if err == nil || !errors.Is(err, behind) || wait <= 0 {
			return err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("%w (waited KEYGATE_SCHEMA_WAIT=%s for the migration)", err, wait)
		}
		if time.Since(logged) >= 30*time.Second {
			logged = time.Now()
			log.Warn("database schema is behind this binary: waiting for the migration (keygatectl migrate, the release's migration Job)",
				slog.String("error", err.Error()), slog.Duration("gives_up_in", left.Round(time.Second)))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (stopped while waiting for the migration)", err)
		case <-time.After(min(schemaPoll, left)):
		}
	}
}

// OpenMySQL opens the MySQL pool, migrates it when KEYGATE_MIGRATE=1, and checks that its
// schema is the one this binary knows: a newer schema stops the process, and so does an older
// one unless the migration (the release's Job) brings it up to date within
// KEYGATE_SCHEMA_WAIT, during which it says what it waits for. The
// database must answer at start (the signing keys live there); once running, the pool
// reconnects by itself.
func OpenMySQL(ctx context.Context, cfg Config, log *slog.Logger) (*sql.DB, func(), error) {
	c := cfg.Database.MySQL
	c.Logger = log
	octx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	db, cleanup, err := mysqladapter.Open(octx, c)
	if err != nil {
		return nil, nil, fmt.Errorf("database unreachable at start: %w", err)
	}
	if cfg.Migrate {
		if err := mysqladapter.Migrate(ctx, db); err != nil {
			cleanup()
			return nil, nil, err
		}
	}
	check := func(ctx context.Context) error { return mysqladapter.CheckSchema(ctx, db) }
	if err := waitSchema(ctx, cfg.SchemaWait, log, check, mysqladapter.ErrSchemaBehind); err != nil {
		cleanup()
		return nil, nil, schemaError(err, mysqladapter.ErrSchemaBehind)
	}
	return db, cleanup, nil
}

// OpenPostgres is OpenMySQL for PostgreSQL.
func OpenPostgres(ctx context.Context, cfg Config, log *slog.Logger) (*pgxpool.Pool, func(), error) {
	octx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	pool, cleanup, err := postgres.Open(octx, cfg.Database.Postgres)
	if err != nil {
		return nil, nil, fmt.Errorf("database unreachable at start: %w", err)
	}
	if cfg.Migrate {
		if err := postgres.Migrate(ctx, pool); err != nil {
			cleanup()
			return nil, nil, err
		}
	}
	check := func(ctx context.Context) error { return postgres.CheckSchema(ctx, pool) }
	if err := waitSchema(ctx, cfg.SchemaWait, log, check, postgres.ErrSchemaBehind); err != nil {
		cleanup()
		return nil, nil, schemaError(err, postgres.ErrSchemaBehind)
	}
	return pool, cleanup, nil
}

// MigrateDatabase applies the embedded migrations to d and returns the schema version it is
// at afterwards (keygatectl migrate).
func MigrateDatabase(ctx context.Context, d Database, log *slog.Logger) (int64, error) {
	octx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	switch d.Driver {
	case DriverMySQL:
		c := d.MySQL
		c.Logger = log
		db, cleanup, err := mysqladapter.Open(octx, c)
		if err != nil {
			return 0, err
		}
		defer cleanup()
		if err := mysqladapter.Migrate(ctx, db); err != nil {
			return 0, err
		}
		return mysqladapter.SchemaVersion(ctx, db)
	case DriverPostgres:
		pool, cleanup, err := postgres.Open(octx, d.Postgres)
		if err != nil {
			return 0, err
		}
		defer cleanup()
		if err := postgres.Migrate(ctx, pool); err != nil {
			return 0, err
		}
		return postgres.SchemaVersion(ctx, pool)
	}
	return 0, errors.New("no database configured")
}

// NewRedisClient returns the universal Redis client of cfg (plain, Sentinel or Cluster) and
// its cleanup. It does not dial: a Redis that is down at start makes the stores answer
// ports.ErrUnavailable until it is back. go-redis's own messages (one per failed dial) go to
// log at debug level: Monitor reports Redis going down and coming back once each.
func NewRedisClient(cfg redisadapter.Config, log *slog.Logger) (goredis.UniversalClient, func(), error) {
	redisLogOnce.Do(func() { goredis.SetLogger(redisLogger{log}) })
	return redisadapter.NewClient(cfg)
}

// redisLogOnce sets go-redis's process-wide logger once, before the first client exists.
var redisLogOnce sync.Once

type redisLogger struct{ l *slog.Logger }

func (r redisLogger) Printf(ctx context.Context, format string, v ...any) {
	r.l.DebugContext(ctx, "go-redis: "+fmt.Sprintf(format, v...))
}

// Dependency is a store a profile relies on, pinged by /ready (where its failure means
// "degraded", not "down") and every few seconds for keygate_dependency_up.
type Dependency struct {
	Name string // telemetry.DependencyRedis, DependencyDatabase
	Ping func(ctx context.Context) error
}

// Dependencies are a profile's stores; the memory profile has none.
type Dependencies []Dependency

// NoDependencies is the Dependencies of a profile whose stores are in memory.
func NoDependencies() Dependencies { return nil }

// RedisDependency pings Redis.
func RedisDependency(c goredis.UniversalClient) Dependency {
	return Dependency{Name: telemetry.DependencyRedis, Ping: func(ctx context.Context) error {
		if err := c.Ping(ctx).Err(); err != nil {
			return fmt.Errorf("redis: %w", err)
		}
		return nil
	}}
}

// RedisDependencies is the Dependencies of a profile with Redis and no database.
func RedisDependencies(c goredis.UniversalClient) Dependencies {
	return Dependencies{RedisDependency(c)}
}

// RedisMySQLDependencies is the Dependencies of the Redis + MySQL profile.
func RedisMySQLDependencies(c goredis.UniversalClient, db *sql.DB) Dependencies {
	return Dependencies{RedisDependency(c), {Name: telemetry.DependencyDatabase,
		Ping: func(ctx context.Context) error { return mysqladapter.Ping(ctx, db) }}}
}

// RedisPostgresDependencies is the Dependencies of the Redis + PostgreSQL profile.
func RedisPostgresDependencies(c goredis.UniversalClient, pool *pgxpool.Pool) Dependencies {
	return Dependencies{RedisDependency(c), {Name: telemetry.DependencyDatabase,
		Ping: func(ctx context.Context) error { return postgres.Ping(ctx, pool) }}}
}
