package remote_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keygate/keygate/adapters/memory"
	"github.com/keygate/keygate/adapters/system"
	"github.com/keygate/keygate/core/remote"
	"github.com/keygate/keygate/core/token"
	"github.com/keygate/keygate/ports"
)

// verifierFunc is a Verifier answering from a function.
type verifierFunc func(raw string) (token.Claims, error)

func (f verifierFunc) Authenticate(_ context.Context, raw string) (token.Claims, error) {
	return f(raw)
}

func TestIntrospect(t *testing.T) {
	v := verifierFunc(func(raw string) (token.Claims, error) {
		switch raw {
		case "good":
			return token.Claims{Subject: "u1", ID: "j1"}, nil
		case "revoked":
			return token.Claims{}, token.ErrRevoked
		case "expired":
			return token.Claims{}, token.ErrExpired
		case "foreign":
			return token.Claims{}, token.ErrIssuerMismatch
		case "nokeys":
			return token.Claims{}, token.ErrKeysUnavailable
		case "stale":
			return token.Claims{}, token.ErrRevocationUnavailable
		}
		return token.Claims{}, token.ErrMalformed
	})
	in, err := remote.NewIntrospector(v, memory.NewRateLimiter(system.Clock{}), remote.Limit{N: 100, Window: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		raw     string
		active  bool
		wantErr error
	}{
		{"good", true, nil},
		{"revoked", false, nil},
		{"expired", false, nil},
		{"foreign", false, nil},
		{"opaque-refresh-token", false, nil},
		{"nokeys", false, token.ErrKeysUnavailable},
		{"stale", false, token.ErrRevocationUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			got, err := in.Introspect(t.Context(), "v-1", tt.raw)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if got.Active != tt.active || (!got.Active && got.Claims.Subject != "") {
				t.Errorf("Introspect(%q) = %+v, want active %v (and no claims when inactive)", tt.raw, got, tt.active)
			}
		})
	}
}

func TestIntrospectRateLimitPerVerifier(t *testing.T) {
	v := verifierFunc(func(string) (token.Claims, error) { return token.Claims{Subject: "u1"}, nil })
	in, err := remote.NewIntrospector(v, memory.NewRateLimiter(system.Clock{}), remote.Limit{N: 3, Window: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := in.Introspect(t.Context(), "v-a", "t"); err != nil {
			t.Fatal(err)
		}
	}
	_, err = in.Introspect(t.Context(), "v-a", "t")
	rl, ok := errors.AsType[*remote.RateLimitedError](err)
	if !ok || rl.RetryAfter < time.Second {
		t.Fatalf("4th request = %v, want *RateLimitedError with a Retry-After", err)
	}
	if _, err := in.Introspect(t.Context(), "v-b", "t"); err != nil {
		t.Errorf("another verifier = %v, want its own budget", err)
	}
}

// failingLimiter is a RateLimiter whose store is down.
type failingLimiter struct{}

func (failingLimiter) Allow(context.Context, string, int, time.Duration) (bool, time.Duration, error) {
	return false, 0, errors.New("connection refused")
}

func (failingLimiter) Count(context.Context, string, time.Duration) (int, time.Duration, error) {
	return 0, 0, errors.New("connection refused")
}

func TestIntrospectLimiterDownIsUnavailable(t *testing.T) {
	v := verifierFunc(func(string) (token.Claims, error) { return token.Claims{Subject: "u1"}, nil })
	in, _ := remote.NewIntrospector(v, failingLimiter{}, remote.Limit{N: 3, Window: time.Minute})
	if _, err := in.Introspect(t.Context(), "v-a", "t"); !errors.Is(err, ports.ErrUnavailable) {
		t.Fatalf("err = %v, want ports.ErrUnavailable", err)
	}
}
