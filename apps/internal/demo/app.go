package demo

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/keygate/keygate/adapters/httpapi"
	"github.com/keygate/keygate/apps/internal/program"
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

// Run serves the API on l.Public and the verifier's admin handler (/metrics, the detailed
// /ready) on l.Admin until ctx ends; the verifier keeps the key set and the revocation set
// current meanwhile.
func (a *App) Run(ctx context.Context, l program.Listeners) error {
	vc := a.Verifier.Config()
	a.log.Info(vc.Name+": serving", slog.String("addr", l.Public.Addr().String()), slog.String("admin", l.AdminAddr()),
		slog.String("issuer", vc.Guard.Issuer), slog.Any("audience", vc.Guard.Audiences),
		slog.String("profile", vc.Profile()))
	if err := program.Serve(ctx, l, a.Handler, a.Verifier.AdminHandler(), a.log); err != nil {
		return fmt.Errorf("%s: serve: %w", vc.Name, err)
	}
	return nil
}

// NewHandler builds the service's public HTTP API: /api/ behind the verifier's middleware,
// /health and the terse /ready (the verifier's checks). Metrics and the detailed readiness
// report are the admin listener's (verifier.Verifier.AdminHandler).
func NewHandler(v *verifier.Verifier, log *slog.Logger, cfg Config) http.Handler {
	r := httpapi.NewRouter(log, v.Checks(), v.InstrumentHTTP)
	r.Group(func(r chi.Router) {
		r.Use(v.RequireToken)
		Routes(r, cfg.Kind, NewLedger[Order](), NewLedger[Payment]())
	})
	return r
}
