package ports

import (
	"github.com/keygate/keygate/core/key"
	"github.com/keygate/keygate/core/token"
)

// TokenIssuer turns claims into a compact JWS and keys into a JWKS. It holds no state: the core
// chooses the key (see key.Ring). Safe for concurrent use.
type TokenIssuer interface {
	// Sign returns the compact JWS of c, header {"alg":"EdDSA","typ":"at+jwt","kid":k.ID},
	// signed with k.Private. A key without Private returns key.ErrSealed.
	Sign(k key.Key, c token.Claims) (string, error)
	// JWKS returns the JSON Web Key Set document (RFC 7517) of the public halves of keys, in
	// the order given: kty OKP, crv Ed25519, use sig, alg EdDSA, kid, x. Never private material.
	JWKS(keys []key.Key) ([]byte, error)
}
