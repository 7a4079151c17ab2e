// Command keygatectl is keygate's operator tool. It reads the same environment as authd and
// works directly on its stores through the same use cases as the admin API: migrate applies
// the database schema; keys list|rotate|retire manage the signing-key ring (keys generate
// prints a new key); users list|disable and audit administer accounts (disabling revokes every
// session and pushes the revocation to every verifier, as the API does). Output is aligned
// text, or JSON with -json. Run it without arguments for usage.
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
