package demo

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/keygate/keygate/adapters/httpapi"
	"github.com/keygate/keygate/apps/verifier"
)

// App is a wired demo service.
type App struct {
	Verifier *verifier.Verifier
	Handler  http.Handler
	log      *slog.Logger
	cfg      Config
}

// NewApp returns an App of its parts.
func NewApp(v *verifier.Verifier, h http.Handler, log *slog.Logger, cfg Config) *App {
	return &App{Verifier: v, Handler: h, log: log, cfg: cfg}
}

// Run serves on ln until ctx ends; the verifier keeps the key set and the revocation set
// current meanwhile.
func (a *App) Run(ctx context.Context, ln net.Listener) error {
	vc := a.Verifier.Config()
	a.log.Info(vc.Name+": serving", slog.String("addr", ln.Addr().String()),
		slog.String("issuer", vc.Guard.Issuer), slog.Any("audience", vc.Guard.Audiences),
		slog.String("profile", vc.Profile()))
	if err := httpapi.Serve(ctx, ln, a.Handler, a.log); err != nil {
		return fmt.Errorf("%s: serve: %w", vc.Name, err)
	}
	return nil
}

// NewHandler builds the service's HTTP API: /api/ behind the verifier's middleware, /health,
// /ready (the verifier's checks) and /metrics.
func NewHandler(v *verifier.Verifier, log *slog.Logger, cfg Config) http.Handler {
	r := httpapi.NewRouter(log, v.Metrics(), v.Checks(), v.InstrumentHTTP)
	r.Group(func(r chi.Router) {
		r.Use(v.RequireToken)
		Routes(r, cfg.Kind, NewLedger[Order](), NewLedger[Payment]())
	})
	return r
}
