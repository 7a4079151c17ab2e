// Command paymentsd is a demo microservice behind keygate: its API under /api/payments accepts
// only access tokens of the configured issuer and audience (default "payments"), verified
// locally against the issuer's JWKS and revocation set. Configured by environment variables
// (docs/configuration.md).
package main

import "github.com/keygate/keygate/apps/internal/program"

func main() { program.Main(run) }
