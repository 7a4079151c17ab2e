package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/keygate/keygate/core/token"
	"github.com/keygate/keygate/ports"
)

// Verifier authenticates a raw access token into its claims. *guard.Guard implements it;
// errors wrap the token package's sentinels (token.Unavailable tells 503 from 401).
type Verifier interface {
	Authenticate(ctx context.Context, raw string) (token.Claims, error)
}

// GuardOption configures RequireToken.
type GuardOption func(*guardOptions)

type guardOptions struct{ log *slog.Logger }

// WithLogger makes RequireToken log the requests it answers 503 to (a verifier that cannot
// decide); refused tokens are not logged.
func WithLogger(l *slog.Logger) GuardOption { return func(o *guardOptions) { o.log = l } }

type claimsKey struct{}

// claimsContext is the context RequireToken hands on: its parent and the verified claims, in
// one allocation (context.WithValue and the claims boxed into its value would be two).
type claimsContext struct {
	context.Context
	claims token.Claims
}

// Value returns the claims (as *token.Claims) for claimsKey, else asks the parent.
func (c *claimsContext) Value(k any) any {
	if _, ok := k.(claimsKey); ok {
		return &c.claims
	}
	return c.Context.Value(k)
}

// Claims returns the verified claims that RequireToken put in ctx.
func Claims(ctx context.Context) (token.Claims, bool) {
	if c, ok := ctx.Value(claimsKey{}).(*token.Claims); ok {
		return *c, true
	}
	return token.Claims{}, false
}

// RequireToken is middleware for any net/http handler (and chi's Use/With) that lets a
// request through only with a valid access token. The request must carry exactly one
// Authorization header with the Bearer scheme (any case): none, or another scheme, is 401
// with WWW-Authenticate: Bearer; two are 400. A token in the query string is ignored. A token
// v refuses is 401 with WWW-Authenticate: Bearer error="invalid_token", never saying why; when
// v cannot decide (keys or revocation state unavailable) the answer is 503 with Retry-After,
// so clients keep their tokens. The handler reads the caller's claims with Claims.
func RequireToken(v Verifier, opts ...GuardOption) func(http.Handler) http.Handler {
	var o guardOptions
	for _, opt := range opts {
		opt(&o)
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			raw, err := bearer(r)
			if err != nil {
				writeError(w, r, o.log, err)
				return
			}
			c, err := v.Authenticate(r.Context(), raw)
			if err != nil {
				if !token.Unavailable(err) && !errors.Is(err, ports.ErrUnavailable) {
					err = token.ErrInvalid // whatever v said, the answer is invalid_token
				}
				writeError(w, r, o.log, err)
				return
			}
			next.ServeHTTP(w, r.WithContext(&claimsContext{Context: r.Context(), claims: c}))
		})
	}
}

// RequireRole is middleware, after RequireToken, that answers 403 unless the caller's token
// carries role.
func RequireRole(role string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, ok := Claims(r.Context())
			if !ok {
				writeError(w, r, nil, errMissingToken)
				return
			}
			if !c.HasRole(role) {
				writeError(w, r, nil, errMissingRole)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// bearer returns the token of r's single Authorization: Bearer header.
func bearer(r *http.Request) (string, error) {
	hs := r.Header.Values("Authorization")
	switch {
	case len(hs) == 0:
		return "", errMissingToken
	case len(hs) > 1:
		return "", errTwoAuthHeaders
	}
	scheme, raw, ok := strings.Cut(hs[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", errMissingToken
	}
	raw = strings.TrimLeft(raw, " ")
	if raw == "" {
		return "", errMissingToken
	}
	return raw, nil
}
