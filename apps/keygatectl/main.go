// Command keygatectl is keygate's operator tool. It reads the same environment as authd and
// works directly on its stores through the same use cases as the admin API: migrate applies
// the database schema; keys list|rotate|retire manage the signing-key ring (keys generate
// prints a new key); users list|disable|enable|grant|revoke-role and audit administer accounts
// (disabling, and revoking a role, revoke the user's tokens and push the revocation to every
// verifier, as the API does). Output is aligned
// text, or JSON with -json. Run it without arguments for usage.
package main

import "github.com/keygate/keygate/apps/internal/program"

func main() { program.Main(run) }
