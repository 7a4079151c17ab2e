// Package interop shows that the access tokens keygate's issuer (adapters/jose.TokenIssuer)
// signs verify, with the claims and header they carry, in the libraries other services use:
// go-jose and go-oidc (Go), jose (Node, pinned in test/node) and PyJWT (Python, Debian's
// python3-jwt). Each reads the keys from a JWKS served by TokenIssuer.JWKS over HTTP, as a
// service would.
//
// Node and npm, and a python3 that imports jwt and cryptography, are needed for the last two
// (test/testbed/up.sh installs python3-jwt); without them those tests skip, and with
// KEYGATE_REQUIRE_DOCKER=1 (as CI sets) they fail:
//
//	go test ./test/interop
package interop
