// Command authd is keygate's auth service: it registers and logs users in, issues Ed25519
// access tokens and rotating refresh tokens, revokes them, and publishes its JWKS. It is
// configured by environment variables only (docs/configuration.md).
package main

import "github.com/keygate/keygate/apps/internal/program"

func main() { program.Main(run) }
