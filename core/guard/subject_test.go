package guard

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/keygate/keygate/core/revocation"
	"github.com/keygate/keygate/core/token"
)

// A subject revocation refuses exactly the subject's tokens whose iat is before its
// not-before, at the boundary: the auth service stores the first whole second after the
// revocation, and a not-before with a fraction (another issuer's, or a manual entry) refuses
// every token of its own second. A leeway never widens or narrows it.
func TestSubjectNotBeforeBoundary(t *testing.T) {
	f := newFixture(t, Config{})
	s := f.clock.Now().Truncate(time.Second) // a whole second; the clock is at it
	tests := []struct {
		name      string
		notBefore time.Time
		iat       time.Time
		revoked   bool
	}{
		{"iat a second before a whole not-before", s, s.Add(-time.Second), true},
		{"iat equal to a whole not-before", s, s, false},
		{"iat a second after a whole not-before", s, s.Add(time.Second), false},
		{"iat of the second of a sub-second not-before", s.Add(500 * time.Millisecond), s, true},
		{"iat of the second after a sub-second not-before", s.Add(500 * time.Millisecond), s.Add(time.Second), false},
		{"not-before 1 ns after iat", s.Add(time.Nanosecond), s, true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub := fmt.Sprintf("u%d", i)
			f.feed.set.Apply(revocation.Entry{Kind: revocation.KindSubject, Key: sub, NotBefore: tt.notBefore,
				ExpiresAt: s.Add(time.Hour)})
			raw := f.s.sign(f.s.header(), with(f.clock.Now(), map[string]any{"sub": sub, "jti": sub,
				"iat": tt.iat.Unix(), "nbf": tt.iat.Unix()}))
			for name, g := range map[string]*Guard{"cached": f.g, "uncached": f.uncached} {
				_, err := g.Authenticate(t.Context(), raw)
				if got := errors.Is(err, token.ErrRevoked); got != tt.revoked || (!got && err != nil) {
					t.Errorf("%s guard: %v, want revoked = %v", name, err, tt.revoked)
				}
			}
		})
	}
}
