// Package auth holds the use cases of the auth service: register, login, refresh (rotation with
// a same-successor grace window and reuse detection), logout, logout-all, RFC 7009 revoke,
// sessions and admin actions. It imports only ports/, the core nouns and the standard library.
//
// It is built last, in a straight line: the signing-key ring (core/keyring, the Signer), then
// authd's guard over that ring (the Verifier of RFC 7009 revocation), then the Service.
//
// Lifecycle: New checks the configuration and touches no store. Run publishes heartbeats
// every HeartbeatEvery until its context ends.
//
// Errors: the use cases return the sentinels below, the identity rule errors for bad input,
// ports.ErrNotFound / ports.ErrConflict where documented, and an error wrapping
// ports.ErrUnavailable whenever a store, the rate limiter or the password hasher cannot answer
// (HTTP 503 with Retry-After, never "invalid").
package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keygate/keygate/core/session"
	"github.com/keygate/keygate/core/token"
	"github.com/keygate/keygate/ports"
)

// Errors of the use cases. The HTTP adapter maps each to a status and a stable code.
var (
	ErrInvalidCredentials = errors.New("auth: invalid e-mail or password")
	ErrInvalidGrant       = errors.New("auth: invalid refresh token")
	ErrForbidden          = errors.New("auth: forbidden")
	// ErrLastAdmin: the change would leave no enabled user with the admin role (disabling
	// the last admin, or taking the role from them). Grant it to another user first.
	ErrLastAdmin  = errors.New("auth: the last admin cannot be disabled or lose the admin role")
	ErrEmailTaken = errors.New("auth: e-mail already registered")
	// ErrInvalidLink: the token of a reset or verification link is unknown, malformed,
	// expired, used already, or void since the account changed.
	ErrInvalidLink = errors.New("auth: invalid, expired or used link")
	// ErrMailDisabled: the use case sends e-mail and this service has no Mailer.
	ErrMailDisabled = errors.New("auth: this server sends no e-mail")
	// ErrPasswordResetRequired: the password was right, but an admin forced a reset
	// (ForcePasswordReset): the user must set a new one through a reset link.
	ErrPasswordResetRequired = errors.New("auth: password reset required")
	// ErrInvalidConfig is wrapped by every error of New.
	ErrInvalidConfig = errors.New("auth: invalid configuration")
)

// RateLimitedError says an attempt was refused by a rate limit; retry after RetryAfter.
type RateLimitedError struct{ RetryAfter time.Duration }

func (e *RateLimitedError) Error() string { return "auth: too many attempts" }

// Verifier authenticates an access token (a *guard.Guard).
type Verifier interface {
	Authenticate(ctx context.Context, raw string) (token.Claims, error)
}

// Signer signs access tokens (a *keyring.Ring).
type Signer interface {
	// Sign signs c with the current signing key; a failure wraps ports.ErrUnavailable.
	Sign(ctx context.Context, c token.Claims) (string, error)
	// Ready reports whether Sign can sign now: a refresh asks before it rotates the session.
	Ready(ctx context.Context) error
	// KeepAfter is how long a key stays published after it stops signing: at least the
	// life of the tokens it signed (AccessTTL + Leeway).
	KeepAfter() time.Duration
}

// Deps are the ports the service drives. Every field is required except Metrics (nil: not
// recorded), Verifier (nil: Revoke of an access token answers ErrUnavailable, as in a
// tool that revokes nothing by token) and Mailer (nil: no account e-mails; the reset and
// verification use cases answer ErrMailDisabled). Tokens is required with a Mailer.
type Deps struct {
	Users       ports.UserRepo
	Sessions    ports.SessionStore
	Revocations ports.RevocationStore
	Bus         ports.EventBus
	Signer      Signer
	Hasher      ports.PasswordHasher
	Norm        ports.Normalizer
	Limiter     ports.RateLimiter
	Audit       ports.AuditLog
	Clock       ports.Clock
	Metrics     ports.Metrics
	Verifier    Verifier // for RFC 7009 revocation of access tokens
	Mailer      ports.Mailer
	Tokens      ports.OneTimeTokenStore // the tokens of reset and verification links
}

// Limit is N attempts per Window.
type Limit struct {
	N      int
	Window time.Duration
}

// Config holds the service's settings. Zero values take the defaults named on each field.
type Config struct {
	Issuer        string         // required: the iss of every token
	Audiences     []string       // required: the aud of every access token
	ClientID      string         // client_id claim of first-party tokens; default "keygate"
	Scope         string         // scope claim of first-party tokens; default "openid"
	AccessTTL     time.Duration  // default 15m
	Leeway        time.Duration  // added to revocation expiries; default 2m (see DefaultLeeway)
	Session       session.Policy // default {IdleTTL 336h, MaxTTL 720h, Grace 10s}; Grace < 0 disables the grace window
	RefreshSecret []byte         // required, at least 32 bytes
	LimitAccount  Limit          // attempts per account: registrations per e-mail, password changes per user; default 10 per 1m
	LimitAddress  Limit          // attempts per client address, for login, register and revoke; default 50 per 1m
	// LoginFailures is failed logins per (account, client): past N that client's logins for
	// the account are refused, unchecked, until the window ends; default 10 per 15m.
	LoginFailures Limit
	// LoginBrake is failed logins per account from all clients together: past N the brake is
	// engaged until the window ends; default 50 per 1h. While it is, a client that has failed
	// for the account (in its LoginFailures window) is refused, and any other client's login
	// waits BrakeDelay before its password is checked: the owner on a clean client still logs
	// in, a little slower.
	LoginBrake     Limit
	BrakeDelay     time.Duration // default 1s; negative: no wait
	HeartbeatEvery time.Duration // default 2s
	// RefreshHints is how many sessions this replica remembers as it last stored them, so
	// that their next refresh skips reading the session (see hints); default
	// DefaultRefreshHints, negative: none.
	RefreshHints int

	// Account e-mails (with a Mailer).
	PublicURL    string           // base of the links in account e-mails (no trailing slash); default Issuer
	ResetTTL     time.Duration    // life of a password-reset link; default 30m
	VerifyTTL    time.Duration    // life of an address-verification link; default 48h
	Registration RegistrationMode // default RegisterOpen; RegisterVerify needs a Mailer
	LimitMail    Limit            // account e-mails per address; default 5 per 1h
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
	d     Deps
	cfg   Config
	codec *session.Codec
	hints *hints

	publishFailures atomic.Uint64
	auditFailures   atomic.Uint64

	mailWG       sync.WaitGroup
	mailSlots    chan struct{}
	mailErrs     chan error
	mailFailures atomic.Uint64
}

// Defaults.
const (
	DefaultClientID  = "keygate"
	DefaultScope     = "openid"
	DefaultAccessTTL = 15 * time.Minute
	// DefaultLeeway is the largest clock-skew leeway a verifier may allow on exp (the guard's
	// MaxLeeway, KEYGATE_LEEWAY at most 120s). A revocation entry lives until the token's exp
	// plus this, so that no verifier, however lenient, accepts a revoked token again after
	// its entry has lapsed.
	DefaultLeeway         = 2 * time.Minute
	DefaultHeartbeatEvery = 2 * time.Second
	DefaultBrakeDelay     = time.Second
)

// New checks cfg, fills in defaults and returns a Service. It does no I/O: see Init.
func New(d Deps, cfg Config) (*Service, error) {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...))
	}
	for name, missing := range map[string]bool{
		"Users": d.Users == nil, "Sessions": d.Sessions == nil, "Revocations": d.Revocations == nil,
		"Bus": d.Bus == nil, "Signer": d.Signer == nil, "Hasher": d.Hasher == nil,
		"Norm": d.Norm == nil, "Limiter": d.Limiter == nil, "Audit": d.Audit == nil, "Clock": d.Clock == nil,
	} {
		if missing {
			bad("dependency %s missing", name)
		}
	}
	if d.Metrics == nil {
		d.Metrics = ports.NopMetrics{}
	}
	if cfg.Issuer == "" {
		bad("issuer missing")
	}
	if len(cfg.Audiences) == 0 {
		bad("audiences missing")
	}
	for _, a := range cfg.Audiences {
		if a == "" {
			bad("empty audience")
		}
	}
	cfg.Audiences = append([]string(nil), cfg.Audiences...)
	codec, err := session.NewCodec(cfg.RefreshSecret)
	if err != nil {
		bad("refresh secret: %v", err)
	}
	cfg.RefreshSecret = nil // the codec holds its own copy

	def := func(p *time.Duration, v time.Duration, name string) {
		if *p == 0 {
			*p = v
		} else if *p < 0 {
			bad("%s must be positive", name)
		}
	}
	if cfg.ClientID == "" {
		cfg.ClientID = DefaultClientID
	}
	if cfg.Scope == "" {
		cfg.Scope = DefaultScope
	}
	def(&cfg.AccessTTL, DefaultAccessTTL, "access TTL")
	def(&cfg.Leeway, DefaultLeeway, "leeway")
	def(&cfg.HeartbeatEvery, DefaultHeartbeatEvery, "heartbeat interval")
	def(&cfg.Session.IdleTTL, 336*time.Hour, "refresh idle TTL")
	def(&cfg.Session.MaxTTL, 720*time.Hour, "refresh max TTL")
	if cfg.Session.Grace == 0 {
		cfg.Session.Grace = 10 * time.Second
	}
	if d.Signer != nil && d.Signer.KeepAfter() < cfg.AccessTTL+cfg.Leeway {
		// A key would leave the JWKS while tokens it signed are still accepted.
		bad("key keep-after %v is shorter than access TTL + leeway", d.Signer.KeepAfter())
	}
	if cfg.Session.MaxTTL < cfg.Session.IdleTTL {
		cfg.Session.IdleTTL = cfg.Session.MaxTTL
	}
	if cfg.LimitAccount == (Limit{}) {
		cfg.LimitAccount = Limit{N: 10, Window: time.Minute}
	}
	if cfg.LimitAddress == (Limit{}) {
		cfg.LimitAddress = Limit{N: 50, Window: time.Minute}
	}
	if cfg.LoginFailures == (Limit{}) {
		cfg.LoginFailures = Limit{N: 10, Window: 15 * time.Minute}
	}
	if cfg.LoginBrake == (Limit{}) {
		cfg.LoginBrake = Limit{N: 50, Window: time.Hour}
	}
	if cfg.BrakeDelay == 0 {
		cfg.BrakeDelay = DefaultBrakeDelay
	}
	if cfg.LimitMail == (Limit{}) {
		cfg.LimitMail = Limit{N: 5, Window: time.Hour}
	}
	def(&cfg.ResetTTL, DefaultResetTTL, "reset link TTL")
	def(&cfg.VerifyTTL, DefaultVerifyTTL, "verification link TTL")
	if cfg.PublicURL == "" {
		cfg.PublicURL = cfg.Issuer
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	switch cfg.Registration {
	case "":
		cfg.Registration = RegisterOpen
	case RegisterOpen:
	case RegisterVerify:
		if d.Mailer == nil {
			bad("registration mode %q needs a Mailer", cfg.Registration)
		}
	default:
		bad("registration mode %q: want %q or %q", cfg.Registration, RegisterOpen, RegisterVerify)
	}
	if d.Mailer != nil && d.Tokens == nil {
		bad("dependency Tokens missing (required with a Mailer)")
	}
	for _, l := range []Limit{cfg.LimitAccount, cfg.LimitAddress, cfg.LoginFailures, cfg.LoginBrake, cfg.LimitMail} {
		if l.N <= 0 || l.Window <= 0 {
			bad("rate limit %d per %v", l.N, l.Window)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &Service{d: d, cfg: cfg, codec: codec, hints: newHints(cfg.RefreshHints),
		mailSlots: make(chan struct{}, maxMailsInFlight), mailErrs: make(chan error, 16)}, nil
}

// Config returns the effective configuration (defaults filled in, secrets removed).
func (s *Service) Config() Config {
	c := s.cfg
	c.Audiences = append([]string(nil), c.Audiences...)
	return c
}

// PublishFailures returns how many key-change and heartbeat events could not be published on
// the bus (revocations are published by the RevocationStore). Such events
// are not lost for good: verifiers reconcile with the RevocationStore by polling.
func (s *Service) PublishFailures() uint64 { return s.publishFailures.Load() }

// AuditFailures returns how many audit events could not be appended. Auditing is best
// effort: a failing audit log does not undo or refuse the action it records.
func (s *Service) AuditFailures() uint64 { return s.auditFailures.Load() }

// unavailable wraps err, the failure of a store, the limiter or the hasher, so that it
// matches ports.ErrUnavailable.
func unavailable(op string, err error) error {
	if errors.Is(err, ports.ErrUnavailable) {
		return fmt.Errorf("auth: %s: %w", op, err)
	}
	return fmt.Errorf("auth: %s: %w: %w", op, ports.ErrUnavailable, err)
}
