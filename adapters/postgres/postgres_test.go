package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/keygate/keygate/adapters/postgres"
	"github.com/keygate/keygate/core/identity"
	"github.com/keygate/keygate/ports"
	"github.com/keygate/keygate/ports/portstest"
	"github.com/keygate/keygate/test/containers"
)

// The adapter runs against KEYGATE_POSTGRES_IMAGE: postgres:16-alpine by default, Debian's
// PostgreSQL 15 (the testbed image) in CI.

func TestPostgres(t *testing.T) { testServer(t, containers.StartPostgres(t)) }

func testServer(t *testing.T, srv *containers.Postgres) {
	t.Run("UserRepo", func(t *testing.T) {
		portstest.RunUserRepo(t, func(t *testing.T) ports.UserRepo { return postgres.NewUserRepo(freshDB(t, srv)) })
	})
	t.Run("AuditLog", func(t *testing.T) {
		portstest.RunAuditLog(t, func(t *testing.T) ports.AuditLog { return postgres.NewAuditLog(freshDB(t, srv)) })
	})
	t.Run("KeyStore", func(t *testing.T) {
		portstest.RunKeyStore(t, func(t *testing.T) ports.KeyStore { return postgres.NewKeyStore(freshDB(t, srv)) })
	})
	t.Run("KeyStoreReplicas", func(t *testing.T) {
		portstest.RunKeyStoreReplicas(t, func(t *testing.T) (ports.KeyStore, ports.KeyStore) {
			name := srv.CreateDatabase(t)
			a, b := open(t, srv, name), open(t, srv, name) // two pools, as two authd replicas
			if err := postgres.Migrate(t.Context(), a); err != nil {
				t.Fatalf("Migrate: %v", err)
			}
			return postgres.NewKeyStore(a), postgres.NewKeyStore(b)
		})
	})
	portstest.RunMigrations(t, func(t *testing.T) func(t *testing.T) portstest.Schema {
		name := srv.CreateDatabase(t)
		return func(t *testing.T) portstest.Schema { return schema(open(t, srv, name)) }
	})
	t.Run("EmailColumnComparesBytes", func(t *testing.T) { testEmailColumn(t, srv) })
	t.Run("InjectionPayloads", func(t *testing.T) { testInjection(t, srv) })
	t.Run("Config", func(t *testing.T) { testConfig(t, srv) })
	// Last: it stops the server.
	portstest.RunDatabaseOutages(t, func(t *testing.T) portstest.Database {
		db := freshDB(t, srv)
		return portstest.Database{Users: postgres.NewUserRepo(db), Keys: postgres.NewKeyStore(db),
			Audit: postgres.NewAuditLog(db), Ping: func(ctx context.Context) error { return postgres.Ping(ctx, db) }}
	}, portstest.Server{
		Pause: srv.Pause, Unpause: srv.Unpause,
		Stop:  func(t testing.TB) { srv.Stop(t, 10*time.Second) },
		Start: func(t testing.TB) { srv.Start(t); srv.WaitReady(t, 2*time.Minute) },
	})
}

// config returns the adapter's configuration for database name of srv.
func config(srv *containers.Postgres, name string) postgres.Config {
	return postgres.Config{Host: srv.Host, Port: srv.Port, User: srv.User, Password: srv.Password, Name: name,
		SSLMode: "disable"}
}

// open opens a pool on database name of srv.
func open(t *testing.T, srv *containers.Postgres, name string) *pgxpool.Pool {
	t.Helper()
	db, closeDB, err := postgres.Open(t.Context(), config(srv, name))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(closeDB)
	return db
}

// freshDB returns a pool on a new, migrated database.
func freshDB(t *testing.T, srv *containers.Postgres) *pgxpool.Pool {
	t.Helper()
	db := open(t, srv, srv.CreateDatabase(t))
	if err := postgres.Migrate(t.Context(), db); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return db
}

// schema is what portstest.RunMigrations needs of the adapter, on db.
func schema(db *pgxpool.Pool) portstest.Schema {
	return portstest.Schema{
		Migrate:       func(ctx context.Context) error { return postgres.Migrate(ctx, db) },
		CheckSchema:   func(ctx context.Context) error { return postgres.CheckSchema(ctx, db) },
		SchemaVersion: func(ctx context.Context) (int64, error) { return postgres.SchemaVersion(ctx, db) },
		Latest:        postgres.LatestVersion(),
		ErrTooNew:     postgres.ErrSchemaTooNew,
		ErrBehind:     postgres.ErrSchemaBehind,
		Count: func(ctx context.Context, table string) (n int64, err error) {
			err = db.QueryRow(ctx, "SELECT COUNT(*) FROM "+table).Scan(&n)
			return n, err
		},
		Record: func(ctx context.Context, version int64) error {
			_, err := db.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at)
				VALUES ($1, 'from_the_future', now())`, version)
			return err
		},
		Users: postgres.NewUserRepo(db),
	}
}

func testEmailColumn(t *testing.T, srv *containers.Postgres) {
	db := freshDB(t, srv)
	// The e-mail column compares bytes, whatever the database's locale.
	var coll string
	if err := db.QueryRow(t.Context(), `SELECT collation_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = 'users' AND column_name = 'email'`).Scan(&coll); err != nil {
		t.Fatal(err)
	}
	if coll != "C" {
		t.Errorf("users.email has collation %q, want C", coll)
	}
}

// testInjection sends the L-10 payloads through every lookup: nothing matches, no row is
// added, and no error echoes SQL.
func testInjection(t *testing.T, srv *containers.Postgres) {
	db := freshDB(t, srv)
	users := postgres.NewUserRepo(db)
	log := postgres.NewAuditLog(db)
	victim := identity.User{ID: identity.NewID(), Email: "victim@example.org", CreatedAt: time.Now()}
	if err := users.Create(t.Context(), victim); err != nil {
		t.Fatal(err)
	}
	payloads := []struct{ name, s string }{
		{"or true", "' OR 1=1 -- "},
		{"or true double quote", `" OR "1"="1`},
		{"backslash", `\`},
		{"backslash quote", `\' OR 1=1 #`},
		{"stacked", "x'; DROP TABLE users; --"},
		{"union", "' UNION SELECT * FROM users -- "},
		{"nul", "victim@example.org\x00"},
		{"10 KB", strings.Repeat("a", 10<<10) + "@example.org"},
	}
	for _, p := range payloads {
		t.Run(p.name, func(t *testing.T) {
			if _, err := users.ByEmail(t.Context(), p.s); !errors.Is(err, ports.ErrNotFound) {
				t.Errorf("ByEmail = %v, want ErrNotFound", err)
			}
			if _, err := users.ByID(t.Context(), p.s); !errors.Is(err, ports.ErrNotFound) {
				t.Errorf("ByID = %v, want ErrNotFound", err)
			}
			if _, err := users.ByLink(t.Context(), p.s, p.s); !errors.Is(err, ports.ErrNotFound) {
				t.Errorf("ByLink = %v, want ErrNotFound", err)
			}
			if es, err := log.ByUser(t.Context(), p.s, 10); err != nil || len(es) != 0 {
				t.Errorf("ByUser = %d events, %v; want none", len(es), err)
			}
			err := users.Create(t.Context(), identity.User{ID: identity.NewID(), Email: p.s, CreatedAt: time.Now()})
			if err != nil && (strings.Contains(err.Error(), "INSERT") || strings.Contains(err.Error(), "SELECT")) {
				t.Errorf("Create error echoes SQL: %v", err)
			}
		})
	}
	var n int
	if err := db.QueryRow(t.Context(), "SELECT COUNT(*) FROM users WHERE email = $1", victim.Email).Scan(&n); err != nil || n != 1 {
		t.Errorf("victim rows = %d, %v; want 1", n, err)
	}
	// An over-long address is refused by the table, not truncated into a collision.
	long := strings.Repeat("a", 300) + "@example.org"
	if err := users.Create(t.Context(), identity.User{ID: identity.NewID(), Email: long, CreatedAt: time.Now()}); err == nil {
		t.Errorf("Create with a 312-byte e-mail succeeded; the column must refuse it")
	}
}

func testConfig(t *testing.T, srv *containers.Postgres) {
	name := srv.CreateDatabase(t)
	cfg := config(srv, name)
	tests := []struct {
		name string
		cfg  postgres.Config
	}{
		{"parts", cfg},
		{"URL", postgres.Config{DSN: srv.URL(name)}},
		{"keyword/value", postgres.Config{DSN: fmt.Sprintf("host=%s port=%d user=%s password=%s dbname=%s sslmode=disable",
			srv.Host, srv.Port, srv.User, srv.Password, name)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pool, closePool, err := postgres.Open(t.Context(), tt.cfg)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer closePool()
			var tz, db string
			if err := pool.QueryRow(t.Context(), "SELECT current_setting('TimeZone'), current_database()").Scan(&tz, &db); err != nil {
				t.Fatal(err)
			}
			if tz != "UTC" || db != name {
				t.Errorf("session time zone %q, database %q; want UTC, %q", tz, db, name)
			}
		})
	}
	bad := []struct {
		name string
		cfg  postgres.Config
	}{
		{"nothing", postgres.Config{}},
		{"no database", postgres.Config{Host: "localhost"}},
		{"bad DSN", postgres.Config{DSN: "postgres://u:secret-pw@[::1"}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := postgres.Open(t.Context(), tt.cfg)
			if err == nil {
				t.Fatalf("Open succeeded")
			}
			if strings.Contains(err.Error(), "secret-pw") {
				t.Errorf("Open error %q shows the password", err)
			}
		})
	}
	t.Run("unreachable", func(t *testing.T) {
		_, _, err := postgres.Open(t.Context(), postgres.Config{Host: "127.0.0.1", Port: 1, Name: "x", DialTimeout: time.Second})
		if !errors.Is(err, ports.ErrUnavailable) {
			t.Errorf("Open of a closed port = %v, want ErrUnavailable", err)
		}
	})
}
