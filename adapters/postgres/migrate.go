package postgres

import (
	"context"
	"embed"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/keygate/keygate/adapters/internal/migration"
)

//go:embed migrations/*.up.sql
var migrationFiles embed.FS

// Errors of CheckSchema and Migrate.
var (
	// ErrSchemaTooNew: the database was migrated by a newer keygate than this binary; it must
	// not write to it.
	ErrSchemaTooNew = errors.New("postgres: database schema is newer than this binary knows")
	// ErrSchemaBehind: migrations this binary knows are not applied yet (keygatectl migrate).
	ErrSchemaBehind = errors.New("postgres: database schema is behind this binary")
)

// migrateLockID is the pg_advisory_lock key Migrate holds (advisory locks are per database):
// the first 8 bytes of "keygate!" read as a big-endian integer.
const migrateLockID int64 = 0x6b657967617465_21

// schema is the embedded migrations.
var schema = migration.NewSet(migrationFiles, "migrations", "postgres", ErrSchemaTooNew, ErrSchemaBehind)

// LatestVersion returns the newest schema version this binary knows.
func LatestVersion() int64 { return schema.Latest() }

// querier is what SchemaVersion needs of a pool, a connection or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// SchemaVersion returns the schema version the database is at: the highest applied migration,
// or 0 for a database keygate never migrated.
func SchemaVersion(ctx context.Context, pool *pgxpool.Pool) (int64, error) {
	return schemaVersion(ctx, pool)
}

func schemaVersion(ctx context.Context, q querier) (int64, error) {
	var v int64
	err := q.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	if pgCode(err) == codeUndefinedTable {
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
func CheckSchema(ctx context.Context, pool *pgxpool.Pool) error {
	v, err := schemaVersion(ctx, pool)
	if err != nil {
		return err
	}
	return schema.Check(v)
}

// Migrate applies the embedded migrations the database lacks, in order, each in its own
// transaction together with its row in the table schema_migrations, so a migration is applied
// whole or not at all. Concurrent calls from several processes are safe: each holds
// pg_advisory_lock while it works, so one applies and the others then find nothing to do. A
// re-run is a no-op. A database newer than this binary returns ErrSchemaTooNew and is left
// untouched.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	if _, err := schema.Migrations(); err != nil {
		return err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return wrap("migrate", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrateLockID); err != nil {
		return wrap("migrate: lock", err)
	}
	defer func() {
		if _, err := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrateLockID); err != nil {
			// Close the connection, and the lock with it, rather than pool it still holding it.
			_ = conn.Conn().Close(context.WithoutCancel(ctx))
		}
	}()
	return schema.Run(ctx, target{conn})
}

// target is the migration.Target of a connection holding the migration lock.
type target struct{ conn *pgxpool.Conn }

func (t target) CreateTable(ctx context.Context) error {
	if _, err := t.conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
  version    bigint PRIMARY KEY,
  name       text NOT NULL,
  applied_at timestamptz NOT NULL
)`); err != nil {
		return wrap("migrate: create schema_migrations", err)
	}
	return nil
}

func (t target) Version(ctx context.Context) (int64, error) { return schemaVersion(ctx, t.conn) }

// Apply runs m in one transaction together with its row in schema_migrations.
func (t target) Apply(ctx context.Context, m migration.Migration) error {
	err := pgx.BeginFunc(ctx, t.conn, func(tx pgx.Tx) error {
		// No arguments: pgx sends the file with the simple protocol, every statement in it.
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
			m.Version, m.Name, time.Now().UTC())
		return err
	})
	if err != nil {
		return wrap("migrate: "+m.Name, err)
	}
	return nil
}
