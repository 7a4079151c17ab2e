package authsvc

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keygate/keygate/adapters/argon2"
	edwardsadapter "github.com/keygate/keygate/adapters/edwards25519"
	"github.com/keygate/keygate/adapters/httpapi"
	"github.com/keygate/keygate/adapters/jose"
	"github.com/keygate/keygate/adapters/memory"
	"github.com/keygate/keygate/adapters/smtp"
	"github.com/keygate/keygate/adapters/telemetry"
	"github.com/keygate/keygate/apps/internal/program"
	"github.com/keygate/keygate/apps/internal/stores"
	"github.com/keygate/keygate/core/auth"
	"github.com/keygate/keygate/core/guard"
	"github.com/keygate/keygate/core/keyring"
	"github.com/keygate/keygate/core/remote"
	"github.com/keygate/keygate/ports"
)

// App is a wired auth service: the signing-key ring, the guard that checks authd's own Bearer
// routes (over that ring and the revocation feed), the use cases, and the HTTP API.
type App struct {
	Ring    *keyring.Ring
	Service *auth.Service
	Guard   *guard.Guard
	Feed    *guard.Feed
	Relay   *remote.Relay // the revocation feed of verifiers over HTTP; runs only with verifier access on
	Handler http.Handler  // the public API
	Admin   AdminHandler  // the admin listener's: /metrics, the detailed /ready, /health
	log     *slog.Logger
	cfg     Config
	deps    stores.Dependencies
	metrics *telemetry.Metrics
	serving chan struct{}
}

// NewApp returns an App of its parts.
func NewApp(ring *keyring.Ring, svc *auth.Service, g *guard.Guard, feed *guard.Feed, relay *remote.Relay, h http.Handler,
	admin AdminHandler, log *slog.Logger, cfg Config, deps stores.Dependencies, m *telemetry.Metrics) *App {
	return &App{Ring: ring, Service: svc, Guard: g, Feed: feed, Relay: relay, Handler: h, Admin: admin, log: log, cfg: cfg,
		deps: deps, metrics: m, serving: make(chan struct{})}
}

// Serving is closed once Run has loaded the key ring, bootstrapped the admin and started to
// serve: from then on the JWKS answers at once.
func (a *App) Serving() <-chan struct{} { return a.serving }

// Run loads the signing-key ring, bootstraps the admin if configured, then serves the API on
// l.Public and the admin handler on l.Admin (if on) and runs the background work (key
// rotation, heartbeats, the revocation feed) until ctx ends, and shuts both listeners down
// gracefully.
func (a *App) Run(ctx context.Context, l program.Listeners) error {
	a.log.Info("authd: starting", slog.Any("config", a.cfg))
	for _, w := range a.cfg.Warnings {
		a.log.Warn("authd: " + w)
	}
	if err := a.Ring.Init(ctx); err != nil {
		return fmt.Errorf("authd: %w", err)
	}
	if a.cfg.AdminEmail != "" {
		if err := a.Service.BootstrapAdmin(ctx, a.cfg.AdminEmail, a.cfg.AdminPassword); err != nil {
			return fmt.Errorf("authd: KEYGATE_ADMIN_EMAIL: %w", err)
		}
	}
	bg, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = a.Ring.Run(bg) })
	wg.Go(func() { _ = a.Service.Run(bg) })
	wg.Go(func() { _ = a.Feed.Run(bg) })
	if a.cfg.Verifiers != nil {
		wg.Go(func() { _ = a.Relay.Run(bg) })
	}
	wg.Go(func() { stores.Monitor(bg, a.deps, a.metrics.SetDependency, a.log, "authd") })
	wg.Go(func() { a.logMailErrors(bg) })
	a.log.Info("authd: serving", slog.String("addr", l.Public.Addr().String()), slog.String("admin", l.AdminAddr()),
		slog.String("issuer", a.cfg.Auth.Issuer), slog.String("profile", string(a.cfg.Profile)))
	close(a.serving)
	err := program.Serve(ctx, l, a.Handler, a.Admin, a.log)
	stop()
	wg.Wait()
	a.Service.WaitMail() // the account e-mails of the last requests
	if err != nil {
		return fmt.Errorf("authd: serve: %w", err)
	}
	return nil
}

// logMailErrors logs the failures of account e-mails sent in the background until ctx ends.
func (a *App) logMailErrors(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case err := <-a.Service.MailErrors():
			a.log.Warn("authd: account e-mail not sent", slog.Any("err", err),
				slog.Uint64("failures", a.Service.MailFailures()))
		}
	}
}

// Open opens the stores of cfg's profile and builds authd on them; the cleanup closes the
// stores.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*App, func(), error) {
	st, cleanup, err := stores.Open(ctx, cfg.Config, log)
	if err != nil {
		return nil, nil, err
	}
	app, err := Assemble(st, cfg, log)
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	return app, cleanup, nil
}

// NewMailer returns the Mailer of the account e-mails: SMTP when KEYGATE_SMTP_ADDR is set; in
// dev mode without it, an Outbox that prints each mail (its links) on cfg.MailConsole, or in
// the log; otherwise nil: no account e-mails.
func NewMailer(cfg Config, log *slog.Logger) (ports.Mailer, error) {
	switch {
	case cfg.SMTP != nil:
		m, err := smtp.New(*cfg.SMTP)
		if err != nil {
			return nil, err
		}
		return m, nil
	case cfg.Dev:
		var out io.Writer = logWriter{log}
		if cfg.MailConsole != nil {
			out = cfg.MailConsole
		}
		return memory.NewOutbox(out), nil
	}
	return nil, nil
}

// logWriter logs each write (a mail the dev Outbox prints) as one line.
type logWriter struct{ log *slog.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	w.log.Info("authd: mail (dev mode: not sent)", slog.String("mail", string(p)))
	return len(p), nil
}

// NewRing builds the signing-key ring from its ports.
func NewRing(d keyring.Deps, cfg Config) (*keyring.Ring, error) { return keyring.New(d, cfg.Keys) }

// NewService builds the use cases from their ports, the ring and authd's guard.
func NewService(d auth.Deps, cfg Config) (*auth.Service, error) { return auth.New(d, cfg.Auth) }

// NewHasher builds the argon2id hasher with the configured concurrency bound.
func NewHasher(cfg Config) (*argon2.Hasher, error) { return argon2.New(cfg.Hash) }

// NewFeed keeps authd's own revocation set current, for its Bearer routes; key-change events
// reload the ring.
func NewFeed(store ports.RevocationStore, bus ports.EventBus, ring *keyring.Ring, clock ports.Clock, m ports.Metrics) *guard.Feed {
	return guard.NewFeed(store, bus, ring, clock, m, guard.FeedConfig{})
}

// NewGuard builds the verifier of authd's own Bearer routes and RFC 7009 revocation of
// access tokens: the ring as its key set, the local revocation set, the configured issuer and
// audiences, verifying signatures with the public keys kept decoded (adapters/edwards25519).
func NewGuard(ring *keyring.Ring, feed *guard.Feed, clock ports.Clock, m ports.Metrics, cfg Config) (*guard.Guard, error) {
	return guard.New(ring, feed, clock, m, guard.Config{Issuer: cfg.Auth.Issuer,
		Audiences: cfg.Auth.Audiences, MaxAge: max(cfg.Auth.AccessTTL, guard.DefaultMaxAge),
		FailClosedAfter: cfg.FailClosedAfter, Verifier: edwardsadapter.NewVerifier()})
}

// api is what authd's router drives: the use cases, and the JWKS of the ring.
type api struct {
	*auth.Service
	ring *keyring.Ring
}

var _ httpapi.AuthService = api{}

// JWKS serves the ring's JWKS document.
func (a api) JWKS(ctx context.Context) ([]byte, string, error) { return a.ring.JWKS(ctx) }

// NewRelay relays the revocation store and bus to verifiers over HTTP
// (docs/revocation-feed.md).
func NewRelay(store ports.RevocationStore, bus ports.EventBus, clock ports.Clock) *remote.Relay {
	return remote.NewRelay(store, bus, clock, remote.RelayConfig{})
}

// NewIntrospector answers RFC 7662 introspection with authd's own guard.
func NewIntrospector(g *guard.Guard, limiter ports.RateLimiter, cfg Config) (*remote.Introspector, error) {
	return remote.NewIntrospector(g, limiter, cfg.IntrospectLimit)
}

// NewRegistry returns the Prometheus registry the admin listener's /metrics serves.
func NewRegistry() *prometheus.Registry { return prometheus.NewRegistry() }

// AdminHandler is authd's admin listener (KEYGATE_ADMIN_ADDR): /metrics, /ready with each
// check's detail, /health.
type AdminHandler http.Handler

// readiness is authd's readiness: failing while the key ring cannot be loaded or the
// revocation set was never loaded, degraded while the feed is disconnected or a store of the
// profile (Redis, the database) does not answer.
func readiness(ring *keyring.Ring, g *guard.Guard, deps stores.Dependencies) []httpapi.Check {
	checks := []httpapi.Check{
		{Name: "signing_keys", Fn: func(ctx context.Context) error {
			_, _, err := ring.JWKS(ctx)
			return err
		}},
		httpapi.FeedCheck(g),
	}
	return append(checks, stores.DependencyChecks(deps)...)
}

// NewAdminHandler builds authd's admin listener: the registry's metrics (with
// keygate_mail_failures_total, the account e-mails that failed in the background) and the
// detailed readiness report (dependency names, addresses, errors), for the monitoring network
// only.
func NewAdminHandler(ring *keyring.Ring, svc *auth.Service, g *guard.Guard, reg *prometheus.Registry, log *slog.Logger,
	deps stores.Dependencies) (AdminHandler, error) {
	if err := telemetry.MailFailures(reg, svc.MailFailures); err != nil {
		return nil, fmt.Errorf("authd: metrics: %w", err)
	}
	return httpapi.NewAdminRouter(log, telemetry.Handler(reg), readiness(ring, g, deps)), nil
}

// NewHandler builds authd's public HTTP API (docs/architecture.md). /ready answers 503 while
// the key ring cannot be loaded or the revocation set was never loaded, and 200 (degraded, on
// the admin listener's report) while the feed is disconnected or a store of the profile
// (Redis, the database) does not answer: login, refresh and logout then answer 503 with
// Retry-After, and the JWKS is still served. It names no dependency: the detail and the
// metrics are NewAdminHandler's.
func NewHandler(ring *keyring.Ring, svc *auth.Service, g *guard.Guard, relay *remote.Relay,
	in *remote.Introspector, m *telemetry.Metrics, log *slog.Logger, cfg Config,
	deps stores.Dependencies) (http.Handler, error) {
	var opts []jose.DiscoveryOption
	if cfg.Verifiers != nil {
		opts = append(opts, jose.WithIntrospection())
	}
	disc, err := jose.Discovery(cfg.Auth.Issuer, opts...)
	if err != nil {
		return nil, err
	}
	return httpapi.NewAuthRouter(api{Service: svc, ring: ring}, g, httpapi.Config{
		Discovery:      disc,
		JWKSMaxAge:     cfg.JWKSMaxAge,
		TrustedProxies: cfg.TrustedProxies,
		Logger:         log,
		Checks:         readiness(ring, g, deps),
		Middleware:     []func(http.Handler) http.Handler{m.Middleware},
		Verifiers:      cfg.Verifiers,
		Relay:          relay,
		Introspector:   in,
	}), nil
}
