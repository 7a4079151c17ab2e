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
	// loaded, or stale beyond its bound) it returns token.ErrKeysUnavailable.
	PublicKey(ctx context.Context, kid string, mayRefresh bool) (ed25519.PublicKey, error)
	// Refresh reloads the key set now (a key-change event arrived). It is rate-limited and
	// single-flight like the unknown-kid refresh; the returned error is informational.
	Refresh(ctx context.Context) error
}
