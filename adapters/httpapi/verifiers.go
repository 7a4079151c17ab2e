package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Errors of verifier access (the revocation feed and introspection).
var (
	errVerifierAccessDisabled = errors.New("httpapi: verifier access is not enabled")
	errVerifierCredential     = errors.New("httpapi: verifier credential missing or unknown")
)

// MinVerifierTokenLen is the shortest verifier credential accepted.
const MinVerifierTokenLen = 32

// verifierRealm is the realm of the WWW-Authenticate challenge of verifier endpoints.
const verifierRealm = `Bearer realm="keygate-verifiers"`

// VerifierAccess authenticates verifiers by the bearer credentials the operator gave them
// (KEYGATE_VERIFIER_TOKENS). Credentials are compared in constant time, each against every
// configured one, through their SHA-256 digests (so lengths leak nothing). Safe for
// concurrent use.
type VerifierAccess struct {
	digests [][sha256.Size]byte
	names   []string
}

// NewVerifierAccess returns the access of tokens (several at once, for rotation). A token
// shorter than MinVerifierTokenLen, with spaces or control characters, or given twice is an
// error; no token at all returns nil, nil: verifier access is off.
func NewVerifierAccess(tokens []string) (*VerifierAccess, error) {
	if len(tokens) == 0 {
		return nil, nil
	}
	va := &VerifierAccess{}
	seen := map[[sha256.Size]byte]bool{}
	for i, t := range tokens {
		if len(t) < MinVerifierTokenLen {
			return nil, fmt.Errorf("httpapi: verifier token %d is %d characters, want at least %d", i+1, len(t), MinVerifierTokenLen)
		}
		if strings.ContainsFunc(t, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return nil, fmt.Errorf("httpapi: verifier token %d has spaces or control characters", i+1)
		}
		d := sha256.Sum256([]byte(t))
		if seen[d] {
			return nil, fmt.Errorf("httpapi: verifier token %d is given twice", i+1)
		}
		seen[d] = true
		va.digests = append(va.digests, d)
		// A stable, non-secret name for rate limits and logs: the same on every replica.
		n := sha256.Sum256(append([]byte("keygate-verifier:"), t...))
		va.names = append(va.names, "v-"+hex.EncodeToString(n[:6]))
	}
	return va, nil
}

// identify returns the name of the verifier whose credential raw is. Every configured
// credential is compared, whatever matches.
func (va *VerifierAccess) identify(raw string) (string, bool) {
	d := sha256.Sum256([]byte(raw))
	match := -1
	for i := range va.digests {
		if subtle.ConstantTimeCompare(d[:], va.digests[i][:]) == 1 {
			match = i
		}
	}
	if match < 0 {
		return "", false
	}
	return va.names[match], true
}

// verifier authenticates r as a verifier and returns its name, or writes the answer (404
// when verifier access is off, 401 with a Bearer challenge) and returns false.
func (rt *router) verifier(w http.ResponseWriter, r *http.Request) (string, bool) {
	va := rt.cfg.Verifiers
	if va == nil {
		rt.fail(w, r, errVerifierAccessDisabled)
		return "", false
	}
	raw, err := bearer(r)
	if errors.Is(err, errTwoAuthHeaders) {
		rt.fail(w, r, err)
		return "", false
	}
	name, ok := "", false
	if err == nil {
		name, ok = va.identify(raw)
	}
	if !ok {
		rt.fail(w, r, errVerifierCredential) // 401 with the realm's Bearer challenge
		return "", false
	}
	return name, true
}
