// Package onetime holds the single-use token noun of account e-mails (password reset, address
// verification): a random secret that travels in a link, and the record a store keeps of it,
// which holds only the secret's SHA-256. It imports only the standard library.
package onetime

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"log/slog"
	"time"
)

// Purpose says what a token may be used for; a token of one purpose is never found under
// another.
type Purpose string

// Purposes of the account e-mails.
const (
	PurposeReset  Purpose = "reset"  // set a new password
	PurposeVerify Purpose = "verify" // prove the e-mail address is the user's
)

// ErrMalformed: a secret that no New could have made (wrong length or alphabet); no store is
// asked about it.
var ErrMalformed = errors.New("onetime: malformed token")

// secretBytes is the entropy of a secret: 256 bits.
const secretBytes = 32

// Secret is the token as the user receives it: base64url (no padding) of 32 random bytes. It
// is never stored. Its LogValue is redacted.
type Secret string

// LogValue keeps the secret out of logs.
func (Secret) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// Token is what a store keeps of a secret: its hash, what it is for, whose it is, until when,
// and a Stamp of the account's state when it was issued (the use case compares it when the
// token is used, so that a change since, such as a new password, voids older tokens).
type Token struct {
	Hash      string // Hash(secret): 64 lower-case hex digits
	Purpose   Purpose
	UserID    string
	Stamp     string
	ExpiresAt time.Time
}

// New returns a fresh secret and the Token to store for it.
func New(p Purpose, userID, stamp string, expiresAt time.Time) (Secret, Token) {
	var b [secretBytes]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	s := Secret(base64.RawURLEncoding.EncodeToString(b[:]))
	h, _ := Hash(s) // well-formed by construction
	return s, Token{Hash: h, Purpose: p, UserID: userID, Stamp: stamp, ExpiresAt: expiresAt}
}

// Hash returns the hex SHA-256 of the secret's bytes, the key a store finds a Token by.
// ErrMalformed if s is not 32 bytes in base64url.
func Hash(s Secret) (string, error) {
	if len(s) != base64.RawURLEncoding.EncodedLen(secretBytes) {
		return "", ErrMalformed
	}
	b, err := base64.RawURLEncoding.DecodeString(string(s))
	if err != nil || len(b) != secretBytes {
		return "", ErrMalformed
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// StampOf returns a short digest of parts (an account's state: its password hash, its
// address), for Token.Stamp: equal parts give equal stamps, and the stamp reveals nothing of
// them.
func StampOf(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		var n [8]byte
		for i, l := 0, uint64(len(p)); i < 8; i++ {
			n[i] = byte(l >> (8 * i))
		}
		h.Write(n[:])
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// StampMatches compares two stamps in constant time.
func StampMatches(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
