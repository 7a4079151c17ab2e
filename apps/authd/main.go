// Command authd is keygate's auth service: it registers and logs users in, issues Ed25519
// access tokens and rotating refresh tokens, revokes them, and publishes its JWKS. It is
// configured by environment variables only (docs/configuration.md).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/keygate/keygate/internal/version"
)

func main() {
	if version.Requested(os.Args) {
		version.Print(os.Stdout, os.Args)
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	if err := run(ctx, os.Args, os.Getenv, os.Stdout); err != nil {
		stop()
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	stop()
}
