// Package program is what the main of every keygate binary does, in one place: answer
// --version, run the binary's testable run function until SIGINT or SIGTERM, and exit non-zero
// printing its error. Each main is one line: program.Main(run). A service's run binds its
// two listeners, the public API and the admin listener (metrics, the detailed readiness
// report), with Listen, and serves both, shutting them down together, with Serve.
package program

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/keygate/keygate/internal/version"
)

// Run is a binary's entry point, testable in process: the arguments, the environment (os.Getenv
// in main, a map in tests) and where logs and output go. It returns when ctx ends.
type Run func(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error

// Main prints the version for --version; otherwise it calls run with a context that ends on
// SIGINT or SIGTERM, and exits with status 1, the error on stderr, when run fails.
func Main(run Run) {
	if version.Requested(os.Args) {
		version.Print(os.Stdout, os.Args)
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Getenv, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
