package stores

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	mysqladapter "github.com/keygate/keygate/adapters/mysql"
	"github.com/keygate/keygate/adapters/postgres"
	"github.com/keygate/keygate/apps/internal/env"
)

// TestLoadDatabaseTLS: DB_TLS and DB_CA_FILE turn on verified TLS for either driver, whether
// the database is given by DB_HOST or DATABASE_URL, and what each driver is then configured
// with: TLS to the database's host name, the CA's roots, no plaintext fallback.
func TestLoadDatabaseTLS(t *testing.T) {
	ca := writeCA(t)
	tests := []struct {
		name    string
		env     map[string]string
		host    string // the ServerName the driver verifies; "" for no TLS
		wantCA  bool
		wantErr string // the variable the error names; "" for none
	}{
		{"mysql plain", map[string]string{"DB_HOST": "db.internal", "DB_NAME": "keygate"}, "", false, ""},
		{"mysql DB_TLS", map[string]string{"DB_HOST": "db.internal", "DB_NAME": "keygate", "DB_TLS": "1"}, "db.internal", false, ""},
		{"mysql CA file", map[string]string{"DB_HOST": "db.internal", "DB_NAME": "keygate", "DB_CA_FILE": ca}, "db.internal", true, ""},
		{"mysql DSN with tls=false overridden", map[string]string{"DATABASE_URL": "keygate:pw@tcp(rds.example.com:3306)/keygate?tls=false", "DB_TLS": "1", "DB_CA_FILE": ca},
			"rds.example.com", true, ""},
		{"postgres plain", map[string]string{"DB_DRIVER": "postgres", "DB_HOST": "pg.internal", "DB_NAME": "keygate"}, "", false, ""},
		{"postgres DB_TLS", map[string]string{"DB_DRIVER": "postgres", "DB_HOST": "pg.internal", "DB_NAME": "keygate", "DB_TLS": "1"}, "pg.internal", false, ""},
		{"postgres URL with sslmode=prefer overridden", map[string]string{"DATABASE_URL": "postgres://keygate:pw@sql.example.com:5432/keygate?sslmode=prefer", "DB_CA_FILE": ca},
			"sql.example.com", true, ""},
		{"TLS without a database", map[string]string{"DB_TLS": "1"}, "", false, "DB_TLS"},
		{"CA file without a database", map[string]string{"DB_CA_FILE": ca}, "", false, "DB_CA_FILE"},
		{"missing CA file", map[string]string{"DB_HOST": "db", "DB_NAME": "keygate", "DB_CA_FILE": filepath.Join(t.TempDir(), "none.pem")}, "", false, "DB_CA_FILE"},
		{"bad DB_TLS", map[string]string{"DB_HOST": "db", "DB_NAME": "keygate", "DB_TLS": "yes please"}, "", false, "DB_TLS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getenv := func(k string) string { return tt.env[k] }
			r := env.New(getenv)
			d := LoadDatabase(r, getenv)
			err := r.Err()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("error %v", err)
			}
			switch d.Driver {
			case DriverMySQL:
				dc, err := mysqladapter.DriverConfig(d.MySQL)
				if err != nil {
					t.Fatal(err)
				}
				if tt.host == "" {
					if dc.TLS != nil {
						t.Errorf("TLS on without DB_TLS")
					}
					return
				}
				if dc.TLS == nil || dc.TLS.ServerName != tt.host || dc.TLS.InsecureSkipVerify || dc.AllowFallbackToPlaintext {
					t.Fatalf("driver TLS = %+v fallback %v, want verified TLS to %s without fallback", dc.TLS, dc.AllowFallbackToPlaintext, tt.host)
				}
				if (dc.TLS.RootCAs != nil) != tt.wantCA {
					t.Errorf("RootCAs set = %v, want %v", dc.TLS.RootCAs != nil, tt.wantCA)
				}
			case DriverPostgres:
				pc, err := postgres.PoolConfig(d.Postgres)
				if err != nil {
					t.Fatal(err)
				}
				tc := pc.ConnConfig.TLSConfig
				if tt.host == "" {
					return // sslmode decides (libpq's prefer by default)
				}
				if tc == nil || tc.ServerName != tt.host || tc.InsecureSkipVerify {
					t.Fatalf("TLS = %+v, want verified TLS to %s", tc, tt.host)
				}
				if (tc.RootCAs != nil) != tt.wantCA {
					t.Errorf("RootCAs set = %v, want %v", tc.RootCAs != nil, tt.wantCA)
				}
				for _, fb := range pc.ConnConfig.Fallbacks {
					if fb.TLSConfig == nil {
						t.Errorf("a plaintext fallback to %s remains", fb.Host)
					}
				}
			}
		})
	}
}

// TestPostgresDSNTLS: without DB_TLS, a PostgreSQL URL's own sslmode=verify-full and
// sslrootcert (libpq's parameters, docs/configuration.md) give verified TLS with the CA and
// no plaintext fallback.
func TestPostgresDSNTLS(t *testing.T) {
	ca := writeCA(t)
	if _, err := os.Stat(ca); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"DATABASE_URL": "postgres://keygate:pw@sql.example.com:5432/keygate?sslmode=verify-full&sslrootcert=" + ca}
	getenv := func(k string) string { return vars[k] }
	r := env.New(getenv)
	d := LoadDatabase(r, getenv)
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	pc, err := postgres.PoolConfig(d.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	tc := pc.ConnConfig.TLSConfig
	if tc == nil || tc.ServerName != "sql.example.com" || tc.RootCAs == nil || len(pc.ConnConfig.Fallbacks) != 0 {
		t.Errorf("TLS %+v fallbacks %d, want verify-full to sql.example.com with the CA and no fallback", tc, len(pc.ConnConfig.Fallbacks))
	}
}
