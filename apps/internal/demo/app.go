package demo

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/keygate/keygate/adapters/httpapi"
	"github.com/keygate/keygate/adapters/jose"
	"github.com/keygate/keygate/adapters/telemetry"
	"github.com/keygate/keygate/apps/internal/authsvc"
	"github.com/keygate/keygate/core/guard"
	"github.com/keygate/keygate/ports"
)

// App is a wired demo service.
type App struct {
	Keys    *jose.RemoteKeySet
	Feed    *guard.Feed
	Guard   *guard.Guard
	Handler http.Handler
	log     *slog.Logger
	cfg     Config
	deps    authsvc.Dependencies
	metrics *telemetry.Metrics
}

// NewApp returns an App of its parts.
func NewApp(keys *jose.RemoteKeySet, feed *guard.Feed, g *guard.Guard, h http.Handler, log *slog.Logger, cfg Config,
	deps authsvc.Dependencies, m *telemetry.Metrics) *App {
	return &App{Keys: keys, Feed: feed, Guard: g, Handler: h, log: log, cfg: cfg, deps: deps, metrics: m}
}

// Run serves on ln and keeps the key set and the revocation set current until ctx ends.
func (a *App) Run(ctx context.Context, ln net.Listener) error {
	for _, w := range a.cfg.Warnings {
		a.log.Warn(a.cfg.Kind + "d: " + w)
	}
	bg, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = a.Keys.Run(bg) })
	wg.Go(func() { _ = a.Feed.Run(bg) })
	deps := append(authsvc.Dependencies{{Name: telemetry.DependencyJWKS, Ping: func(ctx context.Context) error {
		// At start the first fetch may still be in flight: wait for its outcome (within the
		// ping's bound) rather than report the issuer down before it was even asked.
	wait:
		for st := a.Keys.Status(); !st.Ready && st.LastOutcome == ""; st = a.Keys.Status() {
			select {
			case <-ctx.Done():
				break wait
			case <-time.After(20 * time.Millisecond):
			}
		}
		if st := a.Keys.Status(); !st.Ready {
			return fmt.Errorf("no usable keys from %s (last fetch: %s %s)", a.cfg.Keys.Issuer, st.LastOutcome, st.LastError)
		}
		return nil
	}}}, a.deps...)
	wg.Go(func() { authsvc.Monitor(bg, deps, a.metrics.SetDependency, a.log, a.cfg.Kind+"d") })
	a.log.Info(a.cfg.Kind+"d: serving", slog.String("addr", ln.Addr().String()),
		slog.String("issuer", a.cfg.Guard.Issuer), slog.Any("audience", a.cfg.Guard.Audiences),
		slog.String("profile", string(a.cfg.Profile)))
	err := httpapi.Serve(ctx, ln, a.Handler, a.log)
	stop()
	wg.Wait()
	if err != nil {
		return fmt.Errorf("%sd: serve: %w", a.cfg.Kind, err)
	}
	return nil
}

// NewKeySet returns the issuer's remote JWKS (discovered from KEYGATE_ISSUER unless
// KEYGATE_JWKS_URL is set); its cleanup stops it.
func NewKeySet(clock ports.Clock, m ports.Metrics, cfg Config) (*jose.RemoteKeySet, func(), error) {
	return jose.NewRemoteKeySet(nil, clock, m, cfg.Keys)
}

// NewFeed keeps the service's revocation set equal to store through bus; key-change events
// refresh keys at once.
func NewFeed(store ports.RevocationStore, bus ports.EventBus, keys *jose.RemoteKeySet, clock ports.Clock, m ports.Metrics) *guard.Feed {
	return guard.NewFeed(store, bus, keys, clock, m, guard.FeedConfig{})
}

// NewGuard builds the service's verifier.
func NewGuard(keys *jose.RemoteKeySet, feed *guard.Feed, clock ports.Clock, m ports.Metrics, cfg Config) (*guard.Guard, error) {
	return guard.New(keys, feed, clock, m, cfg.Guard)
}

// NewRegistry returns the Prometheus registry the service's /metrics serves.
func NewRegistry() *prometheus.Registry { return prometheus.NewRegistry() }

// NewHandler builds the service's HTTP API: /api/ behind the guard, /health, /ready and
// /metrics. /ready fails until keys are loaded and the revocation set was first synced (and
// with KEYGATE_FAIL_CLOSED_AFTER, once the set is staler than that); with Redis or the feed
// down it stays 200 with status "degraded", since the replica keeps verifying against its
// last-known set (see httpapi.Ready).
func NewHandler(g *guard.Guard, keys *jose.RemoteKeySet, feed *guard.Feed, m *telemetry.Metrics,
	reg *prometheus.Registry, log *slog.Logger, cfg Config, deps authsvc.Dependencies) http.Handler {
	checks := []httpapi.Check{
		{Name: "keys", Fn: func(context.Context) error {
			if st := keys.Status(); !st.Ready {
				return fmt.Errorf("no usable keys from %s (last fetch: %s %s)", cfg.Keys.Issuer, st.LastOutcome, st.LastError)
			}
			return nil
		}},
		httpapi.FeedCheck(feed, cfg.Guard.FailClosedAfter),
	}
	checks = append(checks, authsvc.DependencyChecks(deps)...)
	r := httpapi.NewRouter(log, telemetry.Handler(reg), checks, m.Middleware)
	r.Group(func(r chi.Router) {
		r.Use(httpapi.RequireToken(g, httpapi.WithLogger(log)))
		Routes(r, cfg.Kind, NewLedger[Order](), NewLedger[Payment]())
	})
	return r
}
