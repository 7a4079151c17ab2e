// Command keygatectl is keygate's operator tool. Today it has one command, keys generate,
// which prints a new Ed25519 signing key as JSON (kid, public JWK, and the private seed sealed
// under KEYGATE_KEK, or raw with -raw). Run it without arguments for usage.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	if err := run(ctx, os.Args, os.Getenv, os.Stdout); err != nil {
		stop()
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	stop()
}
