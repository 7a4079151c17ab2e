package jose

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"filippo.io/edwards25519"
)

// maxKeys is the most keys a JWKS may hold.
const maxKeys = 32

var (
	errKeyLength   = errors.New("not 32 bytes")
	errKeyEncoding = errors.New("not a canonical point encoding")
	errLowOrder    = errors.New("low-order point")
)

// validPublicKey checks an Ed25519 public key before it may verify anything: 32 bytes, the
// canonical encoding of a curve point, and not of small order (with such a key, ed25519.Verify
// accepts a signature forged for any message: R = identity, S = 0).
func validPublicKey(x []byte) error {
	if len(x) != ed25519.PublicKeySize {
		return errKeyLength
	}
	p, err := new(edwards25519.Point).SetBytes(x)
	if err != nil || !bytes.Equal(p.Bytes(), x) {
		return errKeyEncoding
	}
	if new(edwards25519.Point).MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) == 1 {
		return errLowOrder
	}
	return nil
}

// validKid reports whether kid is 1..64 characters of [A-Za-z0-9._-] (the verifier's rule).
func validKid(kid string) bool {
	if kid == "" || len(kid) > 64 {
		return false
	}
	for i := 0; i < len(kid); i++ {
		c := kid[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// Outcomes of a fetch, as Metrics.JWKSFetch labels them.
const (
	outcome200        = "200"
	outcome304        = "304"
	outcomeHTTPError  = "http_error"
	outcomeTimeout    = "timeout"
	outcomeTooLarge   = "too_large"
	outcomeParseError = "parse_error"
	outcomeEmpty      = "rejected_empty"
	outcomeDupKid     = "rejected_dup_kid"
)

// fetchError is a failed fetch with its metrics outcome.
type fetchError struct {
	outcome string
	err     error
}

func (e *fetchError) Error() string { return fmt.Sprintf("jose: jwks %s: %v", e.outcome, e.err) }
func (e *fetchError) Unwrap() error { return e.err }

func failed(outcome string, format string, args ...any) error {
	return &fetchError{outcome: outcome, err: fmt.Errorf(format, args...)}
}

// parseJWKS reads a JWKS document key by key (RFC 7517 section 5): an unusable key is skipped
// and counted, but a kid given twice, more than maxKeys keys, or no usable key rejects the
// whole document, so the caller keeps its last good set.
func parseJWKS(body []byte) (keys map[string]ed25519.PublicKey, skipped int, err error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, 0, failed(outcomeParseError, "%w", err)
	}
	var entries []json.RawMessage
	if err := json.Unmarshal(doc["keys"], &entries); err != nil || entries == nil {
		return nil, 0, failed(outcomeParseError, "no keys array")
	}
	if len(entries) > maxKeys {
		return nil, 0, failed(outcomeTooLarge, "%d keys, at most %d", len(entries), maxKeys)
	}
	keys = make(map[string]ed25519.PublicKey, len(entries))
	kids := make(map[string]bool, len(entries))
	for _, raw := range entries {
		var m map[string]json.RawMessage
		if json.Unmarshal(raw, &m) != nil {
			skipped++
			continue
		}
		kid, _ := str(m, "kid")
		if kid != "" {
			if kids[kid] {
				return nil, 0, failed(outcomeDupKid, "kid %q appears twice", kid)
			}
			kids[kid] = true
		}
		pub, ok := usableKey(m)
		if !ok {
			skipped++
			continue
		}
		keys[kid] = pub
	}
	if len(keys) == 0 {
		return nil, skipped, failed(outcomeEmpty, "no usable Ed25519 key (%d skipped)", skipped)
	}
	return keys, skipped, nil
}

// usableKey returns the key of a JWK a verifier may use: OKP/Ed25519, alg EdDSA or Ed25519,
// use absent or sig, key_ops absent or exactly including verify once, a valid kid, no
// private member, and an x that passes validPublicKey.
func usableKey(m map[string]json.RawMessage) (ed25519.PublicKey, bool) {
	for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
		if _, ok := m[private]; ok {
			return nil, false
		}
	}
	kty, _ := str(m, "kty")
	crv, _ := str(m, "crv")
	alg, _ := str(m, "alg")
	kid, _ := str(m, "kid")
	if kty != "OKP" || crv != "Ed25519" || (alg != "EdDSA" && alg != "Ed25519") || !validKid(kid) {
		return nil, false
	}
	if use, present := str(m, "use"); present && use != "sig" {
		return nil, false
	}
	if raw, ok := m["key_ops"]; ok {
		var ops []string
		if json.Unmarshal(raw, &ops) != nil {
			return nil, false
		}
		seen := map[string]bool{}
		for _, op := range ops {
			if seen[op] {
				return nil, false
			}
			seen[op] = true
		}
		if !seen["verify"] {
			return nil, false
		}
	}
	x, _ := str(m, "x")
	b, err := strictB64(x)
	if err != nil || validPublicKey(b) != nil {
		return nil, false
	}
	return ed25519.PublicKey(b), true
}

// str returns member name of m as a string, and whether it is present at all (a present
// member that is not a string returns "", true).
func str(m map[string]json.RawMessage, name string) (string, bool) {
	raw, ok := m[name]
	if !ok {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", true
	}
	return s, true
}

// strictB64 decodes base64url with no padding, canonical trailing bits, and no white space.
func strictB64(s string) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return nil, errKeyEncoding
		}
	}
	return base64.RawURLEncoding.Strict().DecodeString(s)
}
