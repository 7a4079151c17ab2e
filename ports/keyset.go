package ports

import (
	"context"
	"crypto/ed25519"
)

// KeySet gives a verifier the public keys of an issuer. PublicKey is on the hot path: a known
// kid answers from memory with no I/O and no lock. Safe for concurrent use.
type KeySet interface {
	// PublicKey returns the 32-byte key for kid. For an unknown kid it may start one
	// single-flight, rate-limited refresh when mayRefresh is true (the caller has checked
	// that the unverified token is plausibly ours), waits for it only briefly, and returns
	// token.ErrUnknownKid if the kid is still unknown. With no usable key set at all (never
	// loaded, or stale beyond its bound) it returns token.ErrKeysUnavailable. A distrusted
	// kid (Distrust) is unknown, without I/O.
	PublicKey(ctx context.Context, kid string, mayRefresh bool) (ed25519.PublicKey, error)
	// Refresh reloads the key set now: a key-change event arrived. etag, when not empty, is
	// the ETag of the issuer's JWKS document that serves the changed set: the reload looks
	// past any cache and, while it is served another document (an issuer replica that has
	// not reloaded yet), looks again shortly, within a bound, until it holds that one. It is
	// single-flight and bounded like the unknown-kid refresh; the returned error is
	// informational.
	Refresh(ctx context.Context, etag string) error
	// Distrust makes PublicKey refuse kid from now on, at once and without I/O, whatever a
	// later reload finds: a key-change event said the key was withdrawn (compromised), and a
	// withdrawn key never returns.
	Distrust(kid string)
}
