// Command guardd is keygate's forward-auth sidecar, for services in any language and for
// gateways: it verifies the access token of each request it is asked about, against the
// issuer's JWKS and the revocation set it follows through Redis, exactly as the Go verifier
// package does, and answers GET /verify (nginx auth_request, Traefik forwardAuth) or any
// method on /verify/<original path> (Envoy ext_authz over HTTP): 200 with the caller's
// identity in X-Keygate-* headers, 401 with WWW-Authenticate, or 503 with Retry-After.
// Configured by environment variables (docs/configuration.md).
package main

import "github.com/keygate/keygate/apps/internal/program"

func main() { program.Main(run) }
