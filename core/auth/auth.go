// Package auth holds the use cases of the auth service: register, login, refresh (rotation with
// a same-successor grace window and reuse detection), logout, logout-all, RFC 7009 revoke,
// sessions, admin actions, and the signing-key ring. It imports only ports/, the core nouns and
// the standard library.
package auth

import (
	"context"
	"errors"
	"time"

	"github.com/keygate/keygate/core/audit"
	"github.com/keygate/keygate/core/identity"
	"github.com/keygate/keygate/core/key"
	"github.com/keygate/keygate/core/session"
	"github.com/keygate/keygate/core/token"
	"github.com/keygate/keygate/ports"
)

// Errors of the use cases. The HTTP adapter maps each to a status and a stable code.
var (
	ErrInvalidCredentials = errors.New("auth: invalid e-mail or password")
	ErrInvalidGrant       = errors.New("auth: invalid refresh token")
	ErrForbidden          = errors.New("auth: forbidden")
	ErrEmailTaken         = errors.New("auth: e-mail already registered")
)

// RateLimitedError says an attempt was refused by a rate limit; retry after RetryAfter.
type RateLimitedError struct{ RetryAfter time.Duration }

func (e *RateLimitedError) Error() string { return "auth: too many attempts" }

// Verifier authenticates an access token (a *guard.Guard).
type Verifier interface {
	Authenticate(ctx context.Context, raw string) (token.Claims, error)
}

// Deps are the ports the service drives.
type Deps struct {
	Users       ports.UserRepo
	Sessions    ports.SessionStore
	Revocations ports.RevocationStore
	Bus         ports.EventBus
	Keys        ports.KeyStore
	Issuer      ports.TokenIssuer
	Hasher      ports.PasswordHasher
	Norm        ports.Normalizer
	Limiter     ports.RateLimiter
	Audit       ports.AuditLog
	Clock       ports.Clock
	Metrics     ports.Metrics
	Verifier    Verifier // for RFC 7009 revocation of access tokens
}

// Limit is N attempts per Window.
type Limit struct {
	N      int
	Window time.Duration
}

// Config holds the service's settings.
type Config struct {
	Issuer         string
	Audiences      []string
	ClientID       string // client_id claim of first-party tokens; default "keygate"
	AccessTTL      time.Duration
	Leeway         time.Duration // added to revocation expiries; default 30s
	Session        session.Policy
	Keys           key.Policy
	RefreshSecret  []byte
	KEK            []byte // 32 bytes; seals private keys in the KeyStore
	LimitAccount   Limit  // per e-mail, for login and register
	LimitAddress   Limit  // per client address
	HeartbeatEvery time.Duration
	KeyCheckEvery  time.Duration // how often the ring is reloaded and rotation checked
}

// Client describes where a request came from.
type Client struct {
	IP        string
	UserAgent string
}

// TokenPair is what login and refresh return.
type TokenPair struct {
	AccessToken  string
	ExpiresIn    time.Duration
	RefreshToken session.RefreshToken
	Scope        string
}

// Service is the auth service's use cases. Safe for concurrent use.
type Service struct {
	d   Deps
	cfg Config
}

// New checks cfg and returns a Service.
func New(d Deps, cfg Config) (*Service, error) { return nil, errors.New("auth: unimplemented") }

// Run does the background work until ctx ends: key-ring reload and rotation, heartbeats.
func (s *Service) Run(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }

// Register creates a user.
func (s *Service) Register(ctx context.Context, email, password, name string, c Client) (identity.User, error) {
	return identity.User{}, errors.New("unimplemented")
}

// Login checks credentials and opens a session.
func (s *Service) Login(ctx context.Context, email, password string, c Client) (TokenPair, error) {
	return TokenPair{}, errors.New("unimplemented")
}

// Refresh rotates a refresh token.
func (s *Service) Refresh(ctx context.Context, rt session.RefreshToken, c Client) (TokenPair, error) {
	return TokenPair{}, errors.New("unimplemented")
}

// Logout revokes the caller's session.
func (s *Service) Logout(ctx context.Context, p token.Claims, c Client) error {
	return errors.New("unimplemented")
}

// LogoutAll revokes every session of the caller.
func (s *Service) LogoutAll(ctx context.Context, p token.Claims, c Client) error {
	return errors.New("unimplemented")
}

// Revoke is RFC 7009: raw is a refresh or access token; hint is "refresh_token",
// "access_token" or "". Unknown, invalid or expired tokens succeed silently.
func (s *Service) Revoke(ctx context.Context, raw, hint string, c Client) error {
	return errors.New("unimplemented")
}

// Me returns the caller.
func (s *Service) Me(ctx context.Context, p token.Claims) (identity.User, error) {
	return identity.User{}, errors.New("unimplemented")
}

// Sessions lists the caller's sessions.
func (s *Service) Sessions(ctx context.Context, p token.Claims) ([]session.Session, error) {
	return nil, errors.New("unimplemented")
}

// RevokeSession revokes one of the caller's sessions (ErrNotFound for another user's).
func (s *Service) RevokeSession(ctx context.Context, p token.Claims, sid string, c Client) error {
	return errors.New("unimplemented")
}

// ListUsers (admin) pages through users.
func (s *Service) ListUsers(ctx context.Context, p token.Claims, after string, limit int) ([]identity.User, error) {
	return nil, errors.New("unimplemented")
}

// DisableUser (admin) disables a user and revokes all their sessions and tokens.
func (s *Service) DisableUser(ctx context.Context, p token.Claims, userID string, c Client) error {
	return errors.New("unimplemented")
}

// RevokeUser (admin) revokes all of a user's sessions and tokens.
func (s *Service) RevokeUser(ctx context.Context, p token.Claims, userID string, c Client) error {
	return errors.New("unimplemented")
}

// AuditOf (admin) returns a user's audit events, newest first.
func (s *Service) AuditOf(ctx context.Context, p token.Claims, userID string, limit int) ([]audit.Event, error) {
	return nil, errors.New("unimplemented")
}

// BootstrapAdmin creates (or promotes) the first admin.
func (s *Service) BootstrapAdmin(ctx context.Context, email, password string) error {
	return errors.New("unimplemented")
}

// JWKS returns the current JWKS document and its ETag.
func (s *Service) JWKS(ctx context.Context) (doc []byte, etag string, err error) {
	return nil, "", errors.New("unimplemented")
}

// RotateKeys creates the next key now (published PublishLead before it signs).
func (s *Service) RotateKeys(ctx context.Context) (key.Key, error) {
	return key.Key{}, errors.New("unimplemented")
}

// RetireKey stops key kid signing now.
func (s *Service) RetireKey(ctx context.Context, kid string) error {
	return errors.New("unimplemented")
}
