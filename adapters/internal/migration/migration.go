// Package migration is the part of schema migration the SQL adapters share: reading the
// embedded NNNN_name.up.sql files, comparing a database's version with the binary's, and the
// apply loop. What differs by database (the lock that makes concurrent runs safe, the
// schema_migrations DDL, how a file's statements run) stays in each adapter, behind Target.
// It imports only the standard library.
//
// pressly/goose was weighed against this package and not taken: it keeps its own version
// table (existing databases would re-run every migration), has no session lock for MySQL,
// works on *sql.DB where the postgres adapter holds a pgx pool, and does not refuse a
// database migrated by a newer binary (ErrSchemaTooNew).
package migration

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Migration is one schema step: the file NNNN_name.up.sql.
type Migration struct {
	Version int64
	Name    string // the file name without .up.sql
	SQL     string
}

// Load reads dir/NNNN_name.up.sql from fsys, in version order: versions 1, 2, 3... with no gap.
func Load(fsys fs.FS, dir string) ([]Migration, error) {
	names, err := fs.Glob(fsys, path.Join(dir, "*.up.sql"))
	if err != nil {
		return nil, fmt.Errorf("migration: %w", err)
	}
	var ms []Migration
	for _, n := range names {
		base := strings.TrimSuffix(path.Base(n), ".up.sql")
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.ParseInt(num, 10, 64)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration: bad file name %q", n)
		}
		body, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, fmt.Errorf("migration: %w", err)
		}
		ms = append(ms, Migration{Version: v, Name: base, SQL: string(body)})
	}
	slices.SortFunc(ms, func(a, b Migration) int { return int(a.Version - b.Version) })
	for i, m := range ms {
		if m.Version != int64(i+1) {
			return nil, fmt.Errorf("migration: expected version %d, found %s", i+1, m.Name)
		}
	}
	return ms, nil
}

// Latest returns the newest version of ms (0 for none).
func Latest(ms []Migration) int64 { return int64(len(ms)) }

// Set is one adapter's embedded migrations, read once, and the errors it answers a database
// of another version with.
type Set struct {
	load           func() ([]Migration, error)
	tooNew, behind error
}

// NewSet returns the Set of dir/NNNN_name.up.sql in fsys; adapter prefixes its load errors.
// Nothing is read before the first use.
func NewSet(fsys fs.FS, dir, adapter string, tooNew, behind error) *Set {
	return &Set{tooNew: tooNew, behind: behind, load: sync.OnceValues(func() ([]Migration, error) {
		ms, err := Load(fsys, dir)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", adapter, err)
		}
		return ms, nil
	})}
}

// Migrations returns the set's migrations in version order.
func (s *Set) Migrations() ([]Migration, error) { return s.load() }

// Latest returns the newest version the set knows (0 if it cannot be read).
func (s *Set) Latest() int64 {
	ms, _ := s.load()
	return Latest(ms)
}

// Check is Check of a database at version v against the set.
func (s *Set) Check(v int64) error {
	ms, err := s.load()
	if err != nil {
		return err
	}
	return Check(v, Latest(ms), s.tooNew, s.behind)
}

// Run is Run of the set on t.
func (s *Set) Run(ctx context.Context, t Target) error {
	ms, err := s.load()
	if err != nil {
		return err
	}
	return Run(ctx, t, ms, s.tooNew, s.behind)
}

// Check compares a database at version v with a binary that knows up to latest: nil when they
// are equal; tooNew (wrapped, naming both versions and the remedy) when a newer keygate
// migrated the database; behind when migrations are pending.
func Check(v, latest int64, tooNew, behind error) error {
	switch {
	case v > latest:
		return fmt.Errorf("%w: database at version %d, this binary knows up to %d: upgrade keygate",
			tooNew, v, latest)
	case v < latest:
		return fmt.Errorf("%w: database at version %d, this binary needs %d: run keygatectl migrate",
			behind, v, latest)
	}
	return nil
}

// Target is one database, on one connection that holds the adapter's migration lock.
type Target interface {
	// CreateTable creates schema_migrations if it does not exist.
	CreateTable(ctx context.Context) error
	// Version returns the highest version in schema_migrations.
	Version(ctx context.Context) (int64, error)
	// Apply runs m and records it in schema_migrations.
	Apply(ctx context.Context, m Migration) error
}

// Run applies the migrations of ms that t lacks, in order. A database newer than ms is left
// untouched and answers Check's tooNew error. The caller holds the lock.
func Run(ctx context.Context, t Target, ms []Migration, tooNew, behind error) error {
	if err := t.CreateTable(ctx); err != nil {
		return err
	}
	v, err := t.Version(ctx)
	if err != nil {
		return err
	}
	if v > Latest(ms) {
		return Check(v, Latest(ms), tooNew, behind)
	}
	for _, m := range ms[v:] {
		if err := t.Apply(ctx, m); err != nil {
			return err
		}
	}
	return nil
}
