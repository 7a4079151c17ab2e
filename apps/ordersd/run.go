package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"

	"github.com/keygate/keygate/adapters/telemetry"
	"github.com/keygate/keygate/apps/internal/demo"
)

// run reads the configuration, listens on PORT (default 8081), wires the profile the
// configuration asks for, and serves until ctx ends. Logs go to stdout as JSON.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) > 1 {
		return fmt.Errorf("ordersd: unexpected arguments %q: ordersd is configured by environment variables (docs/configuration.md)", args[1:])
	}
	cfg, err := demo.Load(getenv, demo.Orders, 8081)
	if err != nil {
		return err
	}
	log := telemetry.NewLogger(stdout, cfg.LogLevel)
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(cfg.Port))
	if err != nil {
		return fmt.Errorf("ordersd: listen: %w", err)
	}
	defer ln.Close()
	app, cleanup, err := build(cfg, log)
	if err != nil {
		return fmt.Errorf("ordersd: %w", err)
	}
	defer cleanup()
	return app.Run(ctx, ln)
}

// build calls the injector of cfg's deployment profile.
func build(cfg demo.Config, log *slog.Logger) (*demo.App, func(), error) {
	switch cfg.Profile {
	case demo.ProfileRedis:
		return initRedis(cfg, log)
	case demo.ProfileStandalone:
		return initStandalone(cfg, log)
	default:
		return nil, nil, fmt.Errorf("no injector for profile %q", cfg.Profile)
	}
}
