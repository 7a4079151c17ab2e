package main

import (
	"context"
	"io"

	"github.com/keygate/keygate/apps/internal/demo"
)

// run is demo.Run for the payments service on port 8082 and admin address :9092 by default.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	return demo.Run(ctx, demo.Payments, 8082, ":9092", args, getenv, stdout)
}
