package main

import (
	"context"
	"io"

	"github.com/keygate/keygate/apps/devstack/stack"
)

// run starts the dev stack; see stack.Run.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	return stack.Run(ctx, args, getenv, stdout)
}
