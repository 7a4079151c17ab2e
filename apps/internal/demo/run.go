package demo

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"

	"github.com/keygate/keygate/adapters/telemetry"
)

// Run is the whole of ordersd's and paymentsd's run: it reads the configuration of the demo
// service kind (Orders or Payments), listens on PORT (default defPort), wires the profile the
// configuration asks for, and serves until ctx ends. Logs go to stdout as JSON.
func Run(ctx context.Context, kind string, defPort int, args []string, getenv func(string) string, stdout io.Writer) error {
	name := kind + "d"
	if len(args) > 1 {
		return fmt.Errorf("%s: unexpected arguments %q: %s is configured by environment variables (docs/configuration.md)", name, args[1:], name)
	}
	cfg, err := Load(getenv, kind, defPort)
	if err != nil {
		return err
	}
	log := telemetry.NewLogger(stdout, cfg.LogLevel)
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(cfg.Port))
	if err != nil {
		return fmt.Errorf("%s: listen: %w", name, err)
	}
	defer ln.Close()
	app, cleanup, err := Build(cfg, log)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	defer cleanup()
	return app.Run(ctx, ln)
}
