package mysql_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	mysqladapter "github.com/keygate/keygate/adapters/mysql"
	"github.com/keygate/keygate/ports"
	"github.com/keygate/keygate/ports/portstest"
	"github.com/keygate/keygate/test/containers"
)

// The adapter runs against MariaDB 10.11 (the testbed image, what CI runs) and MySQL 8.0 (when
// its image can be had: see containers.StartMySQL). Both run the same tests.

func TestMariaDB(t *testing.T) { testServer(t, containers.StartMariaDB(t)) }

func TestMySQL8(t *testing.T) { testServer(t, containers.StartMySQL(t)) }

func testServer(t *testing.T, srv *containers.MySQL) {
	t.Run("UserRepo", func(t *testing.T) {
		portstest.RunUserRepo(t, func(t *testing.T) ports.UserRepo { return mysqladapter.NewUserRepo(freshDB(t, srv)) })
	})
	t.Run("AuditLog", func(t *testing.T) {
		portstest.RunAuditLog(t, func(t *testing.T) ports.AuditLog { return mysqladapter.NewAuditLog(freshDB(t, srv)) })
	})
	t.Run("KeyStore", func(t *testing.T) {
		portstest.RunKeyStore(t, func(t *testing.T) ports.KeyStore { return mysqladapter.NewKeyStore(freshDB(t, srv)) })
	})
	t.Run("KeyStoreReplicas", func(t *testing.T) {
		portstest.RunKeyStoreReplicas(t, func(t *testing.T) (ports.KeyStore, ports.KeyStore) {
			name := srv.CreateDatabase(t)
			a, b := open(t, srv, name), open(t, srv, name) // two pools, as two authd replicas
			if err := mysqladapter.Migrate(t.Context(), a); err != nil {
				t.Fatalf("Migrate: %v", err)
			}
			return mysqladapter.NewKeyStore(a), mysqladapter.NewKeyStore(b)
		})
	})
	portstest.RunMigrations(t, func(t *testing.T) func(t *testing.T) portstest.Schema {
		name := srv.CreateDatabase(t)
		return func(t *testing.T) portstest.Schema { return schema(open(t, srv, name)) }
	})
	t.Run("EmailColumnComparesBytes", func(t *testing.T) { testEmailColumn(t, srv) })
	portstest.RunInjection(t, func(t *testing.T) portstest.SQLStores {
		db := freshDB(t, srv)
		return portstest.SQLStores{Users: mysqladapter.NewUserRepo(db), Audit: mysqladapter.NewAuditLog(db),
			CountEmail: func(ctx context.Context, email string) (n int, err error) {
				err = db.QueryRowContext(ctx, "SELECT COUNT(*) FROM users WHERE email = ?", []byte(email)).Scan(&n)
				return n, err
			}}
	})
	t.Run("Config", func(t *testing.T) { testConfig(t, srv) })
	// Last: it stops the server.
	portstest.RunDatabaseOutages(t, func(t *testing.T) portstest.Database {
		db := freshDB(t, srv)
		return portstest.Database{Users: mysqladapter.NewUserRepo(db), Keys: mysqladapter.NewKeyStore(db),
			Audit: mysqladapter.NewAuditLog(db), Ping: func(ctx context.Context) error { return mysqladapter.Ping(ctx, db) }}
	}, portstest.Server{
		Pause: srv.Pause, Unpause: srv.Unpause,
		Stop:  func(t testing.TB) { srv.Stop(t, 10*time.Second) },
		Start: func(t testing.TB) { srv.Start(t); srv.WaitReady(t, 2*time.Minute) },
	})
}

// config returns the adapter's configuration for database name of srv.
func config(srv *containers.MySQL, name string) mysqladapter.Config {
	return mysqladapter.Config{Host: srv.Host, Port: srv.Port, User: srv.User, Password: srv.Password, Name: name}
}

// open opens a pool on database name of srv.
func open(t *testing.T, srv *containers.MySQL, name string) *sql.DB {
	t.Helper()
	db, closeDB, err := mysqladapter.Open(t.Context(), config(srv, name))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(closeDB)
	return db
}

// freshDB returns a pool on a new, migrated database.
func freshDB(t *testing.T, srv *containers.MySQL) *sql.DB {
	t.Helper()
	db := open(t, srv, srv.CreateDatabase(t))
	if err := mysqladapter.Migrate(t.Context(), db); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return db
}

// schema is what portstest.RunMigrations needs of the adapter, on db.
func schema(db *sql.DB) portstest.Schema {
	return portstest.Schema{
		Migrate:       func(ctx context.Context) error { return mysqladapter.Migrate(ctx, db) },
		CheckSchema:   func(ctx context.Context) error { return mysqladapter.CheckSchema(ctx, db) },
		SchemaVersion: func(ctx context.Context) (int64, error) { return mysqladapter.SchemaVersion(ctx, db) },
		Latest:        mysqladapter.LatestVersion(),
		ErrTooNew:     mysqladapter.ErrSchemaTooNew,
		ErrBehind:     mysqladapter.ErrSchemaBehind,
		Count: func(ctx context.Context, table string) (n int64, err error) {
			err = db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table).Scan(&n)
			return n, err
		},
		Record: func(ctx context.Context, version int64) error {
			_, err := db.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at)
				VALUES (?, 'from_the_future', UTC_TIMESTAMP(6))`, version)
			return err
		},
		Users: mysqladapter.NewUserRepo(db),
	}
}

func testEmailColumn(t *testing.T, srv *containers.MySQL) {
	db := freshDB(t, srv)
	// The e-mail column compares bytes with no padding, on MySQL and MariaDB alike.
	var typ string
	if err := db.QueryRowContext(t.Context(), `SELECT DATA_TYPE FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'users' AND COLUMN_NAME = 'email'`).Scan(&typ); err != nil {
		t.Fatal(err)
	}
	if typ != "varbinary" {
		t.Errorf("users.email is %s, want varbinary", typ)
	}
}

func testConfig(t *testing.T, srv *containers.MySQL) {
	name := srv.CreateDatabase(t)
	cfg := config(srv, name)
	dc, err := mysqladapter.DriverConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  mysqladapter.Config
	}{
		{"parts", cfg},
		{"DSN", mysqladapter.Config{DSN: dc.FormatDSN()}},
		{"URL", mysqladapter.Config{DSN: fmt.Sprintf("mysql://%s:%s@%s/%s", cfg.User, cfg.Password,
			dc.Addr, name)}},
		// Settings keygate relies on win over the DSN's.
		{"DSN with multiStatements", mysqladapter.Config{DSN: dc.FormatDSN() + "&multiStatements=true"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, closeDB, err := mysqladapter.Open(t.Context(), tt.cfg)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer closeDB()
			var mode, tz string
			if err := db.QueryRowContext(t.Context(), "SELECT @@SESSION.sql_mode, @@SESSION.time_zone").Scan(&mode, &tz); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(mode, "STRICT_TRANS_TABLES") || tz != "+00:00" {
				t.Errorf("session sql_mode %q, time_zone %q; want strict and +00:00", mode, tz)
			}
			if _, err := db.ExecContext(t.Context(), "SELECT 1; SELECT 2"); err == nil {
				t.Errorf("two statements in one call ran: multiStatements must be off")
			}
		})
	}
	bad := []struct {
		name string
		cfg  mysqladapter.Config
	}{
		{"nothing", mysqladapter.Config{}},
		{"no database", mysqladapter.Config{Host: "localhost"}},
		{"bad DSN", mysqladapter.Config{DSN: "user:secret-pw@tcp(nowhere"}},
		{"bad URL", mysqladapter.Config{DSN: "mysql://u:secret-pw@[::1"}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := mysqladapter.Open(t.Context(), tt.cfg)
			if err == nil {
				t.Fatalf("Open succeeded")
			}
			if strings.Contains(err.Error(), "secret-pw") {
				t.Errorf("Open error %q shows the password", err)
			}
		})
	}
	t.Run("unreachable", func(t *testing.T) {
		_, _, err := mysqladapter.Open(t.Context(), mysqladapter.Config{Host: "127.0.0.1", Port: 1, Name: "x", DialTimeout: time.Second})
		if !errors.Is(err, ports.ErrUnavailable) {
			t.Errorf("Open of a closed port = %v, want ErrUnavailable", err)
		}
	})
}
