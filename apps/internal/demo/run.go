package demo

import (
	"context"
	"fmt"
	"io"
	"strconv"

	"github.com/keygate/keygate/adapters/telemetry"
	"github.com/keygate/keygate/apps/internal/program"
)

// Run is the whole of ordersd's and paymentsd's run: it reads the configuration of the demo
// service kind (Orders or Payments), listens on PORT (default defPort) and KEYGATE_ADMIN_ADDR
// (default defAdmin), wires the profile the configuration asks for, and serves until ctx
// ends. Logs go to stdout as JSON.
func Run(ctx context.Context, kind string, defPort int, defAdmin string, args []string, getenv func(string) string, stdout io.Writer) error {
	name := kind + "d"
	if len(args) > 1 {
		return fmt.Errorf("%s: unexpected arguments %q: %s is configured by environment variables (docs/configuration.md)", name, args[1:], name)
	}
	cfg, err := Load(getenv, kind, defPort, defAdmin)
	if err != nil {
		return err
	}
	log := telemetry.NewLogger(stdout, cfg.LogLevel)
	l, err := program.Listen(name, ":"+strconv.Itoa(cfg.Port), cfg.AdminAddr)
	if err != nil {
		return err
	}
	defer l.Close()
	app, cleanup, err := Build(cfg, log)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	defer cleanup()
	return app.Run(ctx, l)
}
