package main

import (
	"context"
	"fmt"
	"io"
	"strconv"

	"github.com/keygate/keygate/adapters/telemetry"
	"github.com/keygate/keygate/apps/internal/authsvc"
	"github.com/keygate/keygate/apps/internal/program"
)

// run reads the configuration, listens on PORT (0: a free port; the default issuer names the
// port actually bound) and on KEYGATE_ADMIN_ADDR (metrics, the detailed readiness report),
// wires the profile the configuration asks for, and serves until ctx ends. Logs go to stdout
// as JSON.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) > 1 {
		return fmt.Errorf("authd: unexpected arguments %q: authd is configured by environment variables (docs/configuration.md)", args[1:])
	}
	cfg, err := authsvc.Load(getenv)
	if err != nil {
		return err
	}
	log := telemetry.NewLogger(stdout, cfg.LogLevel)
	l, err := program.Listen("authd", ":"+strconv.Itoa(cfg.Port), cfg.AdminAddr)
	if err != nil {
		return err
	}
	defer l.Close()
	cfg.Listened(l.PublicPort())
	app, cleanup, err := authsvc.Open(ctx, cfg, log)
	if err != nil {
		return fmt.Errorf("authd: %w", err)
	}
	defer cleanup()
	return app.Run(ctx, l)
}
