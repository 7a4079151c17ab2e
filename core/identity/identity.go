// Package identity holds the user nouns: users, OAuth provider links, and the rules for
// e-mail addresses and passwords. It imports only the standard library.
package identity

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// RoleAdmin is the role that may call the admin API.
const RoleAdmin = "admin"

// Errors of the identity rules.
var (
	ErrInvalidEmail    = errors.New("identity: invalid e-mail address")
	ErrInvalidPassword = errors.New("identity: password must be 8 to 128 characters")
	ErrInvalidName     = errors.New("identity: invalid name")
	ErrInvalidRole     = errors.New("identity: a role is 1 to 64 characters: a lower-case letter, then lower-case letters, digits, '_', '-', '.' or ':'")
)

// User is an account.
type User struct {
	ID           string
	Email        string // normalised: see NormalizeEmail
	Name         string
	PasswordHash string // PHC string of the PasswordHasher; empty for OAuth-only users
	Roles        []string
	Disabled     bool
	// EmailVerified: the user proved the address is theirs (a verification or reset link).
	EmailVerified bool
	// PasswordResetRequired: an admin forced a reset; the password no longer logs in, and a
	// reset (which clears this) sets a new one.
	PasswordResetRequired bool
	CreatedAt             time.Time
	UpdatedAt             time.Time
}

// HasRole reports whether u has role.
func (u User) HasRole(role string) bool { return slices.Contains(u.Roles, role) }

// LogValue keeps the password hash out of logs.
func (u User) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", u.ID), slog.String("email", u.Email))
}

// Link maps an external identity (an OAuth provider's subject) to a user.
type Link struct {
	Provider  string
	Subject   string
	UserID    string
	CreatedAt time.Time
}

// NewID returns a random 128-bit identifier in lower-case hex.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// NormalizeEmail returns the canonical form of an e-mail address, the form that is stored and
// compared byte for byte: trimmed, prepared by prep (ports.Normalizer's Email: no invisible or
// bidi characters, width- and case-folded, NFC, the domain mapped by IDNA), ASCII letters
// lower-cased, at most 254 bytes, with exactly one '@', a non-empty local part and domain,
// and no space or control character. prep is injected because the core uses only the
// standard library; its errors are returned as they are (they wrap ErrInvalidEmail).
func NormalizeEmail(raw string, prep func(string) (string, error)) (string, error) {
	if len(raw) > 1024 || !utf8.ValidString(raw) {
		return "", ErrInvalidEmail
	}
	s, err := prep(strings.TrimSpace(raw))
	if err != nil {
		if !errors.Is(err, ErrInvalidEmail) {
			err = fmt.Errorf("%w: %w", ErrInvalidEmail, err)
		}
		return "", err
	}
	s = asciiLower(s)
	if len(s) == 0 || len(s) > 254 {
		return "", fmt.Errorf("%w: length", ErrInvalidEmail)
	}
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == unicode.ReplacementChar {
			return "", fmt.Errorf("%w: forbidden character", ErrInvalidEmail)
		}
	}
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") ||
		strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") {
		return "", fmt.Errorf("%w: shape", ErrInvalidEmail)
	}
	return s, nil
}

// asciiLower lower-cases A-Z only. Full Unicode lower-casing after prep could undo its case
// folding and composition (a lower-cased letter plus a combining mark may no longer be NFC):
// case is prep's job; this only keeps a trivial prep from storing "Alice" and "alice" apart.
func asciiLower(s string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}, s)
}

// CheckPassword applies the password policy (ASVS V2.1): 8 to 128 characters, valid UTF-8,
// no NUL. It runs before any hashing, so a long password costs nothing.
func CheckPassword(pw string) error {
	if !utf8.ValidString(pw) || strings.ContainsRune(pw, 0) {
		return ErrInvalidPassword
	}
	if n := utf8.RuneCountInString(pw); n < 8 || n > 128 {
		return ErrInvalidPassword
	}
	return nil
}

// CheckName applies the display-name policy: at most 100 characters, no control characters.
func CheckName(name string) error {
	if !utf8.ValidString(name) || utf8.RuneCountInString(name) > 100 {
		return ErrInvalidName
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return ErrInvalidName
		}
	}
	return nil
}

// CheckRole applies the role-name rule: 1 to 64 bytes, a lower-case ASCII letter first, then
// lower-case ASCII letters, digits, '_', '-', '.' or ':'. Roles travel in every access token
// and are compared byte for byte by verifiers, so look-alikes and case variants are refused.
func CheckRole(role string) error {
	if len(role) == 0 || len(role) > 64 || role[0] < 'a' || role[0] > 'z' {
		return ErrInvalidRole
	}
	for i := 0; i < len(role); i++ {
		switch c := role[i]; {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '_', c == '-', c == '.', c == ':':
		default:
			return ErrInvalidRole
		}
	}
	return nil
}
