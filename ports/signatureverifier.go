package ports

import "crypto/ed25519"

// SignatureVerifier checks Ed25519 signatures for a verifier's hot path. Verify accepts exactly
// what crypto/ed25519.Verify accepts (RFC 8032 with a canonical S, the cofactorless equation
// [S]B = R + [k]A, every encoding of a public key that decodes to a curve point) and reports
// false, never panics, where crypto/ed25519.Verify would reject or panic (a key of the wrong
// length). An implementation may keep decoded public keys between calls. Safe for concurrent
// use; portstest.RunSignatureVerifier checks the contract against crypto/ed25519.
type SignatureVerifier interface {
	Verify(pub ed25519.PublicKey, message, sig []byte) bool
}
