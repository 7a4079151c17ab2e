package portstest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate/core/identity"
	"github.com/keygate/keygate/ports"
)

// Schema is what RunMigrations needs of a SQL adapter's migrations, on one pool of one
// database. Migrations are no port (apps call the adapter's Migrate, CheckSchema and
// SchemaVersion directly), but every SQL adapter must keep the same promises about them.
type Schema struct {
	Migrate       func(ctx context.Context) error
	CheckSchema   func(ctx context.Context) error
	SchemaVersion func(ctx context.Context) (int64, error)
	Latest        int64 // the adapter's LatestVersion
	ErrTooNew     error // the adapter's ErrSchemaTooNew
	ErrBehind     error // the adapter's ErrSchemaBehind
	// Count returns SELECT COUNT(*) FROM table.
	Count func(ctx context.Context, table string) (int64, error)
	// Record inserts version into schema_migrations, as a newer keygate's Migrate would.
	Record func(ctx context.Context, version int64) error
	Users  ports.UserRepo // on the same pool
}

// Tables are the tables a fully migrated keygate database has.
var Tables = []string{"users", "oauth_links", "audit_events", "signing_keys", "schema_migrations"}

// RunMigrations is the contract of a SQL adapter's migrations. newDB creates an empty database
// and returns a function that opens a new pool on it each time it is called (one per process).
// The cases: from empty to the latest version; several processes migrating at once, then
// re-runs that are no-ops and keep the data; and a database migrated by a newer keygate, which
// CheckSchema and Migrate refuse.
func RunMigrations(t *testing.T, newDB func(t *testing.T) func(t *testing.T) Schema) {
	t.Run("MigrateFromEmpty", func(t *testing.T) {
		s := newDB(t)(t)
		if v, err := s.SchemaVersion(t.Context()); err != nil || v != 0 {
			t.Fatalf("SchemaVersion of an empty database = %d, %v; want 0, nil", v, err)
		}
		if err := s.CheckSchema(t.Context()); !errors.Is(err, s.ErrBehind) {
			t.Errorf("CheckSchema of an empty database = %v, want ErrSchemaBehind", err)
		}
		if err := s.Migrate(t.Context()); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		if err := s.CheckSchema(t.Context()); err != nil {
			t.Errorf("CheckSchema after Migrate = %v, want nil", err)
		}
		v, err := s.SchemaVersion(t.Context())
		if err != nil || v != s.Latest || v < 1 {
			t.Errorf("SchemaVersion after Migrate = %d, %v; want %d", v, err, s.Latest)
		}
		for _, table := range Tables {
			if _, err := s.Count(t.Context(), table); err != nil {
				t.Errorf("table %s after Migrate: %v", table, err)
			}
		}
	})
	t.Run("MigrateConcurrentAndIdempotent", func(t *testing.T) {
		open := newDB(t)
		const n = 4
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			s := open(t) // one pool per "process"
			wg.Go(func() { errs[i] = s.Migrate(t.Context()) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("concurrent Migrate %d: %v", i, err)
			}
		}
		s := open(t)
		// A re-run is a no-op, and keeps the data.
		u := identity.User{ID: identity.NewID(), Email: "keep@example.org", CreatedAt: time.Now()}
		if err := s.Users.Create(t.Context(), u); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if err := s.Migrate(t.Context()); err != nil {
				t.Fatalf("Migrate re-run: %v", err)
			}
		}
		rows, err := s.Count(t.Context(), "schema_migrations")
		if err != nil {
			t.Fatal(err)
		}
		if rows != s.Latest {
			t.Errorf("schema_migrations has %d rows after concurrent and repeated Migrate, want %d", rows, s.Latest)
		}
		if _, err := s.Users.ByEmail(t.Context(), u.Email); err != nil {
			t.Errorf("user after Migrate re-run: %v", err)
		}
	})
	t.Run("NewerSchemaStops", func(t *testing.T) {
		s := newDB(t)(t)
		if err := s.Migrate(t.Context()); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		newer := s.Latest + 1
		if err := s.Record(t.Context(), newer); err != nil {
			t.Fatal(err)
		}
		err := s.CheckSchema(t.Context())
		if !errors.Is(err, s.ErrTooNew) {
			t.Fatalf("CheckSchema of a newer database = %v, want ErrSchemaTooNew", err)
		}
		if msg := err.Error(); !strings.Contains(msg, fmt.Sprint(newer)) || !strings.Contains(msg, "upgrade") {
			t.Errorf("CheckSchema message %q does not name the version and the remedy", msg)
		}
		if err := s.Migrate(t.Context()); !errors.Is(err, s.ErrTooNew) {
			t.Errorf("Migrate of a newer database = %v, want ErrSchemaTooNew", err)
		}
	})
}
