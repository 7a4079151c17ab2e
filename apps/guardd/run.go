package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/keygate/keygate/adapters/httpapi"
	"github.com/keygate/keygate/adapters/telemetry"
	"github.com/keygate/keygate/apps/internal/env"
	"github.com/keygate/keygate/apps/internal/program"
	"github.com/keygate/keygate/apps/verifier"
)

// DefaultPort is guardd's PORT when unset.
const DefaultPort = 8083

// DefaultAdminAddr is guardd's KEYGATE_ADMIN_ADDR when unset (with PORT=0: a free port).
const DefaultAdminAddr = ":9093"

// Config is guardd's whole configuration, read once at start.
type Config struct {
	Port      int
	AdminAddr string // KEYGATE_ADMIN_ADDR; "": off
	LogLevel  string
	Verifier  verifier.Config // the variables of ordersd; KEYGATE_AUDIENCE is required
}

// Load reads guardd's configuration through getenv, reporting every problem at once.
func Load(getenv func(string) string) (Config, error) {
	r := env.New(getenv)
	c := Config{Port: r.Port(DefaultPort), LogLevel: r.OneOf("KEYGATE_LOG_LEVEL", "info", "debug", "info", "warn", "error")}
	c.AdminAddr = r.AdminAddr(DefaultAdminAddr, c.Port)
	var err error
	c.Verifier, err = verifier.FromEnv(getenv, "")
	c.Verifier.Name = "guardd"
	return c, errors.Join(r.Err(), err)
}

// run reads the configuration, listens on PORT and KEYGATE_ADMIN_ADDR, wires guardd and
// serves until ctx ends.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) > 1 {
		return fmt.Errorf("guardd: unexpected arguments %q: guardd is configured by environment variables (docs/configuration.md)", args[1:])
	}
	cfg, err := Load(getenv)
	if err != nil {
		return err
	}
	log := telemetry.NewLogger(stdout, cfg.LogLevel)
	l, err := program.Listen("guardd", ":"+strconv.Itoa(cfg.Port), cfg.AdminAddr)
	if err != nil {
		return err
	}
	defer l.Close()
	app, cleanup, err := initGuardd(cfg, log)
	if err != nil {
		return fmt.Errorf("guardd: %w", err)
	}
	defer cleanup()
	return app.Run(ctx, l)
}

// App is wired guardd.
type App struct {
	verifier *verifier.Verifier
	handler  http.Handler
	log      *slog.Logger
}

// NewApp returns an App of its parts.
func NewApp(v *verifier.Verifier, h http.Handler, log *slog.Logger) *App {
	return &App{verifier: v, handler: h, log: log}
}

// Run serves /verify on l.Public and the verifier's admin handler (/metrics, the detailed
// /ready) on l.Admin until ctx ends.
func (a *App) Run(ctx context.Context, l program.Listeners) error {
	vc := a.verifier.Config()
	a.log.Info("guardd: serving", slog.String("addr", l.Public.Addr().String()), slog.String("admin", l.AdminAddr()),
		slog.String("issuer", vc.Guard.Issuer), slog.Any("audience", vc.Guard.Audiences),
		slog.String("profile", vc.Profile()))
	if err := program.Serve(ctx, l, a.handler, a.verifier.AdminHandler(), a.log); err != nil {
		return fmt.Errorf("guardd: serve: %w", err)
	}
	return nil
}

// NewHandler is guardd's public HTTP surface: /verify and /verify/* (any method), /health,
// the terse /ready and its OpenAPI description at /openapi.json. Metrics and the detailed
// readiness report are on the admin listener.
func NewHandler(v *verifier.Verifier, log *slog.Logger) http.Handler {
	r := httpapi.NewRouter(log, v.Checks(), v.InstrumentHTTP)
	h := Verify(v)
	r.Handle("/verify", h)
	r.Handle("/verify/*", h)
	r.Get("/openapi.json", httpapi.ServeOpenAPI(openAPI))
	return r
}
