// Package verifier is keygate for a Go service that verifies access tokens itself: one call
// builds the issuer's remote JWKS, the revocation feed that follows authd's revocations
// through Redis, the guard, the middleware, readiness handlers and the Prometheus metrics,
// from the environment variables every keygate verifier reads (FromEnv) or from a Config, and
// runs the background work (JWKS refresh, revocation feed, dependency monitor) until Close.
//
//	v, err := verifier.NewFromEnv(os.Getenv, "billing") // KEYGATE_ISSUER, REDIS_ADDR, ...
//	defer v.Close()
//	mux.Handle("/api/", v.RequireToken(api))
//	mux.Handle("/ready", v.Ready())                    // public: "ready" or "not ready", nothing more
//	go http.Serve(adminListener, v.AdminHandler())     // internal: /metrics, detailed /ready, /health
//
// Two kinds of handler: those safe on a public port (RequireToken, Ready), and those that
// show internals and belong on a listener only the monitoring network reaches (Metrics,
// ReadyReport, AdminHandler: dependency names, addresses and dial errors, every metric).
//
// It is safe by default: until the keys and the revocation set have both been loaded once,
// every protected request is answered 503 with Retry-After, never let through, so a verifier
// that starts while Redis is away cannot accept a token revoked before it started. A service
// without a revocation feed (no REDIS_ADDR) is refused unless Dev is set.
//
// The package lives in apps/ because it is composition: it is the one place, besides the
// binaries, that knows the concrete adapters (go-jose, Redis, Prometheus). ordersd, paymentsd
// and the guardd sidecar are built on it.
package verifier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keygate/keygate/adapters/httpapi"
	"github.com/keygate/keygate/adapters/jose"
	redisadapter "github.com/keygate/keygate/adapters/redis"
	"github.com/keygate/keygate/adapters/telemetry"
	"github.com/keygate/keygate/apps/internal/stores"
	"github.com/keygate/keygate/core/guard"
	"github.com/keygate/keygate/core/token"
	"github.com/keygate/keygate/ports"
)

// Config is what a Verifier checks and where it learns of keys and revocations. FromEnv
// fills it from the environment; a zero field takes its default.
type Config struct {
	// Guard is what a token must satisfy: Issuer (KEYGATE_ISSUER) and Audiences
	// (KEYGATE_AUDIENCE) are required; Leeway (KEYGATE_LEEWAY), MaxAge
	// (KEYGATE_MAX_TOKEN_AGE), FailClosedAfter (KEYGATE_FAIL_CLOSED_AFTER) and
	// SessionOptional (KEYGATE_REQUIRE_SID=0) are optional.
	Guard guard.Config
	// Keys is where the JWKS comes from: discovered from Guard.Issuer unless Keys.URL
	// (KEYGATE_JWKS_URL) is set. Keys.Issuer defaults to Guard.Issuer.
	Keys jose.Config
	// Redis is authd's Redis (REDIS_ADDR, REDIS_PASSWORD, ..., KEYGATE_REDIS_PREFIX): the
	// revocation store and events the feed follows. Required unless Revocations and Events
	// are given or Dev is set.
	Redis redisadapter.Config
	// Revocations and Events replace Redis with a store and bus of this process (an
	// in-process stack, tests). Both or neither.
	Revocations ports.RevocationStore
	Events      ports.EventBus
	// Dev (KEYGATE_DEV=1) allows running without any revocation feed: revoked tokens are
	// then accepted until they expire. A warning is logged.
	Dev bool
	// Name prefixes log lines ("ordersd: ..."); default "verifier".
	Name string
	// Log receives the verifier's logs; default slog.Default().
	Log *slog.Logger
	// Registry receives keygate's metrics (and the Go and process collectors); nil: a new
	// registry, served by Metrics.
	Registry *prometheus.Registry
	// Warnings are logged when the Verifier starts (FromEnv fills them).
	Warnings []string
}

// Profiles: where a Verifier's revocation set comes from.
const (
	ProfileRedis      = "redis"      // Config.Redis
	ProfileInProcess  = "in-process" // Config.Revocations and Config.Events
	ProfileStandalone = "standalone" // none (Dev only)
)

// Profile names the revocation feed cfg selects.
func (c Config) Profile() string {
	switch {
	case c.Revocations != nil || c.Events != nil:
		return ProfileInProcess
	case len(c.Redis.Addrs) > 0:
		return ProfileRedis
	default:
		return ProfileStandalone
	}
}

// Verifier verifies keygate access tokens locally and follows revocations. Safe for
// concurrent use. Its background work runs from New until Close.
type Verifier struct {
	*parts
	cfg     Config
	stop    context.CancelFunc
	wg      sync.WaitGroup
	cleanup func()
	once    sync.Once
}

// parts are what the injectors build.
type parts struct {
	keys     *jose.RemoteKeySet
	feed     *guard.Feed
	guard    *guard.Guard
	metrics  *telemetry.Metrics
	registry *prometheus.Registry
	deps     stores.Dependencies
}

func newParts(keys *jose.RemoteKeySet, feed *guard.Feed, g *guard.Guard, m *telemetry.Metrics,
	reg *prometheus.Registry, deps stores.Dependencies) *parts {
	return &parts{keys: keys, feed: feed, guard: g, metrics: m, registry: reg, deps: deps}
}

// NewFromEnv is FromEnv then New: a Verifier configured by the environment, for a service
// whose audience is audience unless KEYGATE_AUDIENCE says otherwise.
func NewFromEnv(getenv func(string) string, audience string) (*Verifier, error) {
	cfg, err := FromEnv(getenv, audience)
	if err != nil {
		return nil, err
	}
	return New(cfg)
}

// New builds a Verifier of cfg and starts its background work: the JWKS fetch and refresh,
// the revocation feed and the dependency monitor. It does not wait for them: until keys and
// the revocation set are loaded, Authenticate answers "unavailable" (503). Close stops it.
func New(cfg Config) (*Verifier, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Name == "" {
		cfg.Name = "verifier"
	}
	if cfg.Keys.Issuer == "" {
		cfg.Keys.Issuer = cfg.Guard.Issuer
	}
	var (
		p       *parts
		cleanup func()
		err     error
	)
	switch cfg.Profile() {
	case ProfileInProcess:
		if cfg.Revocations == nil || cfg.Events == nil {
			return nil, errors.New("verifier: Revocations and Events go together")
		}
		p, cleanup, err = initInProcess(cfg, cfg.Revocations, cfg.Events)
	case ProfileRedis:
		p, cleanup, err = initRedis(cfg, cfg.Redis, cfg.Log)
	default:
		if !cfg.Dev {
			return nil, errors.New("verifier: no revocation feed: set Redis (REDIS_ADDR), or Dev (KEYGATE_DEV=1) to accept revoked tokens until they expire")
		}
		p, cleanup, err = initStandalone(cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("verifier: %w", err)
	}
	v := &Verifier{parts: p, cfg: cfg, cleanup: cleanup}
	for _, w := range cfg.Warnings {
		cfg.Log.Warn(cfg.Name + ": " + w)
	}
	ctx, stop := context.WithCancel(context.Background())
	v.stop = stop
	v.wg.Go(func() { _ = v.keys.Run(ctx) })
	v.wg.Go(func() { _ = v.feed.Run(ctx) })
	deps := append(stores.Dependencies{{Name: telemetry.DependencyJWKS, Ping: v.pingKeys}}, v.deps...)
	v.wg.Go(func() { stores.Monitor(ctx, deps, v.metrics.SetDependency, cfg.Log, cfg.Name) })
	return v, nil
}

// Close stops the background work and waits for it, then closes the Redis client.
func (v *Verifier) Close() {
	v.once.Do(func() {
		v.stop()
		v.wg.Wait()
		v.cleanup()
	})
}

// Config returns the configuration v runs with, defaults applied.
func (v *Verifier) Config() Config { return v.cfg }

// Authenticate verifies raw and returns its claims, or an error wrapping one of the token
// package's sentinels; token.Unavailable(err) means "cannot decide now" (503), which is the
// answer until the keys and the revocation set have been loaded once (the guard's own rule:
// it refuses before its feed's first load and without keys).
func (v *Verifier) Authenticate(ctx context.Context, raw string) (token.Claims, error) {
	return v.guard.Authenticate(ctx, raw)
}

// Loaded reports whether the revocation set has been loaded at least once and the keys are
// usable: what the guard needs before it can answer anything but 503.
func (v *Verifier) Loaded() bool {
	return v.feed.Ready() && v.keys.Ready()
}

// WaitLoaded blocks until Loaded or ctx ends.
func (v *Verifier) WaitLoaded(ctx context.Context) error {
	for !v.Loaded() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

// RequireToken is middleware that lets a request through only with a valid access token
// (see httpapi.RequireToken): 401 with WWW-Authenticate, or 503 with Retry-After when the
// verifier cannot decide. The handler reads the caller with Claims. Use it as
// v.RequireToken(h) or, with chi, r.Use(v.RequireToken).
func (v *Verifier) RequireToken(next http.Handler) http.Handler {
	return httpapi.RequireToken(v, httpapi.WithLogger(v.cfg.Log))(next)
}

// Claims returns the verified claims of the caller that RequireToken put in ctx.
func Claims(ctx context.Context) (token.Claims, bool) { return httpapi.Claims(ctx) }

// Checks are v's readiness checks (keys, revocation feed, Redis), for a service that builds
// its readiness handlers with httpapi.Ready and httpapi.ReadyReport alongside checks of its
// own.
func (v *Verifier) Checks() []httpapi.Check {
	checks := []httpapi.Check{
		{Name: "keys", Fn: func(context.Context) error {
			if st := v.keys.Status(); !st.Ready {
				return fmt.Errorf("no usable keys from %s (last fetch: %s %s)", v.cfg.Keys.Issuer, st.LastOutcome, st.LastError)
			}
			return nil
		}},
		httpapi.FeedCheck(v.guard),
	}
	return append(checks, stores.DependencyChecks(v.deps)...)
}

// Ready is the terse readiness handler, safe on a public port (/ready): 503
// {"status":"not ready"} with Retry-After until keys and the revocation set are loaded (and,
// with FailClosedAfter, once the set is staler than that), else 200 {"status":"ready"}, also
// while Redis or the feed is down but the last-known set still serves. It names no check and
// shows no error; ReadyReport does, on an internal listener.
func (v *Verifier) Ready() http.Handler { return httpapi.Ready(v.Checks()) }

// ReadyReport is the detailed readiness handler, for an internal (admin) listener only: the
// same verdict as Ready as "ok", "degraded" or "unavailable", with each check's status and
// error, which name the issuer's JWKS URL, Redis addresses and dial errors.
func (v *Verifier) ReadyReport() http.Handler { return httpapi.ReadyReport(v.Checks()) }

// Metrics serves the registry's metrics in the Prometheus format (/metrics), for an internal
// (admin) listener only.
func (v *Verifier) Metrics() http.Handler { return telemetry.Handler(v.registry) }

// AdminHandler is everything an internal (admin) listener serves, the one keygate's own
// verifiers bind at KEYGATE_ADMIN_ADDR: /metrics (Metrics), /ready (ReadyReport) and
// /health. Serve it where only the monitoring network reaches, never on the API's port.
func (v *Verifier) AdminHandler() http.Handler {
	return httpapi.NewAdminRouter(v.cfg.Log, v.Metrics(), v.Checks())
}

// Registry returns the Prometheus registry holding v's collectors (Config.Registry, or the
// one New made), to add a service's own collectors to.
func (v *Verifier) Registry() *prometheus.Registry { return v.registry }

// InstrumentHTTP is middleware recording http_request_duration_seconds and
// http_requests_in_flight for next into v's registry (by chi route pattern, or the
// net/http ServeMux pattern).
func (v *Verifier) InstrumentHTTP(next http.Handler) http.Handler { return v.metrics.Middleware(next) }

// pingKeys is the JWKS dependency of the monitor. At start the first fetch may still be in
// flight: it waits for its outcome (within the ping's bound) rather than report the issuer
// down before it was even asked.
func (v *Verifier) pingKeys(ctx context.Context) error {
wait:
	for st := v.keys.Status(); !st.Ready && st.LastOutcome == ""; st = v.keys.Status() {
		select {
		case <-ctx.Done():
			break wait
		case <-time.After(20 * time.Millisecond):
		}
	}
	if st := v.keys.Status(); !st.Ready {
		return fmt.Errorf("no usable keys from %s (last fetch: %s %s)", v.cfg.Keys.Issuer, st.LastOutcome, st.LastError)
	}
	return nil
}

// Provide is New for google/wire injectors: cfg logging to log, with Close as the cleanup.
func Provide(cfg Config, log *slog.Logger) (*Verifier, func(), error) {
	cfg.Log = log
	v, err := New(cfg)
	if err != nil {
		return nil, nil, err
	}
	return v, v.Close, nil
}
