package mysql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/keygate/keygate/adapters/internal/migration"
)

//go:embed migrations/*.up.sql
var migrationFiles embed.FS

// Errors of CheckSchema and Migrate.
var (
	// ErrSchemaTooNew: the database was migrated by a newer keygate than this binary; it must
	// not write to it.
	ErrSchemaTooNew = errors.New("mysql: database schema is newer than this binary knows")
	// ErrSchemaBehind: migrations this binary knows are not applied yet (keygatectl migrate).
	ErrSchemaBehind = errors.New("mysql: database schema is behind this binary")
)

// lockWait is how long Migrate waits for another process's migration to finish.
const lockWait = 60 * time.Second

// schema is the embedded migrations.
var schema = migration.NewSet(migrationFiles, "migrations", "mysql", ErrSchemaTooNew, ErrSchemaBehind)

// splitStatements splits a migration into statements: each ends with ';' at the end of a line;
// lines starting with "--" are comments.
func splitStatements(body string) []string {
	var out []string
	var cur strings.Builder
	for line := range strings.SplitSeq(body, "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(t, ";") {
			out = append(out, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}

// LatestVersion returns the newest schema version this binary knows.
func LatestVersion() int64 { return schema.Latest() }

// SchemaVersion returns the schema version the database is at: the highest applied migration,
// or 0 for a database keygate never migrated.
func SchemaVersion(ctx context.Context, db *sql.DB) (int64, error) {
	return schemaVersion(ctx, db)
}

// queryer is what SchemaVersion needs of a pool or a connection.
type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func schemaVersion(ctx context.Context, q queryer) (int64, error) {
	var v int64
	err := q.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	if code(err) == erNoSuchTable {
		return 0, nil
	}
	if err != nil {
		return 0, wrap("schema version", err)
	}
	return v, nil
}

// CheckSchema returns nil when the database is at exactly the schema version this binary
// knows; ErrSchemaTooNew (with both versions in the message) when a newer keygate migrated
// it, in which case the binary must stop; ErrSchemaBehind when migrations are pending.
func CheckSchema(ctx context.Context, db *sql.DB) error {
	v, err := schemaVersion(ctx, db)
	if err != nil {
		return err
	}
	return schema.Check(v)
}

// Migrate applies the embedded migrations the database lacks, in order, and records each in
// the table schema_migrations. Concurrent calls from several processes are safe: each holds
// the server lock GET_LOCK('keygate.migrate.<database>') while it works, so one applies and the
// others then find nothing to do. A re-run is a no-op. A database newer than this binary
// returns ErrSchemaTooNew and is left untouched. MySQL commits DDL at once, so every
// migration is written to be re-run safely if it was interrupted halfway.
func Migrate(ctx context.Context, db *sql.DB) error {
	if _, err := schema.Migrations(); err != nil {
		return err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return wrap("migrate", err)
	}
	defer conn.Close()
	const lockName = `LEFT(CONCAT('keygate.migrate.', DATABASE()), 64)`
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, `SELECT GET_LOCK(`+lockName+`, ?)`,
		int(lockWait/time.Second)).Scan(&got); err != nil {
		return wrap("migrate: lock", err)
	}
	if !got.Valid || got.Int64 != 1 {
		return fmt.Errorf("mysql: migrate: another migration held the lock for %s", lockWait)
	}
	defer func() {
		var released sql.NullInt64
		rerr := conn.QueryRowContext(context.WithoutCancel(ctx), `SELECT RELEASE_LOCK(`+lockName+`)`).Scan(&released)
		if rerr != nil {
			// Drop the connection, and the lock with it, rather than pool it still holding it.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	return schema.Run(ctx, target{conn})
}

// target is the migration.Target of a connection holding the migration lock.
type target struct{ conn *sql.Conn }

func (t target) CreateTable(ctx context.Context) error {
	if _, err := t.conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
  version    BIGINT NOT NULL,
  name       VARCHAR(255) NOT NULL,
  applied_at DATETIME(6) NOT NULL,
  PRIMARY KEY (version)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`); err != nil {
		return wrap("migrate: create schema_migrations", err)
	}
	return nil
}

func (t target) Version(ctx context.Context) (int64, error) { return schemaVersion(ctx, t.conn) }

// Apply runs m's statements one by one (MySQL has no transactional DDL) and records it.
func (t target) Apply(ctx context.Context, m migration.Migration) error {
	for i, s := range splitStatements(m.SQL) {
		if _, err := t.conn.ExecContext(ctx, s); err != nil {
			return wrap(fmt.Sprintf("migrate: %s: statement %d", m.Name, i+1), err)
		}
	}
	if _, err := t.conn.ExecContext(ctx,
		`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		m.Version, m.Name, time.Now().UTC().Truncate(time.Microsecond)); err != nil {
		return wrap("migrate: record "+m.Name, err)
	}
	return nil
}
