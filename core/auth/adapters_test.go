package auth

// Stand-ins for adapters written elsewhere (jose, argon2, norm), used until they land.

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"

	"github.com/keygate/keygate/core/key"
	"github.com/keygate/keygate/core/token"
	"github.com/keygate/keygate/ports"
)

type fakeIssuer struct{}

func newTestIssuer() ports.TokenIssuer { return fakeIssuer{} }

func (fakeIssuer) Sign(k key.Key, c token.Claims) (string, error) {
	if len(k.Private) != ed25519.PrivateKeySize {
		return "", key.ErrSealed
	}
	h, _ := json.Marshal(map[string]string{"alg": "EdDSA", "typ": token.Type, "kid": k.ID})
	p, _ := json.Marshal(map[string]any{
		"iss": c.Issuer, "sub": c.Subject, "aud": c.Audience, "exp": c.ExpiresAt.Unix(),
		"iat": c.IssuedAt.Unix(), "nbf": c.NotBefore.Unix(), "jti": c.ID, "sid": c.SessionID,
		"client_id": c.ClientID, "scope": c.Scope, "roles": c.Roles,
	})
	signed := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p)
	return signed + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(k.Private, []byte(signed))), nil
}

func (fakeIssuer) JWKS(keys []key.Key) ([]byte, error) {
	type jwk struct {
		Kty string `json:"kty"`
		Crv string `json:"crv"`
		Use string `json:"use"`
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		X   string `json:"x"`
	}
	doc := struct {
		Keys []jwk `json:"keys"`
	}{Keys: []jwk{}}
	for _, k := range keys {
		doc.Keys = append(doc.Keys, jwk{"OKP", "Ed25519", "sig", "EdDSA", k.ID, base64.RawURLEncoding.EncodeToString(k.Public)})
	}
	return json.Marshal(doc)
}

// fakeHasher is a salted, iterated SHA-256: the same work for an empty hash.
type fakeHasher struct{}

func newTestHasher() ports.PasswordHasher { return fakeHasher{} }

func work(salt, pw string) string {
	sum := sha256.Sum256([]byte(salt + pw))
	for range 1000 {
		sum = sha256.Sum256(sum[:])
	}
	return hex.EncodeToString(sum[:])
}

func (fakeHasher) Hash(_ context.Context, pw string) (string, error) {
	salt := hex.EncodeToString([]byte(pw))[:4]
	return "$fake$" + salt + "$" + work(salt, pw), nil
}

func (fakeHasher) Verify(_ context.Context, hash, pw string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 4 {
		_ = work("dummy", pw)
		return false, nil
	}
	return subtle.ConstantTimeCompare([]byte(work(parts[2], pw)), []byte(parts[3])) == 1, nil
}

type fakeNorm struct{}

func newTestNorm() ports.Normalizer { return fakeNorm{} }

func (fakeNorm) NFC(s string) string  { return s }
func (fakeNorm) NFKC(s string) string { return strings.ReplaceAll(s, "ﬁ", "fi") }
