// Command paymentsd is a demo microservice behind keygate: its API under /api/payments accepts
// only access tokens of the configured issuer and audience (default "payments"), verified
// locally against the issuer's JWKS and revocation set. Configured by environment variables
// (docs/configuration.md).
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
