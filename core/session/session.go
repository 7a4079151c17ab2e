// Package session holds the refresh-session nouns: a session (a refresh-token family), the
// rotation rule with its same-successor grace window, and the refresh-token format. It imports
// only the standard library.
package session

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"hash"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Errors of the session rules.
var (
	// ErrInvalidToken: the refresh token is not one of ours (bad shape or MAC).
	ErrInvalidToken = errors.New("session: invalid refresh token")
	// ErrExpired: the session passed its idle or absolute lifetime.
	ErrExpired = errors.New("session: expired")
	// ErrReused: a rotated refresh token was presented again outside the grace window; the
	// caller must revoke the whole session (RFC 9700 section 4.14.2).
	ErrReused = errors.New("session: refresh token reused")
)

// Policy holds the lifetimes of refresh sessions.
type Policy struct {
	IdleTTL time.Duration // a session unused this long expires (default 14 days)
	MaxTTL  time.Duration // absolute lifetime (default 30 days)
	Grace   time.Duration // same-successor retry window for the previous generation (default 10 s)
}

// Session is one refresh-token family. Only the current generation is stored: the refresh
// token itself is derived from (ID, Generation) with an HMAC, so no secret is kept.
type Session struct {
	ID         string
	UserID     string
	ClientID   string
	Generation uint64
	RotatedAt  time.Time // when Generation last advanced (zero before the first rotation)
	CreatedAt  time.Time
	LastUsedAt time.Time
	ExpiresAt  time.Time // absolute expiry
	UserAgent  string
	RemoteIP   string
}

// New returns the first generation of a session.
func New(id, userID, clientID string, now time.Time, p Policy) Session {
	return Session{ID: id, UserID: userID, ClientID: clientID, Generation: 1,
		CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(p.MaxTTL)}
}

// IdleExpiresAt is when the session expires if unused.
func (s Session) IdleExpiresAt(p Policy) time.Time {
	t := s.LastUsedAt.Add(p.IdleTTL)
	if t.After(s.ExpiresAt) {
		return s.ExpiresAt
	}
	return t
}

// Active reports whether the session can still be refreshed at now.
func (s Session) Active(now time.Time, p Policy) bool {
	return now.Before(s.IdleExpiresAt(p))
}

// Outcome says what Rotate did.
type Outcome int

const (
	// Rotated: the presented generation was current; the session advanced by one.
	Rotated Outcome = iota + 1
	// Retried: the presented generation was the previous one, within the grace window; the
	// session is unchanged and the caller returns the same successor.
	Retried
)

// Rotate applies a refresh with the presented generation at now. It returns ErrExpired for
// an expired session and ErrReused for any other generation (theft: revoke the session).
func (s *Session) Rotate(presented uint64, now time.Time, p Policy) (Outcome, error) {
	if !s.Active(now, p) {
		return 0, ErrExpired
	}
	switch {
	case presented == s.Generation:
		s.Generation++
		s.RotatedAt = now
		s.LastUsedAt = now
		return Rotated, nil
	case presented+1 == s.Generation && !s.RotatedAt.IsZero() && now.Sub(s.RotatedAt) <= p.Grace:
		return Retried, nil
	default:
		return 0, ErrReused
	}
}

// RefreshToken is a refresh token as handed to a client. It never appears in logs.
type RefreshToken string

// LogValue redacts the token.
func (RefreshToken) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// Codec makes and checks refresh tokens under a secret shared by every auth replica.
type Codec struct {
	secret []byte
	macs   sync.Pool // hash.Hash: HMAC-SHA256 under secret, reset on return
}

// ErrWeakSecret: the refresh secret is shorter than 32 bytes.
var ErrWeakSecret = errors.New("session: refresh secret must be at least 32 bytes")

// NewCodec returns a Codec for secret (at least 32 bytes).
func NewCodec(secret []byte) (*Codec, error) {
	if len(secret) < 32 {
		return nil, ErrWeakSecret
	}
	c := &Codec{secret: append([]byte(nil), secret...)}
	c.macs.New = func() any { return hmac.New(sha256.New, c.secret) }
	return c, nil
}

const prefix = "kgr1"

// Token returns the refresh token of (sid, gen): "kgr1.<sid>.<gen>.<mac>".
func (c *Codec) Token(sid string, gen uint64) RefreshToken {
	body := prefix + "." + sid + "." + strconv.FormatUint(gen, 10)
	return RefreshToken(body + "." + c.mac(body))
}

func (c *Codec) mac(body string) string {
	// A pooled HMAC: a new one hashes the key's two pads, a reset one starts from them.
	m := c.macs.Get().(hash.Hash)
	m.Write([]byte(body))
	var sum [sha256.Size]byte
	out := base64.RawURLEncoding.EncodeToString(m.Sum(sum[:0]))
	m.Reset()
	c.macs.Put(m)
	return out
}

// Parse checks t and returns its session id and generation, or ErrInvalidToken.
func (c *Codec) Parse(t RefreshToken) (sid string, gen uint64, err error) {
	s := string(t)
	if len(s) > 256 {
		return "", 0, ErrInvalidToken
	}
	p, rest, ok := strings.Cut(s, ".")
	if !ok || p != prefix {
		return "", 0, ErrInvalidToken
	}
	sid, rest, ok = strings.Cut(rest, ".")
	if !ok || sid == "" {
		return "", 0, ErrInvalidToken
	}
	genStr, mac, ok := strings.Cut(rest, ".")
	if !ok || strings.Contains(mac, ".") {
		return "", 0, ErrInvalidToken
	}
	gen, err = strconv.ParseUint(genStr, 10, 64)
	if err != nil || gen == 0 || strconv.FormatUint(gen, 10) != genStr {
		return "", 0, ErrInvalidToken
	}
	body := s[:len(s)-len(mac)-1]
	if !hmac.Equal([]byte(mac), []byte(c.mac(body))) {
		return "", 0, ErrInvalidToken
	}
	return sid, gen, nil
}
