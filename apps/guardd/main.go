// Command guardd is keygate's forward-auth sidecar, for services in any language and for
// gateways: it verifies the access token of each request it is asked about, against the
// issuer's JWKS and the revocation set it follows through Redis, exactly as the Go verifier
// package does, and answers GET /verify (nginx auth_request, Traefik forwardAuth) or any
// method on /verify/<original path> (Envoy ext_authz over HTTP): 200 with the caller's
// identity in X-Keygate-* headers, 401 with WWW-Authenticate, or 503 with Retry-After.
// Configured by environment variables (docs/configuration.md).
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
