package portstest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keygate/keygate/core/audit"
	"github.com/keygate/keygate/core/identity"
	"github.com/keygate/keygate/ports"
)

// Database is the account side of a deployment, over one pool on one fresh, migrated
// database: what the outage cases drive. Ping is the adapter's readiness check.
type Database struct {
	Users ports.UserRepo
	Keys  ports.KeyStore
	Audit ports.AuditLog
	Ping  func(ctx context.Context) error
}

// Server is the process behind a Database, which the outage cases freeze, stop and restart
// (a container in the adapters' tests), each call failing t if it cannot. Start returns once
// the server answers again.
type Server struct {
	Pause, Unpause, Stop, Start func(t testing.TB)
}

// RunDatabaseOutages runs the outage cases every database adapter must pass, each on its own
// Database from open: a frozen server (connections stay open, nothing answers) makes a call
// bounded by its context answer ports.ErrUnavailable at its deadline, and the pool serves once
// the server thaws; a stopped server makes every call answer ErrUnavailable (never
// ErrNotFound), and the same pool serves again after a restart. The stop case runs last.
func RunDatabaseOutages(t *testing.T, open func(t *testing.T) Database, srv Server) {
	t.Helper()
	t.Run("HungServerTimesOut", func(t *testing.T) { testFrozen(t, open(t), srv) })
	t.Run("StoppedServerIsUnavailableThenRecovers", func(t *testing.T) { testStopped(t, open(t), srv) })
}

func testFrozen(t *testing.T, db Database, srv Server) {
	u := identity.User{ID: identity.NewID(), Email: "frozen@example.org", CreatedAt: Now()}
	must(t, "Create", db.Users.Create(t.Context(), u))
	srv.Pause(t)
	paused := true
	t.Cleanup(func() {
		if paused {
			srv.Unpause(t)
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	began := time.Now()
	_, err := db.Users.ByEmail(ctx, u.Email)
	if took := time.Since(began); !errors.Is(err, ports.ErrUnavailable) || took > 5*time.Second {
		t.Errorf("ByEmail on a frozen server with a 1 s deadline = %v after %v, want ErrUnavailable after about 1 s", err, took)
	}
	t.Logf("ByEmail on a frozen server: %v", err)
	srv.Unpause(t)
	paused = false
	eventually(t, 30*time.Second, "ByEmail after the server thawed", func(ctx context.Context) error {
		_, err := db.Users.ByEmail(ctx, u.Email)
		return err
	})
}

func testStopped(t *testing.T, db Database, srv Server) {
	u := identity.User{ID: identity.NewID(), Email: "up@example.org", CreatedAt: Now()}
	must(t, "Create", db.Users.Create(t.Context(), u))
	srv.Stop(t)
	calls := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Ping", db.Ping},
		{"ByEmail", func(ctx context.Context) error { _, err := db.Users.ByEmail(ctx, u.Email); return err }},
		{"Create", func(ctx context.Context) error {
			return db.Users.Create(ctx, identity.User{ID: identity.NewID(), Email: "new@example.org", CreatedAt: Now()})
		}},
		{"Keys", func(ctx context.Context) error { _, err := db.Keys.Keys(ctx); return err }},
		{"Append", func(ctx context.Context) error {
			return db.Audit.Append(ctx, audit.Event{At: Now(), Action: audit.ActionLogout})
		}},
	}
	for _, c := range calls {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		err := c.call(ctx)
		cancel()
		if !errors.Is(err, ports.ErrUnavailable) || errors.Is(err, ports.ErrNotFound) {
			t.Errorf("%s with the server stopped = %v, want ErrUnavailable", c.name, err)
		}
		t.Logf("%s with the server stopped: %v", c.name, err)
	}
	srv.Start(t)
	eventually(t, 30*time.Second, "ByEmail after the restart", func(ctx context.Context) error {
		got, err := db.Users.ByEmail(ctx, u.Email)
		if err == nil && got.ID != u.ID {
			t.Fatalf("ByEmail after restart = user %s, want %s", got.ID, u.ID)
		}
		return err
	})
	for _, c := range calls {
		if err := c.call(t.Context()); err != nil {
			t.Errorf("%s after the restart: %v", c.name, err)
		}
	}
}

// eventually retries call until it succeeds, failing the test after within.
func eventually(t *testing.T, within time.Duration, what string, call func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), within)
	defer cancel()
	for {
		err := call(ctx)
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("%s: still failing after %v: %v", what, within, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
