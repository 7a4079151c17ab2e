package main

import (
	"context"
	"io"

	"github.com/keygate/keygate/apps/internal/demo"
)

// run is demo.Run for the orders service on port 8081 and admin address :9091 by default.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	return demo.Run(ctx, demo.Orders, 8081, ":9091", args, getenv, stdout)
}
