package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/keygate/keygate/ports"
)

// TestWrap checks the translation of driver errors by type and SQLSTATE: what the core will see.
func TestWrap(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	tests := []struct {
		name string
		err  error
		want error // nil: none of the port errors
	}{
		{"no rows", pgx.ErrNoRows, ports.ErrNotFound},
		{"unique violation", &pgconn.PgError{Code: "23505"}, ports.ErrConflict},
		{"wrapped unique violation", fmt.Errorf("exec: %w", &pgconn.PgError{Code: "23505"}), ports.ErrConflict},
		{"connection refused", refused, ports.ErrUnavailable},
		{"connection lost", io.ErrUnexpectedEOF, ports.ErrUnavailable},
		{"conn closed", pgconn.ErrConnClosed, ports.ErrUnavailable},
		{"deadline", context.DeadlineExceeded, ports.ErrUnavailable},
		{"connection exception", &pgconn.PgError{Code: "08006"}, ports.ErrUnavailable},
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, ports.ErrUnavailable},
		{"cannot connect now", &pgconn.PgError{Code: "57P03"}, ports.ErrUnavailable},
		{"too many connections", &pgconn.PgError{Code: "53300"}, ports.ErrUnavailable},
		{"serialization failure", &pgconn.PgError{Code: "40001"}, ports.ErrUnavailable},
		{"syntax error", &pgconn.PgError{Code: "42601", Message: "duplicate key value in the message only"}, nil},
		{"check violation", &pgconn.PgError{Code: "23514"}, nil},
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
			if !errors.Is(got, tt.err) && tt.err != pgx.ErrNoRows {
				t.Errorf("wrap(%v) = %v lost the driver error", tt.err, got)
			}
			if !strings.HasPrefix(got.Error(), "postgres: op: ") {
				t.Errorf("wrap(%v) = %q, want the prefix \"postgres: op: \"", tt.err, got)
			}
		})
	}
	if wrap("op", nil) != nil {
		t.Errorf("wrap(nil) != nil")
	}
}

func TestPoolConfig(t *testing.T) {
	pc, err := PoolConfig(Config{Host: "db.internal", User: "kg", Password: "p@ss:word/", Name: "keygate", SSLMode: "require", MaxConns: 7})
	if err != nil {
		t.Fatal(err)
	}
	cc := pc.ConnConfig
	got := []any{cc.Host, cc.Port, cc.User, cc.Password, cc.Database, pc.MaxConns, cc.RuntimeParams["timezone"], cc.TLSConfig != nil}
	want := []any{"db.internal", uint16(5432), "kg", "p@ss:word/", "keygate", int32(7), "UTC", true}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("PoolConfig from parts (-want +got):\n%s", d)
	}
	for _, c := range []Config{{}, {Host: "x"}, {DSN: "postgres://u:secret-pw@[::1"}} {
		_, err := PoolConfig(c)
		if err == nil {
			t.Errorf("PoolConfig(%+v) succeeded", c)
		} else if strings.Contains(err.Error(), "secret-pw") {
			t.Errorf("PoolConfig error %q shows the password", err)
		}
	}
}

func TestStorable(t *testing.T) {
	tests := []struct {
		s    string
		want bool
	}{
		{"alice@example.org", true},
		{"ключ-鍵-🔑", true},
		{"", true},
		{"a\x00b", false},
		{"\xff", false},
	}
	for _, tt := range tests {
		if got := storable(tt.s); got != tt.want {
			t.Errorf("storable(%q) = %v, want %v", tt.s, got, tt.want)
		}
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
}
