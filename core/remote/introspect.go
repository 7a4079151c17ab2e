package remote

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/keygate/keygate/core/token"
	"github.com/keygate/keygate/ports"
)

// Verifier authenticates an access token: authd's own guard (*guard.Guard), with the same
// key ring and revocation set as its Bearer routes.
type Verifier interface {
	Authenticate(ctx context.Context, raw string) (token.Claims, error)
}

// Limit is a rate: N requests per Window.
type Limit struct {
	N      int
	Window time.Duration
}

// RateLimitedError reports a verifier over its introspection limit; RetryAfter is how long
// until its window ends.
type RateLimitedError struct{ RetryAfter time.Duration }

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("remote: introspection rate limit exceeded, retry after %v", e.RetryAfter)
}

// Introspector answers RFC 7662 introspection for verifiers: a token is active when authd's
// guard accepts it now (signature, issuer, audience, lifetime, revocation set).
type Introspector struct {
	verifier Verifier
	limiter  ports.RateLimiter
	limit    Limit
}

// NewIntrospector returns an Introspector that allows each verifier limit requests.
func NewIntrospector(v Verifier, limiter ports.RateLimiter, limit Limit) (*Introspector, error) {
	if v == nil || limiter == nil {
		return nil, errors.New("remote: introspector: nil dependency")
	}
	if limit.N <= 0 || limit.Window <= 0 {
		return nil, fmt.Errorf("remote: introspection limit %d/%v must be positive", limit.N, limit.Window)
	}
	return &Introspector{verifier: v, limiter: limiter, limit: limit}, nil
}

// Introspection is the answer about one token: Active with its claims, or inactive with
// nothing (RFC 7662 section 2.2 says nothing more about an inactive token).
type Introspection struct {
	Active bool
	Claims token.Claims
}

// Introspect counts one request of verifier (an opaque, stable name of its credential) and
// answers whether raw is an active access token. A refresh token, or anything the guard
// refuses (revoked, expired, malformed, foreign), is inactive. It returns an error only when
// it cannot answer: *RateLimitedError, an error wrapping ports.ErrUnavailable (the rate
// limiter is down), or one token.Unavailable reports (keys or revocation set not loaded).
func (in *Introspector) Introspect(ctx context.Context, verifier, raw string) (Introspection, error) {
	ok, retry, err := in.limiter.Allow(ctx, "introspect:"+verifier, in.limit.N, in.limit.Window)
	if err != nil {
		return Introspection{}, fmt.Errorf("%w: remote: introspection rate limit: %w", ports.ErrUnavailable, err)
	}
	if !ok {
		return Introspection{}, &RateLimitedError{RetryAfter: max(retry, time.Second)}
	}
	c, err := in.verifier.Authenticate(ctx, raw)
	switch {
	case err == nil:
		return Introspection{Active: true, Claims: c}, nil
	case token.Unavailable(err) || errors.Is(err, ports.ErrUnavailable):
		return Introspection{}, err
	default:
		return Introspection{}, nil
	}
}
