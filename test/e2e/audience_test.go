package e2e

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
)

// TestAudienceIsChecked: with authd issuing tokens for payments only, orders refuses them
// and payments accepts them.
func TestAudienceIsChecked(t *testing.T) {
	s := startStack(t, map[string]string{"KEYGATE_AUDIENCES": "payments"})
	s.register(t, "carol@example.com", "correct horse battery")
	tok := s.login(t, "carol@example.com", "correct horse battery")

	r := s.call(t, "GET", s.orders+"/api/orders", tok.access, nil)
	want(t, r, 401, "orders with a payments-only token")
	if got := r.header.Get("WWW-Authenticate"); got != `Bearer error="invalid_token"` {
		t.Errorf("WWW-Authenticate = %q", got)
	}
	want(t, s.call(t, "GET", s.payments+"/api/payments", tok.access, nil), 200, "payments with its own token")
}

// TestDefaultAudiencesAgree: with nothing configured, one token opens both services and
// names both audiences, and the claims are the RFC 9068 set.
func TestDefaultAudiencesAgree(t *testing.T) {
	s := startStack(t, nil)
	s.register(t, "dave@example.com", "correct horse battery")
	tok := s.login(t, "dave@example.com", "correct horse battery")
	want(t, s.call(t, "GET", s.orders+"/api/orders", tok.access, nil), 200, "orders")
	want(t, s.call(t, "GET", s.payments+"/api/payments", tok.access, nil), 200, "payments")

	parts := strings.Split(tok.access, ".")
	if len(parts) != 3 {
		t.Fatalf("access token has %d parts", len(parts))
	}
	var header, claims map[string]any
	for i, v := range []*map[string]any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatal(err)
		}
	}
	if header["alg"] != "EdDSA" || header["typ"] != "at+jwt" || header["kid"] == nil {
		t.Errorf("header = %v", header)
	}
	for _, c := range []string{"iss", "sub", "aud", "exp", "iat", "jti", "sid", "client_id"} {
		if _, ok := claims[c]; !ok {
			t.Errorf("claims lack %s: %v", c, claims)
		}
	}
	if claims["iss"] != s.auth {
		t.Errorf("iss = %v, want the issuer URL with the real port %s", claims["iss"], s.auth)
	}
}
