package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"

	"github.com/keygate/keygate/adapters/httpapi"
	"github.com/keygate/keygate/adapters/telemetry"
	"github.com/keygate/keygate/apps/internal/env"
	"github.com/keygate/keygate/apps/verifier"
)

// DefaultPort is guardd's PORT when unset.
const DefaultPort = 8083

// Config is guardd's whole configuration, read once at start.
type Config struct {
	Port     int
	LogLevel string
	Verifier verifier.Config // the variables of ordersd; KEYGATE_AUDIENCE is required
}

// Load reads guardd's configuration through getenv, reporting every problem at once.
func Load(getenv func(string) string) (Config, error) {
	r := env.New(getenv)
	c := Config{Port: r.Port(DefaultPort), LogLevel: r.OneOf("KEYGATE_LOG_LEVEL", "info", "debug", "info", "warn", "error")}
	var err error
	c.Verifier, err = verifier.FromEnv(getenv, "")
	c.Verifier.Name = "guardd"
	return c, errors.Join(r.Err(), err)
}

// run reads the configuration, listens on PORT, wires guardd and serves until ctx ends.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) > 1 {
		return fmt.Errorf("guardd: unexpected arguments %q: guardd is configured by environment variables (docs/configuration.md)", args[1:])
	}
	cfg, err := Load(getenv)
	if err != nil {
		return err
	}
	log := telemetry.NewLogger(stdout, cfg.LogLevel)
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(cfg.Port))
	if err != nil {
		return fmt.Errorf("guardd: listen: %w", err)
	}
	defer ln.Close()
	app, cleanup, err := initGuardd(cfg, log)
	if err != nil {
		return fmt.Errorf("guardd: %w", err)
	}
	defer cleanup()
	return app.Run(ctx, ln)
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

// Run serves on ln until ctx ends.
func (a *App) Run(ctx context.Context, ln net.Listener) error {
	vc := a.verifier.Config()
	a.log.Info("guardd: serving", slog.String("addr", ln.Addr().String()),
		slog.String("issuer", vc.Guard.Issuer), slog.Any("audience", vc.Guard.Audiences),
		slog.String("profile", vc.Profile()))
	if err := httpapi.Serve(ctx, ln, a.handler, a.log); err != nil {
		return fmt.Errorf("guardd: serve: %w", err)
	}
	return nil
}

// NewHandler is guardd's HTTP surface: /verify and /verify/* (any method), /health, /ready,
// /metrics and its OpenAPI description at /openapi.json.
func NewHandler(v *verifier.Verifier, log *slog.Logger) http.Handler {
	r := httpapi.NewRouter(log, v.Metrics(), v.Checks(), v.InstrumentHTTP)
	h := Verify(v)
	r.Handle("/verify", h)
	r.Handle("/verify/*", h)
	r.Get("/openapi.json", httpapi.ServeOpenAPI(openAPI))
	return r
}
