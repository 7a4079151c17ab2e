package auth

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/keygate/keygate/core/key"
	"github.com/keygate/keygate/core/keyring"
	"github.com/keygate/keygate/core/revocation"
	"github.com/keygate/keygate/ports"
	"github.com/keygate/keygate/ports/portstest"
)

func (e *env) storedKeys(t *testing.T) []key.Key {
	t.Helper()
	ks, err := e.keys.Keys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(ks, func(a, b key.Key) int { return int(a.Seq - b.Seq) })
	return ks
}

func TestRunPublishesHeartbeatsAndSurvivesFailures(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.HeartbeatEvery = 5 * time.Millisecond })
	e.register(t, "alice@example.org")
	tp := e.login(t, "alice@example.org")
	if err := e.svc.Logout(t.Context(), e.claims(t, tp.AccessToken), client); err != nil {
		t.Fatal(err)
	}
	events := portstest.Events(t, e.bus, nil)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- e.svc.Run(ctx) }()
	portstest.Eventually(t, "a heartbeat", func() bool {
		return slices.ContainsFunc(events(), func(ev revocation.Event) bool {
			return ev.Kind == revocation.EventHeartbeat && ev.Seq == 1 && ev.PublishedAt.Equal(e.clock.Now())
		})
	})
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v", err)
	}

	// With every store down, Run keeps ticking and returns only when told to.
	down := e.service(t, func(d *Deps) {
		d.Revocations = portstest.UnavailableRevocationStore{}
		d.Bus = portstest.UnavailableEventBus{}
	})
	ctx, cancel = context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := down.Run(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Run with stores down = %v", err)
	}
}

// Without a signing key (the KeyStore down before the ring ever loaded) login and refresh
// answer ErrUnavailable, and a refresh leaves the session as it was.
func TestNoSigningKeyIsUnavailable(t *testing.T) {
	e := newEnv(t)
	e.register(t, "alice@example.org")
	tp := e.login(t, "alice@example.org")
	ring, err := keyring.New(keyring.Deps{Keys: portstest.UnavailableKeyStore{}, Issuer: newTestIssuer(), Bus: e.bus,
		Audit: e.audit, Clock: e.clock}, keyring.Config{KEK: testKEK})
	if err != nil {
		t.Fatal(err)
	}
	down := e.service(t, func(d *Deps) { d.Signer = ring })
	if _, err := down.Login(t.Context(), "alice@example.org", testPassword, client); !errors.Is(err, ports.ErrUnavailable) {
		t.Errorf("login without a ring: %v", err)
	}
	if _, err := down.Refresh(t.Context(), tp.RefreshToken, client); !errors.Is(err, ports.ErrUnavailable) {
		t.Errorf("refresh without a ring: %v", err)
	}
	e.refresh(t, tp.RefreshToken) // the session did not rotate: its token still works
}
