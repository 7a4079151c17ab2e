package mysql

import (
	"context"
	"database/sql"
	"sync"
)

// stmts prepares each query once per pool and reuses it, so a call costs one round trip
// (execute) instead of three (prepare, execute, close) while the parameters stay real
// server-side parameters. database/sql prepares a statement again on each connection that
// needs it, including the new ones after the server restarts. A failed prepare is not cached.
type stmts struct {
	db *sql.DB
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

func newStmts(db *sql.DB) *stmts { return &stmts{db: db, m: map[string]*sql.Stmt{}} }

func (s *stmts) get(ctx context.Context, query string) (*sql.Stmt, error) {
	s.mu.Lock()
	st, ok := s.m[query]
	s.mu.Unlock()
	if ok {
		return st, nil
	}
	// Prepare outside the lock: a hung server must not hold up callers past their deadline.
	st, err := s.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.m[query]; ok {
		_ = st.Close()
		return old, nil
	}
	s.m[query] = st
	return st, nil
}

// exec runs a statement that returns no rows.
func (s *stmts) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := s.get(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// queryRow runs a query that returns at most one row.
func (s *stmts) queryRow(ctx context.Context, query string, args ...any) rowScanner {
	st, err := s.get(ctx, query)
	if err != nil {
		return errRow{err}
	}
	return st.QueryRowContext(ctx, args...)
}

// query runs a query that returns rows.
func (s *stmts) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := s.get(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// errRow is a row whose Scan returns the error that kept the query from running.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
