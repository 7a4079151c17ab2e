// Command devstack runs keygate's whole system in one process, in memory, with no Docker,
// Redis or database: authd on PORT (default 8080) and the demo microservices orders and
// payments on the next two ports (PORT=0 picks three free ports), sharing one in-process
// event bus and revocation store. It prints a quickstart of curl lines. Development only.
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
