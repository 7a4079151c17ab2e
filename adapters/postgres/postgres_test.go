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
	portstest.RunInjection(t, func(t *testing.T) portstest.SQLStores {
		db := freshDB(t, srv)
		return portstest.SQLStores{Users: postgres.NewUserRepo(db), Audit: postgres.NewAuditLog(db),
			CountEmail: func(ctx context.Context, email string) (n int, err error) {
				err = db.QueryRow(ctx, "SELECT COUNT(*) FROM users WHERE email = $1", email).Scan(&n)
				return n, err
			}}
	})
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
