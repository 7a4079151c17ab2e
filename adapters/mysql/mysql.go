// Package mysql implements the UserRepo, AuditLog and KeyStore ports on MySQL 8.0 and MariaDB
// 10.11 through go-sql-driver/mysql. It uses only SQL that both servers accept. Its schema is
// embedded (migrations/NNNN_name.up.sql) and applied by Migrate; CheckSchema tells a binary
// whether the database matches it.
//
// Because the package shares its name with the driver, importers use the alias mysqladapter.
//
// Storage rules: e-mail addresses (already normalised by the core) and identifiers are
// VARBINARY, so they compare byte for byte with no padding and no collation on either server;
// times are DATETIME(6) in UTC, truncated to the microsecond, with a zero time stored as NULL;
// roles are a JSON array. Driver errors are translated by code: 1062 (duplicate) is
// ports.ErrConflict, lost or refused connections and timeouts are ports.ErrUnavailable.
package mysql

import (
	"context"
	"crypto/tls"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/keygate/keygate/ports"
)

// Config says where the database is and how big the pool may grow. Either DSN or Host is set.
type Config struct {
	// DSN is a go-sql-driver DSN ("user:pass@tcp(host:3306)/keygate?param=value") or a URL
	// ("mysql://user:pass@host:3306/keygate"). When set, Host, Port, User, Password and Name
	// are ignored. The settings keygate relies on (see Open) override the DSN's.
	DSN string
	// Host, Port (default 3306), User, Password and Name (the database) are used without DSN.
	Host     string
	Port     int
	User     string
	Password string
	Name     string
	// MaxOpen bounds the open connections (default 20); MaxIdle the idle ones (default MaxOpen).
	MaxOpen int
	MaxIdle int
	// ConnMaxLifetime (default 30m) and ConnMaxIdleTime (default 5m) recycle connections.
	ConnMaxLifetime time.Duration
	ConnMaxIdleTime time.Duration
	// DialTimeout bounds opening one connection (default 5s). ReadTimeout and WriteTimeout
	// bound one network read or write (default none: a caller bounds its query with its
	// context's deadline, and a migration may take long).
	DialTimeout  time.Duration
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	// Logger receives the driver's own messages (a bad idle connection closed, a broken
	// packet) at level Warn; nil discards them.
	Logger *slog.Logger
	// TLS, when set, makes every connection use TLS with it, never falling back to
	// plaintext; its ServerName defaults to the host. It overrides a DSN's tls parameter.
	// Nil: the DSN's tls parameter decides (none by default).
	TLS *tls.Config
}

// driverLogger passes the driver's messages to slog.
type driverLogger struct{ l *slog.Logger }

func (d driverLogger) Print(v ...any) {
	if d.l != nil {
		d.l.Warn("mysql driver", "detail", strings.TrimSpace(fmt.Sprint(v...)))
	}
}

// sqlMode is the session sql_mode: strict, so that nothing is silently truncated or coerced
// (a truncated e-mail could collide with another). Both MySQL 8.0 and MariaDB 10.11 accept it.
const sqlMode = "'STRICT_TRANS_TABLES,STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE," +
	"ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION'"

// DriverConfig returns the driver configuration of cfg with the settings keygate relies on:
// parseTime with times in UTC, multiStatements off, utf8mb4, a strict sql_mode, time_zone UTC,
// and the timeouts. It is exported for tools that need a DSN (cfg.FormatDSN()).
func DriverConfig(c Config) (*mysqldriver.Config, error) {
	var dc *mysqldriver.Config
	switch {
	case c.DSN != "":
		dsn := c.DSN
		if strings.HasPrefix(dsn, "mysql://") {
			var err error
			if dsn, err = urlToDSN(dsn); err != nil {
				return nil, err
			}
		}
		var err error
		dc, err = mysqldriver.ParseDSN(dsn)
		if err != nil {
			return nil, fmt.Errorf("mysql: parse DSN: %w", err)
		}
	case c.Host != "":
		dc = mysqldriver.NewConfig()
		port := c.Port
		if port == 0 {
			port = 3306
		}
		dc.Net = "tcp"
		dc.Addr = net.JoinHostPort(c.Host, strconv.Itoa(port))
		dc.User, dc.Passwd, dc.DBName = c.User, c.Password, c.Name
	default:
		return nil, errors.New("mysql: config: neither DSN nor host set")
	}
	if dc.DBName == "" {
		return nil, errors.New("mysql: config: no database name")
	}
	dc.ParseTime = true
	dc.Loc = time.UTC
	dc.MultiStatements = false
	dc.InterpolateParams = false // real server-side parameters, never client-side quoting
	dc.AllowAllFiles = false
	dc.CheckConnLiveness = true
	if err := dc.Apply(mysqldriver.Charset("utf8mb4", "utf8mb4_bin")); err != nil {
		return nil, fmt.Errorf("mysql: config: %w", err)
	}
	if dc.Params == nil {
		dc.Params = map[string]string{}
	}
	dc.Params["sql_mode"] = sqlMode
	dc.Params["time_zone"] = "'+00:00'"
	dc.Logger = driverLogger{c.Logger}
	dc.Timeout = orDefault(c.DialTimeout, dc.Timeout, 5*time.Second)
	dc.ReadTimeout = orDefault(c.ReadTimeout, dc.ReadTimeout, 0)
	dc.WriteTimeout = orDefault(c.WriteTimeout, dc.WriteTimeout, 0)
	if c.TLS != nil {
		dc.TLS = c.TLS.Clone()
		dc.TLSConfig = ""
		dc.AllowFallbackToPlaintext = false
		if dc.TLS.ServerName == "" {
			if host, _, err := net.SplitHostPort(dc.Addr); err == nil {
				dc.TLS.ServerName = host
			}
		}
	}
	return dc, nil
}

// orDefault returns set if positive, else dsn if positive, else def.
func orDefault(set, dsn, def time.Duration) time.Duration {
	switch {
	case set > 0:
		return set
	case dsn > 0:
		return dsn
	}
	return def
}

// urlToDSN turns mysql://user:pass@host:port/name?params into a driver DSN.
func urlToDSN(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("mysql: parse URL: %w", errors.Unwrap(err))
	}
	if u.Host == "" {
		return "", errors.New("mysql: parse URL: no host")
	}
	dc := mysqldriver.NewConfig()
	dc.Net = "tcp"
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "3306")
	}
	dc.Addr = host
	dc.User = u.User.Username()
	dc.Passwd, _ = u.User.Password()
	dc.DBName = strings.TrimPrefix(u.Path, "/")
	dsn := dc.FormatDSN()
	if u.RawQuery != "" {
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		dsn += sep + u.RawQuery
	}
	return dsn, nil
}

// Open opens a connection pool with keygate's session settings (see DriverConfig) and pings
// the server. The returned function closes the pool. An unreachable server returns an error
// wrapping ports.ErrUnavailable; Open does not migrate (see Migrate).
func Open(ctx context.Context, cfg Config) (*sql.DB, func(), error) {
	dc, err := DriverConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	conn, err := mysqldriver.NewConnector(dc)
	if err != nil {
		return nil, nil, fmt.Errorf("mysql: open: %w", err)
	}
	db := sql.OpenDB(conn)
	maxOpen := cfg.MaxOpen
	if maxOpen <= 0 {
		maxOpen = 20
	}
	maxIdle := cfg.MaxIdle
	if maxIdle <= 0 || maxIdle > maxOpen {
		maxIdle = maxOpen
	}
	db.SetMaxOpenConns(maxOpen)
	db.SetMaxIdleConns(maxIdle)
	db.SetConnMaxLifetime(orDefault(cfg.ConnMaxLifetime, 0, 30*time.Minute))
	db.SetConnMaxIdleTime(orDefault(cfg.ConnMaxIdleTime, 0, 5*time.Minute))
	if err := Ping(ctx, db); err != nil {
		_ = db.Close()
		return nil, nil, err
	}
	return db, func() { _ = db.Close() }, nil
}

// Ping checks that the database answers, for a readiness probe. A server that cannot be
// reached returns an error wrapping ports.ErrUnavailable.
func Ping(ctx context.Context, db *sql.DB) error {
	if err := db.PingContext(ctx); err != nil {
		return wrap("ping", err)
	}
	return nil
}

// MySQL and MariaDB server error numbers the adapter tells apart.
const (
	erDupEntry            = 1062 // ER_DUP_ENTRY
	erDupEntryWithKeyName = 1586 // ER_DUP_ENTRY_WITH_KEY_NAME
	erNoReferencedRow     = 1216 // ER_NO_REFERENCED_ROW
	erNoReferencedRow2    = 1452 // ER_NO_REFERENCED_ROW_2
	erNoSuchTable         = 1146 // ER_NO_SUCH_TABLE
)

// unavailableCodes are server errors that mean "cannot answer now": too many connections,
// shutting down, lock wait timeout, deadlock, query interrupted or timed out, connection killed.
var unavailableCodes = map[uint16]bool{
	1040: true, // ER_CON_COUNT_ERROR
	1053: true, // ER_SERVER_SHUTDOWN
	1205: true, // ER_LOCK_WAIT_TIMEOUT
	1213: true, // ER_LOCK_DEADLOCK
	1317: true, // ER_QUERY_INTERRUPTED
	1927: true, // ER_CONNECTION_KILLED (MariaDB)
	1969: true, // ER_STATEMENT_TIMEOUT (MariaDB)
	3024: true, // ER_QUERY_TIMEOUT (MySQL)
	4031: true, // ER_CLIENT_INTERACTION_TIMEOUT (MySQL)
}

// code returns the server error number of err, or 0.
func code(err error) uint16 {
	var me *mysqldriver.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}

// unavailable reports whether err means the server could not be reached or did not answer in
// time. It looks at types and codes only, never at messages.
func unavailable(err error) bool {
	if c := code(err); c != 0 {
		return unavailableCodes[c]
	}
	var ne net.Error
	return errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, mysqldriver.ErrInvalidConn) ||
		errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.As(err, &ne)
}

// wrap translates a driver error into the port vocabulary and prefixes it with the operation:
// no rows is ports.ErrNotFound, a duplicate key ports.ErrConflict, a lost connection or a
// timeout ports.ErrUnavailable. Any other error is wrapped as it is.
func wrap(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ports.ErrNotFound), errors.Is(err, ports.ErrConflict),
		errors.Is(err, ports.ErrUnavailable):
		return fmt.Errorf("mysql: %s: %w", op, err)
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("mysql: %s: %w", op, ports.ErrNotFound)
	case code(err) == erDupEntry || code(err) == erDupEntryWithKeyName:
		return fmt.Errorf("mysql: %s: %w: %w", op, ports.ErrConflict, err)
	case unavailable(err):
		return fmt.Errorf("mysql: %s: %w: %w", op, ports.ErrUnavailable, err)
	}
	return fmt.Errorf("mysql: %s: %w", op, err)
}

// timeArg returns t in UTC truncated to the microsecond for a DATETIME(6) column, or nil (NULL)
// for the zero time, which the driver would otherwise write as the invalid 0000-00-00.
func timeArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Truncate(time.Microsecond)
}

// fromNull returns the time of a nullable column in UTC, or the zero time for NULL.
func fromNull(t sql.NullTime) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}

// norm returns t as it reads back from the database.
func norm(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// rollback ends tx after a failure; its own error adds nothing to the first one.
func rollback(tx *sql.Tx) { _ = tx.Rollback() }
