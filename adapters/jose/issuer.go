// Package jose is keygate's JOSE adapter: TokenIssuer signs access tokens (one ed25519.Sign
// each, the header precomputed) and writes the JWKS document with go-jose v4, RemoteKeySet gives a verifier the issuer's public keys from its
// JWKS (fetched in the background, cached, refreshed on demand with limits), and Discovery
// writes the issuer's OpenID-style discovery document.
package jose

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
	"unsafe"

	gojose "github.com/go-jose/go-jose/v4"

	"github.com/keygate/keygate/core/key"
	"github.com/keygate/keygate/core/token"
	"github.com/keygate/keygate/ports"
)

// Alg is the JWS algorithm keygate signs with (RFC 8037). Verifiers also accept its RFC 9864
// name "Ed25519".
const Alg = "EdDSA"

// TokenIssuer implements ports.TokenIssuer. It signs without go-jose's per-token signer: the
// protected header of each key is encoded once and kept, the claims are appended as JSON by
// hand (members in byte order and strings escaped as go-jose writes them, so a token is byte
// for byte the one go-jose would make), and each token costs one ed25519.Sign. go-jose writes
// the JWKS. Besides those encoded headers it holds no state; the zero value is ready to use.
type TokenIssuer struct {
	headers sync.Map     // kid -> string: base64url of {"alg":"EdDSA","kid":kid,"typ":"at+jwt"}
	nheader atomic.Int64 // entries in headers; cleared past maxHeaders
}

// maxHeaders bounds the encoded headers kept: a ring holds a handful of keys at a time.
const maxHeaders = 64

var _ ports.TokenIssuer = (*TokenIssuer)(nil)

// NewTokenIssuer returns a TokenIssuer.
func NewTokenIssuer() *TokenIssuer { return &TokenIssuer{} }

// Sign returns the compact JWS of c, header {"alg":"EdDSA","kid":k.ID,"typ":"at+jwt"}, signed
// with k.Private. The claims are an RFC 9068 JSON object: aud is always an array, nbf, sid,
// scope and roles are omitted when empty. A key without Private returns key.ErrSealed.
func (i *TokenIssuer) Sign(k key.Key, c token.Claims) (string, error) {
	if len(k.Private) != ed25519.PrivateKeySize {
		return "", fmt.Errorf("jose: sign: %w", key.ErrSealed)
	}
	if !validKid(k.ID) {
		return "", fmt.Errorf("jose: sign: invalid kid %q", k.ID)
	}
	if c.ExpiresAt.IsZero() || c.IssuedAt.IsZero() {
		return "", errors.New("jose: sign: exp and iat are required")
	}
	var scratch [512]byte
	return signCompact(k.Private, i.header(k.ID), appendClaims(scratch[:0], &c)), nil
}

// header returns the encoded protected header of kid (a valid kid, see validKid).
func (i *TokenIssuer) header(kid string) string {
	if h, ok := i.headers.Load(kid); ok {
		return h.(string)
	}
	// Members in byte order, as go-jose writes them; a valid kid needs no escaping.
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"` + Alg + `","kid":"` + kid + `","typ":"` + token.Type + `"}`))
	if i.nheader.Add(1) > maxHeaders {
		i.headers.Clear()
		i.nheader.Store(1)
	}
	i.headers.Store(kid, h)
	return h
}

// signCompact returns header.payload.signature: header already base64url-encoded, payload
// encoded here, and the Ed25519 signature of the first two parts.
func signCompact(priv ed25519.PrivateKey, header string, payload []byte) string {
	enc := base64.RawURLEncoding
	n := len(header) + 1 + enc.EncodedLen(len(payload))
	b := make([]byte, 0, n+1+enc.EncodedLen(ed25519.SignatureSize))
	b = append(b, header...)
	b = append(b, '.')
	b = enc.AppendEncode(b, payload)
	sig := ed25519.Sign(priv, b)
	b = append(b, '.')
	b = enc.AppendEncode(b, sig)
	return unsafe.String(unsafe.SliceData(b), len(b)) // b is not used after this
}

// appendClaims appends the JSON object of c to b: its members in byte order (aud, client_id,
// exp, iat, iss, jti, nbf, roles, scope, sid, sub), nbf omitted when zero (or at the Unix
// epoch), sid and scope when empty, roles when it has none; aud is always an array. This is the
// byte string go-jose's jwt builder produces for the same claims.
func appendClaims(b []byte, c *token.Claims) []byte {
	b = append(b, `{"aud":[`...)
	for n, a := range c.Audience {
		if n > 0 {
			b = append(b, ',')
		}
		b = appendString(b, a)
	}
	b = append(b, `],"client_id":`...)
	b = appendString(b, c.ClientID)
	b = append(b, `,"exp":`...)
	b = strconv.AppendInt(b, c.ExpiresAt.Unix(), 10)
	b = append(b, `,"iat":`...)
	b = strconv.AppendInt(b, c.IssuedAt.Unix(), 10)
	b = append(b, `,"iss":`...)
	b = appendString(b, c.Issuer)
	b = append(b, `,"jti":`...)
	b = appendString(b, c.ID)
	if !c.NotBefore.IsZero() && c.NotBefore.Unix() != 0 {
		b = append(b, `,"nbf":`...)
		b = strconv.AppendInt(b, c.NotBefore.Unix(), 10)
	}
	if len(c.Roles) > 0 {
		b = append(b, `,"roles":[`...)
		for n, r := range c.Roles {
			if n > 0 {
				b = append(b, ',')
			}
			b = appendString(b, r)
		}
		b = append(b, ']')
	}
	if c.Scope != "" {
		b = append(b, `,"scope":`...)
		b = appendString(b, c.Scope)
	}
	if c.SessionID != "" {
		b = append(b, `,"sid":`...)
		b = appendString(b, c.SessionID)
	}
	b = append(b, `,"sub":`...)
	b = appendString(b, c.Subject)
	return append(b, '}')
}

// appendString appends s as a JSON string escaped as go-jose escapes it (not quite as
// encoding/json, which writes \b and \f): \", \\, \n, \r, \t; other control characters and
// <, >, & as \u00XX; U+2028 and U+2029 as \u2028 and \u2029; each byte of invalid UTF-8 as
// U+FFFD (the character itself, as go-jose's builder writes it after reading back its own first
// encoding).
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if 0x20 <= c && c != '\\' && c != '"' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = utf8.AppendRune(b, utf8.RuneError)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
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
