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

// ErrInvalid matches (errors.Is) every reason below that means "this token is not
// acceptable" (HTTP 401): all but ErrKeysUnavailable and ErrRevocationUnavailable, which mean
// "cannot decide now" (503). A caller that must not say why a token was refused answers
// ErrInvalid itself.
var ErrInvalid = errors.New("token: not acceptable")

// Reasons a token is refused, each with its stable metric name (see Reason).
var (
	ErrTooLarge              = refused("too_large", "token: too large")
	ErrMalformed             = refused("malformed", "token: malformed")
	ErrAlgRejected           = refused("alg_rejected", "token: algorithm rejected")
	ErrTypRejected           = refused("typ_rejected", "token: type rejected")
	ErrHeaderRejected        = refused("header_rejected", "token: header member rejected")
	ErrKidMissing            = refused("kid_missing", "token: kid missing or invalid")
	ErrUnknownKid            = refused("unknown_kid", "token: unknown kid")
	ErrBadSignature          = refused("bad_signature", "token: bad signature")
	ErrClaimsMissing         = refused("claims_missing", "token: required claim missing or mistyped")
	ErrExpired               = refused("expired", "token: expired")
	ErrNotYetValid           = refused("not_yet_valid", "token: not yet valid")
	ErrIssuedInFuture        = refused("iat_future", "token: issued in the future")
	ErrTooOld                = refused("too_old", "token: older than the maximum token age")
	ErrIssuerMismatch        = refused("iss_mismatch", "token: issuer mismatch")
	ErrAudienceMismatch      = refused("aud_mismatch", "token: audience mismatch")
	ErrRevoked               = refused("revoked", "token: revoked")
	ErrKeysUnavailable       = undecided("keys_unavailable", "token: verification keys unavailable")
	ErrRevocationUnavailable = undecided("revocation_unavailable", "token: revocation state too stale")
)

// reason is one of the sentinels above: its text, its metric name, and whether it is a
// refusal (it matches ErrInvalid) or an inability to decide.
type reason struct {
	name, text string
	refusal    bool
}

func refused(name, text string) error   { return &reason{name: name, text: text, refusal: true} }
func undecided(name, text string) error { return &reason{name: name, text: text} }

func (r *reason) Error() string { return r.text }

// Is makes every refusal match ErrInvalid.
func (r *reason) Is(target error) bool { return r.refusal && target == ErrInvalid }

// Reason returns the stable, low-cardinality name of err for metrics and logs: "ok" for nil,
// "error" for an error that is not one of this package's.
func Reason(err error) string {
	if err == nil {
		return "ok"
	}
	if r, ok := errors.AsType[*reason](err); ok {
		return r.name
	}
	return "error"
}

// Unavailable reports whether err means the verifier cannot decide now (503) rather than
// that the token is bad (401).
func Unavailable(err error) bool {
	return errors.Is(err, ErrKeysUnavailable) || errors.Is(err, ErrRevocationUnavailable)
}
