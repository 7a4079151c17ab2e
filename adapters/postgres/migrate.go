package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
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

// migration is one embedded schema step.
type migration struct {
	version int64
	name    string
	sql     string
}

// loadMigrations reads NNNN_name.up.sql files from fsys: versions 1, 2, 3... with no gap.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "migrations/*.up.sql")
	if err != nil {
		return nil, fmt.Errorf("postgres: migrations: %w", err)
	}
	var ms []migration
	for _, n := range names {
		base := strings.TrimSuffix(path.Base(n), ".up.sql")
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.ParseInt(num, 10, 64)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("postgres: migrations: bad file name %q", n)
		}
		body, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, fmt.Errorf("postgres: migrations: %w", err)
		}
		ms = append(ms, migration{version: v, name: base, sql: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != int64(i+1) {
			return nil, fmt.Errorf("postgres: migrations: expected version %d, found %s", i+1, m.name)
		}
	}
	return ms, nil
}

var embedded = sync.OnceValues(func() ([]migration, error) { return loadMigrations(migrationFiles) })

// LatestVersion returns the newest schema version this binary knows.
func LatestVersion() int64 {
	ms, err := embedded()
	if err != nil || len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].version
}

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
	ms, err := embedded()
	if err != nil {
		return err
	}
	return check(ctx, pool, ms)
}

func check(ctx context.Context, q querier, ms []migration) error {
	v, err := schemaVersion(ctx, q)
	if err != nil {
		return err
	}
	latest := int64(len(ms))
	switch {
	case v > latest:
		return fmt.Errorf("%w: database at version %d, this binary knows up to %d: upgrade keygate",
			ErrSchemaTooNew, v, latest)
	case v < latest:
		return fmt.Errorf("%w: database at version %d, this binary needs %d: run keygatectl migrate",
			ErrSchemaBehind, v, latest)
	}
	return nil
}

// Migrate applies the embedded migrations the database lacks, in order, each in its own
// transaction together with its row in the table schema_migrations, so a migration is applied
// whole or not at all. Concurrent calls from several processes are safe: each holds
// pg_advisory_lock while it works, so one applies and the others then find nothing to do. A
// re-run is a no-op. A database newer than this binary returns ErrSchemaTooNew and is left
// untouched.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	ms, err := embedded()
	if err != nil {
		return err
	}
	return migrate(ctx, pool, ms)
}

func migrate(ctx context.Context, pool *pgxpool.Pool, ms []migration) error {
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

	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
  version    bigint PRIMARY KEY,
  name       text NOT NULL,
  applied_at timestamptz NOT NULL
)`); err != nil {
		return wrap("migrate: create schema_migrations", err)
	}
	v, err := schemaVersion(ctx, conn)
	if err != nil {
		return err
	}
	if v > int64(len(ms)) {
		return check(ctx, conn, ms)
	}
	for _, m := range ms[v:] {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			// No arguments: pgx sends the file with the simple protocol, every statement in it.
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.version, m.name, time.Now().UTC())
			return err
		})
		if err != nil {
			return wrap("migrate: "+m.name, err)
		}
	}
	return nil
}
