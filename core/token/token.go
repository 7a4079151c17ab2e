// Package token holds the access-token nouns: the claims keygate signs (the RFC 9068 profile)
// and the reasons a token is refused. It imports only the standard library.
package token

import (
	"errors"
	"slices"
	"time"
)

// Type is the JOSE "typ" header of every keygate access token (RFC 9068 section 2.1).
const Type = "at+jwt"

// Claims is the payload of an access token.
type Claims struct {
	Issuer    string    // iss
	Subject   string    // sub: the user id
	Audience  []string  // aud: the services the token is meant for (always an array)
	ExpiresAt time.Time // exp
	IssuedAt  time.Time // iat
	NotBefore time.Time // nbf (zero when absent)
	ID        string    // jti
	SessionID string    // sid: the refresh session the token belongs to
	ClientID  string    // client_id
	Scope     string    // scope: space-separated
	Roles     []string  // roles
}

// HasAudience reports whether aud is one of the token's audiences.
func (c Claims) HasAudience(aud string) bool { return slices.Contains(c.Audience, aud) }

// HasRole reports whether the token carries role.
func (c Claims) HasRole(role string) bool { return slices.Contains(c.Roles, role) }

// Reasons a token is refused. Every one but ErrKeysUnavailable and ErrRevocationUnavailable
// means "this token is not acceptable" (HTTP 401); those two mean "cannot decide now" (503).
var (
	ErrTooLarge              = errors.New("token: too large")
	ErrMalformed             = errors.New("token: malformed")
	ErrAlgRejected           = errors.New("token: algorithm rejected")
	ErrTypRejected           = errors.New("token: type rejected")
	ErrHeaderRejected        = errors.New("token: header member rejected")
	ErrKidMissing            = errors.New("token: kid missing or invalid")
	ErrUnknownKid            = errors.New("token: unknown kid")
	ErrBadSignature          = errors.New("token: bad signature")
	ErrClaimsMissing         = errors.New("token: required claim missing or mistyped")
	ErrExpired               = errors.New("token: expired")
	ErrNotYetValid           = errors.New("token: not yet valid")
	ErrIssuedInFuture        = errors.New("token: issued in the future")
	ErrTooOld                = errors.New("token: older than the maximum token age")
	ErrIssuerMismatch        = errors.New("token: issuer mismatch")
	ErrAudienceMismatch      = errors.New("token: audience mismatch")
	ErrRevoked               = errors.New("token: revoked")
	ErrKeysUnavailable       = errors.New("token: verification keys unavailable")
	ErrRevocationUnavailable = errors.New("token: revocation state too stale")
)

var reasons = []struct {
	err  error
	name string
}{
	{ErrTooLarge, "too_large"},
	{ErrMalformed, "malformed"},
	{ErrAlgRejected, "alg_rejected"},
	{ErrTypRejected, "typ_rejected"},
	{ErrHeaderRejected, "header_rejected"},
	{ErrKidMissing, "kid_missing"},
	{ErrUnknownKid, "unknown_kid"},
	{ErrBadSignature, "bad_signature"},
	{ErrClaimsMissing, "claims_missing"},
	{ErrExpired, "expired"},
	{ErrNotYetValid, "not_yet_valid"},
	{ErrIssuedInFuture, "iat_future"},
	{ErrTooOld, "too_old"},
	{ErrIssuerMismatch, "iss_mismatch"},
	{ErrAudienceMismatch, "aud_mismatch"},
	{ErrRevoked, "revoked"},
	{ErrKeysUnavailable, "keys_unavailable"},
	{ErrRevocationUnavailable, "revocation_unavailable"},
}

// Reason returns the stable, low-cardinality name of err for metrics and logs: "ok" for nil,
// "error" for an error that is not one of this package's.
func Reason(err error) string {
	if err == nil {
		return "ok"
	}
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.name
		}
	}
	return "error"
}

// Unavailable reports whether err means the verifier cannot decide now (503) rather than
// that the token is bad (401).
func Unavailable(err error) bool {
	return errors.Is(err, ErrKeysUnavailable) || errors.Is(err, ErrRevocationUnavailable)
}
