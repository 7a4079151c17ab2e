// Package edwards25519 verifies Ed25519 signatures with the public keys kept decoded: the
// ports.SignatureVerifier of the verifiers. crypto/ed25519.Verify decompresses the public key
// on every call (a square root, about 8% of a verification); this adapter decompresses each
// key once with filippo.io/edwards25519 (the same code as the standard library's internal
// package) and otherwise verifies exactly as crypto/ed25519 does.
package edwards25519

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha512"
	"sync"
	"sync/atomic"

	"filippo.io/edwards25519"

	"github.com/keygate/keygate/ports"
)

// MaxKeys bounds the decoded keys a Verifier keeps; past it the kept keys are dropped and
// decoded again as they are used. An issuer publishes a handful of keys.
const MaxKeys = 64

// Verifier is a ports.SignatureVerifier keeping up to MaxKeys decoded public keys. Its zero
// value is ready to use; safe for concurrent use.
type Verifier struct {
	mu   sync.Mutex // serialises writers of keys
	keys atomic.Pointer[map[[ed25519.PublicKeySize]byte]*edwards25519.Point]
}

var _ ports.SignatureVerifier = (*Verifier)(nil)

// NewVerifier returns an empty Verifier.
func NewVerifier() *Verifier { return &Verifier{} }

// Verify reports whether sig is a valid Ed25519 signature of message by pub, with the
// rules of crypto/ed25519.Verify; a key of the wrong length is false, not a panic.
func (v *Verifier) Verify(pub ed25519.PublicKey, message, sig []byte) bool {
	if len(pub) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize || sig[63]&224 != 0 {
		return false
	}
	minusA := v.point([ed25519.PublicKeySize]byte(pub))
	if minusA == nil {
		return false
	}
	// What crypto/ed25519 does after decoding the key: k = SHA-512(R || A || M) mod L, S must
	// be canonical (< L), and [k](-A) + [S]B must encode to R byte for byte.
	h := sha512.New()
	h.Write(sig[:32])
	h.Write(pub)
	h.Write(message)
	var digest [sha512.Size]byte
	k, err := edwards25519.NewScalar().SetUniformBytes(h.Sum(digest[:0]))
	if err != nil {
		return false
	}
	S, err := edwards25519.NewScalar().SetCanonicalBytes(sig[32:])
	if err != nil {
		return false
	}
	R := new(edwards25519.Point).VarTimeDoubleScalarBaseMult(k, minusA, S)
	return bytes.Equal(sig[:32], R.Bytes())
}

// point returns -A for the encoded key a, decoding it on first use, or nil when a is not a
// point on the curve (not kept: such a key is never an issuer's for long).
func (v *Verifier) point(a [ed25519.PublicKeySize]byte) *edwards25519.Point {
	if m := v.keys.Load(); m != nil {
		if p, ok := (*m)[a]; ok {
			return p
		}
	}
	A, err := new(edwards25519.Point).SetBytes(a[:])
	if err != nil {
		return nil
	}
	minusA := new(edwards25519.Point).Negate(A)
	v.mu.Lock()
	defer v.mu.Unlock()
	next := map[[ed25519.PublicKeySize]byte]*edwards25519.Point{a: minusA}
	if m := v.keys.Load(); m != nil && len(*m) < MaxKeys {
		for k, p := range *m {
			next[k] = p
		}
	}
	v.keys.Store(&next)
	return minusA
}
