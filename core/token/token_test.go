package token_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/keygate/keygate/core/token"
)

func TestReasons(t *testing.T) {
	tests := []struct {
		err     error
		reason  string
		invalid bool // errors.Is(err, token.ErrInvalid): a 401, not a 503
	}{
		{nil, "ok", false},
		{token.ErrExpired, "expired", true},
		{fmt.Errorf("%w: exp", token.ErrClaimsMissing), "claims_missing", true},
		{token.ErrIssuedInFuture, "iat_future", true},
		{token.ErrRevoked, "revoked", true},
		{token.ErrKeysUnavailable, "keys_unavailable", false},
		{fmt.Errorf("%w: dial", token.ErrRevocationUnavailable), "revocation_unavailable", false},
		{errors.New("token: expired"), "error", false}, // the same text is not the sentinel
	}
	for _, tt := range tests {
		if got := token.Reason(tt.err); got != tt.reason {
			t.Errorf("Reason(%v) = %q, want %q", tt.err, got, tt.reason)
		}
		if got := errors.Is(tt.err, token.ErrInvalid); got != tt.invalid {
			t.Errorf("errors.Is(%v, ErrInvalid) = %v, want %v", tt.err, got, tt.invalid)
		}
		if tt.err != nil && tt.reason != "error" && token.Unavailable(tt.err) == tt.invalid {
			t.Errorf("Unavailable(%v) = %v, want %v", tt.err, !tt.invalid, tt.invalid)
		}
	}
	if errors.Is(token.ErrExpired, token.ErrRevoked) {
		t.Error("one reason matches another")
	}
}
