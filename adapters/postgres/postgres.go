// Package postgres implements the UserRepo, AuditLog and KeyStore ports on PostgreSQL through
// pgx v5 (pgxpool). Its schema is embedded (migrations/NNNN_name.up.sql) and applied by
// Migrate, one transaction per migration; CheckSchema tells a binary whether the database
// matches it.
//
// Storage rules: e-mail addresses (already normalised by the core) and identifiers are text in
// the "C" collation, so they compare and sort byte for byte whatever the database's locale;
// times are timestamptz (microseconds), read back in UTC, with a zero time stored as NULL; roles
// are a text[]. Driver errors are translated by SQLSTATE: 23505 (unique violation) is
// ports.ErrConflict, failed or lost connections and timeouts are ports.ErrUnavailable.
package postgres

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/keygate/keygate/ports"
)

// Config says where the database is and how big the pool may grow. Either DSN or Host is set.
type Config struct {
	// DSN is a PostgreSQL URL ("postgres://user:pass@host:5432/keygate?sslmode=disable") or a
	// keyword/value string ("host=... dbname=..."). When set, Host, Port, User, Password and
	// Name are ignored.
	DSN string
	// Host, Port (default 5432), User, Password and Name (the database) are used without DSN;
	// SSLMode is then the sslmode (default "prefer", libpq's).
	Host     string
	Port     int
	User     string
	Password string
	Name     string
	SSLMode  string
	// MaxConns bounds the pool (default 20); MinConns keeps that many open (default 0).
	MaxConns int32
	MinConns int32
	// ConnMaxLifetime (default 30m) and ConnMaxIdleTime (default 5m) recycle connections.
	ConnMaxLifetime time.Duration
	ConnMaxIdleTime time.Duration
	// DialTimeout bounds opening one connection (default 5s).
	DialTimeout time.Duration
	// TLS, when set, makes every connection use TLS with it and never fall back to plaintext
	// (as sslmode=verify-full does with the system's roots); its ServerName defaults to each
	// host. It overrides the DSN's sslmode. Nil: sslmode decides (a DSN's sslmode and
	// sslrootcert work as in libpq).
	TLS *tls.Config
}

// PoolConfig returns the pgxpool configuration of cfg. It is exported for tools that need to
// adjust it before opening a pool themselves.
func PoolConfig(c Config) (*pgxpool.Config, error) {
	dsn := c.DSN
	if dsn == "" {
		if c.Host == "" {
			return nil, errors.New("postgres: config: neither DSN nor host set")
		}
		if c.Name == "" {
			return nil, errors.New("postgres: config: no database name")
		}
		port := c.Port
		if port == 0 {
			port = 5432
		}
		u := url.URL{Scheme: "postgres", Host: net.JoinHostPort(c.Host, strconv.Itoa(port)), Path: "/" + c.Name}
		if c.User != "" {
			u.User = url.UserPassword(c.User, c.Password)
			if c.Password == "" {
				u.User = url.User(c.User)
			}
		}
		if c.SSLMode != "" {
			u.RawQuery = url.Values{"sslmode": {c.SSLMode}}.Encode()
		}
		dsn = u.String()
	}
	pc, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors may echo the DSN, password included: keep only the kind.
		return nil, errors.New("postgres: parse DSN: invalid connection string")
	}
	pc.MaxConns = 20
	if c.MaxConns > 0 {
		pc.MaxConns = c.MaxConns
	}
	if c.MinConns > 0 {
		pc.MinConns = min(c.MinConns, pc.MaxConns)
	}
	pc.MaxConnLifetime = orDefault(c.ConnMaxLifetime, 30*time.Minute)
	pc.MaxConnIdleTime = orDefault(c.ConnMaxIdleTime, 5*time.Minute)
	if c.DialTimeout > 0 || pc.ConnConfig.ConnectTimeout == 0 {
		pc.ConnConfig.ConnectTimeout = orDefault(c.DialTimeout, 5*time.Second)
	}
	if pc.ConnConfig.RuntimeParams == nil {
		pc.ConnConfig.RuntimeParams = map[string]string{}
	}
	if c.TLS != nil {
		withTLS := func(host string) *tls.Config {
			tc := c.TLS.Clone()
			if tc.ServerName == "" {
				tc.ServerName = host
			}
			return tc
		}
		pc.ConnConfig.TLSConfig = withTLS(pc.ConnConfig.Host)
		// sslmode=prefer and allow add plaintext fallbacks: keep one TLS attempt per host.
		var fbs []*pgconn.FallbackConfig
		for _, fb := range pc.ConnConfig.Fallbacks {
			if fb.TLSConfig != nil && !(fb.Host == pc.ConnConfig.Host && fb.Port == pc.ConnConfig.Port) {
				fbs = append(fbs, &pgconn.FallbackConfig{Host: fb.Host, Port: fb.Port, TLSConfig: withTLS(fb.Host)})
			}
		}
		pc.ConnConfig.Fallbacks = fbs
	}
	pc.ConnConfig.RuntimeParams["timezone"] = "UTC"
	if _, ok := pc.ConnConfig.RuntimeParams["application_name"]; !ok {
		pc.ConnConfig.RuntimeParams["application_name"] = "keygate"
	}
	return pc, nil
}

// orDefault returns d if positive, else def.
func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Open opens a connection pool and pings the server. The returned function closes the pool.
// An unreachable server returns an error wrapping ports.ErrUnavailable; Open does not migrate
// (see Migrate).
func Open(ctx context.Context, cfg Config) (*pgxpool.Pool, func(), error) {
	pc, err := PoolConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, nil, wrap("open", err)
	}
	if err := Ping(ctx, pool); err != nil {
		pool.Close()
		return nil, nil, err
	}
	return pool, pool.Close, nil
}

// Ping checks that the database answers, for a readiness probe. A server that cannot be
// reached returns an error wrapping ports.ErrUnavailable.
func Ping(ctx context.Context, pool *pgxpool.Pool) error {
	if err := pool.Ping(ctx); err != nil {
		return wrap("ping", err)
	}
	return nil
}

// SQLSTATE codes the adapter tells apart.
const (
	codeUniqueViolation     = "23505"
	codeForeignKeyViolation = "23503"
	codeUndefinedTable      = "42P01"
)

// unavailableCodes are server errors that mean "cannot answer now" (besides class 08,
// connection exception): too many connections, shutting down, starting up, lock or statement
// timeout, serialization failure, deadlock.
var unavailableCodes = map[string]bool{
	"53300": true, // too_many_connections
	"57P01": true, // admin_shutdown
	"57P02": true, // crash_shutdown
	"57P03": true, // cannot_connect_now
	"55P03": true, // lock_not_available
	"57014": true, // query_canceled (statement_timeout)
	"40001": true, // serialization_failure
	"40P01": true, // deadlock_detected
}

// pgCode returns the SQLSTATE of err, or "".
func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// unavailable reports whether err means the server could not be reached or did not answer in
// time. It looks at types and codes only, never at messages.
func unavailable(err error) bool {
	var (
		ce *pgconn.ConnectError
		ne net.Error
	)
	if errors.As(err, &ce) {
		return true
	}
	if c := pgCode(err); c != "" {
		return unavailableCodes[c] || strings.HasPrefix(c, "08")
	}
	return pgconn.Timeout(err) ||
		pgconn.SafeToRetry(err) ||
		errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.As(err, &ne)
}

// wrap translates a driver error into the port vocabulary and prefixes it with the operation:
// no rows is ports.ErrNotFound, a unique violation ports.ErrConflict, a lost connection or a timeout ports.ErrUnavailable.
// Any other error is wrapped as it is.
func wrap(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ports.ErrNotFound), errors.Is(err, ports.ErrConflict),
		errors.Is(err, ports.ErrUnavailable):
		return fmt.Errorf("postgres: %s: %w", op, err)
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("postgres: %s: %w", op, ports.ErrNotFound)
	case pgCode(err) == codeUniqueViolation:
		return fmt.Errorf("postgres: %s: %w: %w", op, ports.ErrConflict, err)
	case unavailable(err):
		return fmt.Errorf("postgres: %s: %w: %w", op, ports.ErrUnavailable, err)
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// storable reports whether every s can be stored in a text column: valid UTF-8 without NUL.
// A lookup by a value that is not storable cannot match, so it answers "not found" without
// asking the server (which would refuse the parameter).
func storable(ss ...string) bool {
	for _, s := range ss {
		if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
			return false
		}
	}
	return true
}

// timeArg returns t in UTC truncated to the microsecond, or nil (NULL) for the zero time.
func timeArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Truncate(time.Microsecond)
}

// fromNull returns the time of a nullable column in UTC, or the zero time for NULL.
func fromNull(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// norm returns t as it reads back from the database.
func norm(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}
