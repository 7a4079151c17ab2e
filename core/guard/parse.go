package guard

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/keygate/keygate/core/token"
)

// b64 decodes a JWS segment: base64url without padding, and Strict, so the unused low bits
// of the last character must be zero (one signature has one spelling). Strict still skips CR
// and LF, so every segment also passes isB64 first.
var b64 = base64.RawURLEncoding.Strict()

const (
	sigChars       = 86  // base64url of a 64-byte Ed25519 signature
	maxHeaderBytes = 512 // decoded
	maxHeaderChars = (maxHeaderBytes*8 + 5) / 6
	maxKidLen      = 64
	maxIDLen       = 256 // sub, jti, sid, client_id (the revocation key limit)
)

var b64chars = func() (t [256]bool) {
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	t['-'], t['_'] = true, true
	return t
}()

// Refusals with no detail to add are made once: the rejection path allocates nothing for
// them.
var (
	errSegments    = fmt.Errorf("%w: not three segments", token.ErrMalformed)
	errAlphabet    = fmt.Errorf("%w: not base64url", token.ErrMalformed)
	errCanonical   = fmt.Errorf("%w: non-canonical base64url", token.ErrMalformed)
	errSigLength   = fmt.Errorf("%w: signature is not 64 bytes", token.ErrMalformed)
	errHeaderSize  = fmt.Errorf("%w: header too large", token.ErrMalformed)
	errHeaderShape = fmt.Errorf("%w: header is not an object", token.ErrMalformed)
	errClaimsShape = fmt.Errorf("%w: claims are not an object", token.ErrMalformed)
	errMember      = fmt.Errorf("%w: only alg, typ and kid are allowed", token.ErrHeaderRejected)
	errAlg         = fmt.Errorf("%w: only EdDSA and Ed25519", token.ErrAlgRejected)
	errTyp         = fmt.Errorf("%w: only at+jwt and application/at+jwt", token.ErrTypRejected)
)

// segments splits a compact JWS into exactly three non-empty segments with strings.Cut
// (never Split: a token of a million dots must cost one pass). The base64url alphabet is
// then enforced by the strict decoder of each segment, which refuses padding, '+', '/',
// spaces and non-canonical final characters, but silently skips CR and LF: those are refused
// here, for the whole token, so one token has exactly one spelling.
func segments(raw string) (h, p, s string, err error) {
	h, rest, ok1 := strings.Cut(raw, ".")
	p, s, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.IndexByte(s, '.') >= 0 {
		return "", "", "", errSegments
	}
	if h == "" || p == "" || s == "" || strings.IndexByte(raw, '\n') >= 0 || strings.IndexByte(raw, '\r') >= 0 {
		return "", "", "", errAlphabet
	}
	return h, p, s, nil
}

// decode decodes a segment strictly into dst, which must be large enough.
func decode(dst, seg []byte) (int, error) {
	n, err := b64.Decode(dst, seg)
	if err != nil {
		return 0, errCanonical
	}
	return n, nil
}

// header is the protected header of an access token.
type header struct {
	alg, typ, kid string
}

// parseHeader reads the header JSON: an object with only alg, typ and kid, each a string,
// each at most once.
func parseHeader(js string) (header, error) {
	var h header
	var hasAlg, hasTyp, hasKid bool
	sc := scanner{s: js}
	if !sc.expect('{') {
		return h, errHeaderShape
	}
	var seen names
	err := sc.members(&seen, func(name string) error {
		var dst *string
		var wrong error
		switch name {
		case "alg":
			dst, wrong, hasAlg = &h.alg, token.ErrAlgRejected, true
		case "typ":
			dst, wrong, hasTyp = &h.typ, token.ErrTypRejected, true
		case "kid":
			dst, wrong, hasKid = &h.kid, token.ErrKidMissing, true
		default:
			return errMember
		}
		if sc.peek() != '"' {
			return fmt.Errorf("%w: %s is not a string", wrong, name)
		}
		v, err := sc.str()
		*dst = v
		return err
	})
	if err == nil && !sc.end() {
		err = errSyntax
	}
	if err != nil {
		var je *jsonError
		if errors.As(err, &je) {
			return h, fmt.Errorf("%w: header: %s", token.ErrMalformed, je.what)
		}
		return h, err
	}
	switch {
	case !hasAlg || (h.alg != "EdDSA" && h.alg != "Ed25519"):
		return h, errAlg
	case !hasTyp || !(strings.EqualFold(h.typ, token.Type) || strings.EqualFold(h.typ, "application/"+token.Type)):
		return h, errTyp
	case !hasKid || !validKid(h.kid):
		return h, token.ErrKidMissing
	}
	return h, nil
}

// validKid reports whether kid is 1..64 characters of [A-Za-z0-9._-].
func validKid(kid string) bool {
	if kid == "" || len(kid) > maxKidLen {
		return false
	}
	for i := 0; i < len(kid); i++ {
		c := kid[i]
		if !b64chars[c] && c != '.' {
			return false
		}
	}
	return true
}

// Bits of the claims seen, to tell missing from zero.
const (
	hasIss = 1 << iota
	hasSub
	hasAud
	hasExp
	hasIat
	hasNbf
	hasJti
	hasSid
	hasClientID

	// required is what every token must have; sid too unless Config.SessionOptional.
	required = hasIss | hasSub | hasAud | hasExp | hasIat | hasJti | hasClientID
)

// parseClaims reads the claims JSON strictly into c. Members are matched exactly ("Sub" is
// an unknown member, ignored, and can never stand in for "sub"); unknown members are checked
// for syntax and skipped. Mistyped known claims return token.ErrClaimsMissing.
func parseClaims(js string, c *token.Claims) (seen int, err error) {
	sc := scanner{s: js}
	if !sc.expect('{') {
		return 0, errClaimsShape
	}
	var names names
	err = sc.members(&names, func(name string) error {
		switch name {
		case "iss":
			seen |= hasIss
			return sc.idString(&c.Issuer, name, 1024)
		case "sub":
			seen |= hasSub
			return sc.idString(&c.Subject, name, maxIDLen)
		case "jti":
			seen |= hasJti
			return sc.idString(&c.ID, name, maxIDLen)
		case "sid":
			seen |= hasSid
			return sc.idString(&c.SessionID, name, maxIDLen)
		case "client_id":
			seen |= hasClientID
			return sc.idString(&c.ClientID, name, maxIDLen)
		case "scope":
			if sc.peek() != '"' {
				return mistyped(name)
			}
			v, err := sc.str()
			c.Scope = v
			return err
		case "aud":
			seen |= hasAud
			switch sc.peek() {
			case '"':
				v, err := sc.str()
				c.Audience = []string{v}
				return err
			case '[':
				return sc.strings(&c.Audience, name)
			}
			return mistyped(name)
		case "roles":
			if sc.peek() != '[' {
				return mistyped(name)
			}
			return sc.strings(&c.Roles, name)
		case "exp":
			seen |= hasExp
			return sc.date(&c.ExpiresAt, name)
		case "iat":
			seen |= hasIat
			return sc.date(&c.IssuedAt, name)
		case "nbf":
			seen |= hasNbf
			return sc.date(&c.NotBefore, name)
		}
		return sc.skip(1)
	})
	if err == nil && !sc.end() {
		err = errSyntax
	}
	if err != nil {
		var je *jsonError
		if errors.As(err, &je) {
			return seen, fmt.Errorf("%w: claims: %s", token.ErrMalformed, je.what)
		}
		return seen, err
	}
	return seen, nil
}

func mistyped(name string) error {
	return fmt.Errorf("%w: %s mistyped", token.ErrClaimsMissing, name)
}

// idString reads an identifier claim: a non-empty string of at most max bytes with no
// control characters (a NUL in a sub must not reach a log or a lookup key).
func (sc *scanner) idString(dst *string, name string, max int) error {
	if sc.peek() != '"' {
		return mistyped(name)
	}
	v, err := sc.str()
	if err != nil {
		return err
	}
	if v == "" || len(v) > max {
		return mistyped(name)
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] == 0x7f {
			return mistyped(name)
		}
	}
	*dst = v
	return nil
}

// strings reads an array of strings.
func (sc *scanner) strings(dst *[]string, name string) error {
	sc.i++ // '['
	out := (*dst)[:0]
	err := sc.elements(func() error {
		if sc.peek() != '"' {
			return mistyped(name)
		}
		v, err := sc.str()
		out = append(out, v)
		return err
	})
	*dst = out
	return err
}

// date reads a NumericDate.
func (sc *scanner) date(dst *time.Time, name string) error {
	switch sc.peek() {
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
	default:
		return mistyped(name)
	}
	text, err := sc.num()
	if err != nil {
		return err
	}
	sec, nsec, ok := numericDate(text)
	if !ok {
		return fmt.Errorf("%w: %s out of range", token.ErrClaimsMissing, name)
	}
	*dst = time.Unix(sec, nsec).UTC()
	return nil
}
