// Package jose is keygate's JOSE adapter: TokenIssuer signs access tokens and writes the JWKS
// document with go-jose v4, RemoteKeySet gives a verifier the issuer's public keys from its
// JWKS (fetched in the background, cached, refreshed on demand with limits), and Discovery
// writes the issuer's OpenID-style discovery document.
package jose

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	gojose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/keygate/keygate/core/key"
	"github.com/keygate/keygate/core/token"
	"github.com/keygate/keygate/ports"
)

// Alg is the JWS algorithm keygate signs with (RFC 8037). Verifiers also accept its RFC 9864
// name "Ed25519".
const Alg = "EdDSA"

// TokenIssuer implements ports.TokenIssuer with go-jose. It holds no state.
type TokenIssuer struct{}

var _ ports.TokenIssuer = (*TokenIssuer)(nil)

// NewTokenIssuer returns a TokenIssuer.
func NewTokenIssuer() *TokenIssuer { return &TokenIssuer{} }

// claims is the JSON form of token.Claims (RFC 9068): aud is always an array, nbf and the
// optional members are omitted when empty.
type claims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  []string `json:"aud"`
	ExpiresAt int64    `json:"exp"`
	IssuedAt  int64    `json:"iat"`
	NotBefore int64    `json:"nbf,omitempty"`
	ID        string   `json:"jti"`
	SessionID string   `json:"sid,omitempty"`
	ClientID  string   `json:"client_id"`
	Scope     string   `json:"scope,omitempty"`
	Roles     []string `json:"roles,omitempty"`
}

// Sign returns the compact JWS of c, header {"alg":"EdDSA","kid":k.ID,"typ":"at+jwt"}, signed
// with k.Private. A key without Private returns key.ErrSealed.
func (*TokenIssuer) Sign(k key.Key, c token.Claims) (string, error) {
	if len(k.Private) != ed25519.PrivateKeySize {
		return "", fmt.Errorf("jose: sign: %w", key.ErrSealed)
	}
	if !validKid(k.ID) {
		return "", fmt.Errorf("jose: sign: invalid kid %q", k.ID)
	}
	if c.ExpiresAt.IsZero() || c.IssuedAt.IsZero() {
		return "", errors.New("jose: sign: exp and iat are required")
	}
	body := claims{Issuer: c.Issuer, Subject: c.Subject, Audience: c.Audience,
		ExpiresAt: c.ExpiresAt.Unix(), IssuedAt: c.IssuedAt.Unix(), ID: c.ID,
		SessionID: c.SessionID, ClientID: c.ClientID, Scope: c.Scope, Roles: c.Roles}
	if body.Audience == nil {
		body.Audience = []string{}
	}
	if !c.NotBefore.IsZero() {
		body.NotBefore = c.NotBefore.Unix()
	}
	sig, err := newSigner(k.Private, k.ID, token.Type)
	if err != nil {
		return "", err
	}
	s, err := jwt.Signed(sig).Claims(body).Serialize()
	if err != nil {
		return "", fmt.Errorf("jose: sign: %w", err)
	}
	return s, nil
}

// newSigner returns an EdDSA signer whose header has kid and typ when they are not empty.
func newSigner(priv ed25519.PrivateKey, kid, typ string) (gojose.Signer, error) {
	opts := &gojose.SignerOptions{}
	if typ != "" {
		opts = opts.WithType(gojose.ContentType(typ))
	}
	var k any = priv
	if kid != "" {
		k = gojose.JSONWebKey{Key: priv, KeyID: kid}
	}
	s, err := gojose.NewSigner(gojose.SigningKey{Algorithm: gojose.EdDSA, Key: k}, opts)
	if err != nil {
		return nil, fmt.Errorf("jose: signer: %w", err)
	}
	return s, nil
}

// JWKS returns the JSON Web Key Set (RFC 7517) of the public halves of keys, in the order
// given: kty OKP, crv Ed25519, use sig, alg EdDSA, kid, x, and never private material. A key
// with a malformed public half or a kid given twice is an error: verifiers would reject the
// whole document.
func (*TokenIssuer) JWKS(keys []key.Key) ([]byte, error) {
	set := gojose.JSONWebKeySet{Keys: make([]gojose.JSONWebKey, 0, len(keys))}
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		if err := validPublicKey(k.Public); err != nil {
			return nil, fmt.Errorf("jose: jwks: key %q: %w", k.ID, err)
		}
		if !validKid(k.ID) || seen[k.ID] {
			return nil, fmt.Errorf("jose: jwks: invalid or duplicate kid %q", k.ID)
		}
		seen[k.ID] = true
		set.Keys = append(set.Keys, gojose.JSONWebKey{Key: ed25519.PublicKey(k.Public), KeyID: k.ID, Algorithm: Alg, Use: "sig"})
	}
	b, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("jose: jwks: %w", err)
	}
	return b, nil
}

// Well-known paths under the issuer.
const (
	DiscoveryPath = "/.well-known/openid-configuration"
	JWKSPath      = "/.well-known/jwks.json"
)

// Discovery returns the discovery document of issuer (an absolute http(s) URL with no query,
// fragment or trailing slash), served at issuer + DiscoveryPath: the issuer, its JWKS URL, the
// signing algorithm and the endpoints a client needs.
func Discovery(issuer string) ([]byte, error) {
	if err := checkIssuer(issuer); err != nil {
		return nil, err
	}
	doc := struct {
		Issuer                           string   `json:"issuer"`
		JWKSURI                          string   `json:"jwks_uri"`
		RevocationEndpoint               string   `json:"revocation_endpoint"`
		RevocationAuthMethods            []string `json:"revocation_endpoint_auth_methods_supported"`
		UserinfoEndpoint                 string   `json:"userinfo_endpoint"`
		IDTokenSigningAlgValuesSupported []string `json:"id_token_signing_alg_values_supported"`
		TokenTypesSupported              []string `json:"access_token_types_supported"`
		SubjectTypesSupported            []string `json:"subject_types_supported"`
	}{
		Issuer:                           issuer,
		JWKSURI:                          issuer + JWKSPath,
		RevocationEndpoint:               issuer + "/revoke",
		RevocationAuthMethods:            []string{"none"},
		UserinfoEndpoint:                 issuer + "/me",
		IDTokenSigningAlgValuesSupported: []string{Alg},
		TokenTypesSupported:              []string{token.Type},
		SubjectTypesSupported:            []string{"public"},
	}
	return json.Marshal(doc)
}

func checkIssuer(issuer string) error {
	u, err := url.Parse(issuer)
	switch {
	case err != nil:
		return fmt.Errorf("jose: issuer %q: %w", issuer, err)
	case u.Scheme != "https" && u.Scheme != "http", u.Host == "":
		return fmt.Errorf("jose: issuer %q is not an absolute http(s) URL", issuer)
	case u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(issuer, "/") || u.User != nil:
		return fmt.Errorf("jose: issuer %q has a query, fragment, user or trailing slash", issuer)
	}
	return nil
}
