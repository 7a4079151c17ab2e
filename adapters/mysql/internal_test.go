package mysql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	mysqldriver "github.com/go-sql-driver/mysql"
	"github.com/google/go-cmp/cmp"

	"github.com/keygate/keygate/ports"
)

// TestWrap checks the translation of driver errors by type and code: what the core will see.
func TestWrap(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	tests := []struct {
		name string
		err  error
		want error // nil: none of the port errors
	}{
		{"no rows", sql.ErrNoRows, ports.ErrNotFound},
		{"duplicate entry", &mysqldriver.MySQLError{Number: 1062, Message: "Duplicate entry"}, ports.ErrConflict},
		{"duplicate entry with key name", &mysqldriver.MySQLError{Number: 1586}, ports.ErrConflict},
		{"wrapped duplicate", fmt.Errorf("exec: %w", &mysqldriver.MySQLError{Number: 1062}), ports.ErrConflict},
		{"connection refused", refused, ports.ErrUnavailable},
		{"bad connection", driver.ErrBadConn, ports.ErrUnavailable},
		{"invalid connection", mysqldriver.ErrInvalidConn, ports.ErrUnavailable},
		{"deadline", context.DeadlineExceeded, ports.ErrUnavailable},
		{"too many connections", &mysqldriver.MySQLError{Number: 1040}, ports.ErrUnavailable},
		{"server shutdown", &mysqldriver.MySQLError{Number: 1053}, ports.ErrUnavailable},
		{"lock wait timeout", &mysqldriver.MySQLError{Number: 1205}, ports.ErrUnavailable},
		{"deadlock", &mysqldriver.MySQLError{Number: 1213}, ports.ErrUnavailable},
		{"syntax error", &mysqldriver.MySQLError{Number: 1064, Message: "Duplicate entry in the message only"}, nil},
		{"data too long", &mysqldriver.MySQLError{Number: 1406}, nil},
		{"canceled by the caller", context.Canceled, nil},
	}
	portErrs := []error{ports.ErrNotFound, ports.ErrConflict, ports.ErrUnavailable}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := wrap("op", tt.err)
			for _, pe := range portErrs {
				if is, want := errors.Is(got, pe), pe == tt.want; is != want {
					t.Errorf("wrap(%v): errors.Is(%v) = %v, want %v", tt.err, pe, is, want)
				}
			}
			if !errors.Is(got, tt.err) && tt.err != sql.ErrNoRows {
				t.Errorf("wrap(%v) = %v lost the driver error", tt.err, got)
			}
			if !strings.HasPrefix(got.Error(), "mysql: op: ") {
				t.Errorf("wrap(%v) = %q, want the prefix \"mysql: op: \"", tt.err, got)
			}
		})
	}
	if wrap("op", nil) != nil {
		t.Errorf("wrap(nil) != nil")
	}
}

// TestDriverConfig checks that the settings keygate relies on win over any DSN.
func TestDriverConfig(t *testing.T) {
	dc, err := DriverConfig(Config{DSN: "u:p@tcp(db:3306)/kg?multiStatements=true&parseTime=false&interpolateParams=true&allowAllFiles=true&loc=Local"})
	if err != nil {
		t.Fatal(err)
	}
	if dc.MultiStatements || !dc.ParseTime || dc.InterpolateParams || dc.AllowAllFiles || dc.Loc.String() != "UTC" {
		t.Errorf("DriverConfig kept a DSN setting keygate overrides: multiStatements %v, parseTime %v, interpolateParams %v, allowAllFiles %v, loc %v",
			dc.MultiStatements, dc.ParseTime, dc.InterpolateParams, dc.AllowAllFiles, dc.Loc)
	}
	if !strings.Contains(dc.Params["sql_mode"], "STRICT_TRANS_TABLES") || dc.Params["time_zone"] != "'+00:00'" {
		t.Errorf("session params = %v, want a strict sql_mode and time_zone UTC", dc.Params)
	}
	parts, err := DriverConfig(Config{Host: "db.internal", User: "kg", Password: "p@ss:word/", Name: "keygate"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := []string{parts.Addr, parts.User, parts.Passwd, parts.DBName}, []string{"db.internal:3306", "kg", "p@ss:word/", "keygate"}; !cmp.Equal(got, want) {
		t.Errorf("DriverConfig from parts: %q, want %q", got, want)
	}
	url, err := DriverConfig(Config{DSN: "mysql://kg:p%40ss@db.internal/keygate?timeout=2s"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := []string{url.Addr, url.User, url.Passwd, url.DBName, url.Timeout.String()}, []string{"db.internal:3306", "kg", "p@ss", "keygate", "2s"}; !cmp.Equal(got, want) {
		t.Errorf("DriverConfig from a URL: %q, want %q", got, want)
	}
}

func TestMigrations(t *testing.T) {
	ms, err := schema.Migrations()
	if err != nil {
		t.Fatalf("embedded migrations: %v", err)
	}
	if len(ms) == 0 || LatestVersion() != int64(len(ms)) {
		t.Fatalf("%d embedded migrations, LatestVersion %d", len(ms), LatestVersion())
	}
	for _, m := range ms {
		for _, s := range splitStatements(m.SQL) {
			if strings.Contains(strings.TrimSuffix(s, ";"), ";\n") {
				t.Errorf("%s: a statement holds two: %q", m.Name, s)
			}
			if up := strings.ToUpper(s); strings.HasPrefix(up, "CREATE TABLE") && !strings.HasPrefix(up, "CREATE TABLE IF NOT EXISTS") {
				t.Errorf("%s: %q is not idempotent", m.Name, s[:40])
			}
		}
	}
}

func TestSplitStatements(t *testing.T) {
	got := splitStatements("-- comment\nCREATE TABLE a (\n  x INT -- inline\n);\n\n-- another\nINSERT INTO a VALUES (1);\nSELECT 1")
	want := []string{"CREATE TABLE a (\n  x INT -- inline\n)", "INSERT INTO a VALUES (1)", "SELECT 1"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("splitStatements (-want +got):\n%s", d)
	}
}
