package jose

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	gojose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/keygate/keygate/core/key"
	"github.com/keygate/keygate/core/token"
)

// goJoseSign is how TokenIssuer.Sign signed before it signed by hand: a go-jose signer per
// token and go-jose's jwt builder. The tests hold the new path to it byte for byte (Ed25519 is
// deterministic, so the same header and claims give the same token) and the benchmark compares
// against it.
func goJoseSign(k key.Key, c token.Claims) (string, error) {
	body := struct {
		Issuer    string   `json:"iss"`
		Subject   string   `json:"sub"`
		Audience  []string `json:"aud"`
		ExpiresAt int64    `json:"exp"`
		IssuedAt  int64    `json:"iat"`
		NotBefore int64    `json:"nbf,omitempty"`
		ID        string   `json:"jti"`
		SessionID string   `json:"sid,omitempty"`
		ClientID  string   `json:"client_id"`
		Scope     string   `json:"scope,omitempty"`
		Roles     []string `json:"roles,omitempty"`
	}{Issuer: c.Issuer, Subject: c.Subject, Audience: c.Audience,
		ExpiresAt: c.ExpiresAt.Unix(), IssuedAt: c.IssuedAt.Unix(), ID: c.ID,
		SessionID: c.SessionID, ClientID: c.ClientID, Scope: c.Scope, Roles: c.Roles}
	if body.Audience == nil {
		body.Audience = []string{}
	}
	if !c.NotBefore.IsZero() {
		body.NotBefore = c.NotBefore.Unix()
	}
	opts := (&gojose.SignerOptions{}).WithType(gojose.ContentType(token.Type))
	sig, err := gojose.NewSigner(gojose.SigningKey{Algorithm: gojose.EdDSA,
		Key: gojose.JSONWebKey{Key: k.Private, KeyID: k.ID}}, opts)
	if err != nil {
		return "", err
	}
	return jwt.Signed(sig).Claims(body).Serialize()
}

// oddClaims are claims whose strings and numbers exercise every escaping and omission rule.
func oddClaims() map[string]token.Claims {
	base := testClaims(epoch)
	with := func(f func(c *token.Claims)) token.Claims {
		c := base
		c.Audience = append([]string(nil), base.Audience...)
		c.Roles = append([]string(nil), base.Roles...)
		f(&c)
		return c
	}
	return map[string]token.Claims{
		"typical":           base,
		"with nbf":          with(func(c *token.Claims) { c.NotBefore = epoch.Add(-time.Second) }),
		"nbf at the epoch":  with(func(c *token.Claims) { c.NotBefore = time.Unix(0, 0) }),
		"nbf before epoch":  with(func(c *token.Claims) { c.NotBefore = time.Unix(-5, 0) }),
		"sub-second times":  with(func(c *token.Claims) { c.IssuedAt = epoch.Add(999 * time.Millisecond) }),
		"nil audience":      with(func(c *token.Claims) { c.Audience = nil }),
		"three audiences":   with(func(c *token.Claims) { c.Audience = []string{"a", "orders", "payments"} }),
		"no roles":          with(func(c *token.Claims) { c.Roles = nil }),
		"empty roles":       with(func(c *token.Claims) { c.Roles = []string{} }),
		"empty role string": with(func(c *token.Claims) { c.Roles = []string{"", "admin"} }),
		"no optional":       with(func(c *token.Claims) { c.SessionID, c.Scope, c.Roles = "", "", nil }),
		"empty required":    with(func(c *token.Claims) { c.Issuer, c.Subject, c.ID, c.ClientID = "", "", "", "" }),
		"html":              with(func(c *token.Claims) { c.Subject = `<script>alert("x")</script>&amp;` }),
		"quotes, backslash": with(func(c *token.Claims) { c.Scope = `a "b" \c\\ /d` }),
		"control bytes": with(func(c *token.Claims) {
			c.Subject = "\x00\x01\b\f\n\r\t\x1f\x7f end"
		}),
		"line separators": with(func(c *token.Claims) { c.ID = "a\u2028b\u2029c\u2027" }),
		"non-ascii":       with(func(c *token.Claims) { c.Subject = "Zoë 東京 🙂 \uFFFD" }),
		"invalid utf-8":   with(func(c *token.Claims) { c.Subject = "a\xffb\xc3(\xed\xa0\x80z\xf0\x9f" }),
		"long":            with(func(c *token.Claims) { c.Scope = strings.Repeat("orders:read ", 200) }),
	}
}

func TestSignMatchesGoJoseByteForByte(t *testing.T) {
	k := newKey(t, 3)
	iss := NewTokenIssuer()
	for name, c := range oddClaims() {
		t.Run(name, func(t *testing.T) {
			want, err := goJoseSign(k, c)
			if err != nil {
				t.Fatal(err)
			}
			got, err := iss.Sign(k, c)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("token differs from go-jose's:\n got  %s\n want %s", decodeParts(got), decodeParts(want))
			}
			// go-jose verifies it and reads back what go-jose's own token holds.
			parsed, err := jwt.ParseSigned(got, []gojose.SignatureAlgorithm{gojose.EdDSA})
			if err != nil {
				t.Fatal(err)
			}
			var gotClaims map[string]any
			if err := parsed.Claims(k.Public, &gotClaims); err != nil {
				t.Fatalf("go-jose does not verify the token: %v", err)
			}
			if diff := cmp.Diff(claimsOf(t, want), gotClaims); diff != "" {
				t.Errorf("claims (-go-jose +ours):\n%s", diff)
			}
		})
	}
}

// FuzzSignMatchesGoJose holds the hand-written JSON to go-jose's for any strings and times.
func FuzzSignMatchesGoJose(f *testing.F) {
	for _, c := range oddClaims() {
		f.Add(c.Subject, c.ID, c.Scope, strings.Join(c.Audience, ","), strings.Join(c.Roles, ","), c.ExpiresAt.Unix(), c.NotBefore.Unix())
	}
	k := newKey(f, 4)
	iss := NewTokenIssuer()
	f.Fuzz(func(t *testing.T, sub, id, scope, aud, roles string, exp, nbf int64) {
		c := testClaims(epoch)
		c.Subject, c.ID, c.Scope, c.SessionID = sub, id, scope, id
		c.Audience, c.Roles = splitList(aud), splitList(roles)
		c.ExpiresAt, c.NotBefore = time.Unix(exp%(1<<40), 0), time.Unix(nbf%(1<<40), 0)
		want, err := goJoseSign(k, c)
		if err != nil {
			t.Fatal(err)
		}
		got, err := iss.Sign(k, c)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("token differs from go-jose's:\n got  %s\n want %s", decodeParts(got), decodeParts(want))
		}
	})
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func TestSignHeaderPerKey(t *testing.T) {
	iss := NewTokenIssuer()
	a, b := newKey(t, 5), newKey(t, 6)
	for range 2 * maxHeaders { // past the bound the kept headers are dropped and made again
		for _, k := range []key.Key{a, b, {ID: "k" + time.Now().Format("150405.000000000"), Private: a.Private, Public: a.Public}} {
			tok, err := iss.Sign(k, testClaims(epoch))
			if err != nil {
				t.Fatal(err)
			}
			want, _ := goJoseSign(k, testClaims(epoch))
			if tok != want {
				t.Fatalf("key %s: token differs from go-jose's", k.ID)
			}
		}
	}
	if n := iss.nheader.Load(); n > maxHeaders {
		t.Errorf("%d headers kept, bound %d", n, maxHeaders)
	}
}

// decodeParts shows a token's header and claims for a failure message.
func decodeParts(tok string) string {
	parts := strings.Split(tok, ".")
	var out []string
	for _, p := range parts[:min(2, len(parts))] {
		b, _ := base64.RawURLEncoding.DecodeString(p)
		out = append(out, string(b))
	}
	return strings.Join(out, " . ")
}

func claimsOf(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// The signing benchmarks, in one run so they compare:
//
//	go test -run '^$' -bench Sign -benchmem -count 6 ./adapters/jose/
//
// Floor is ed25519.Sign alone over a token-sized message; GoJose the signer per token and
// go-jose's jwt builder (how Sign worked before); Issuer is TokenIssuer.Sign; Interleaved runs
// one of each per iteration and reports their times and issuer/gojose, which a busy machine
// skews less than separate runs.
func BenchmarkSign(b *testing.B) {
	k := newKey(b, 1)
	c := testClaims(epoch)
	iss := NewTokenIssuer()
	tok, _ := iss.Sign(k, c)
	msg := []byte(tok[:strings.LastIndexByte(tok, '.')])
	b.Run("Floor", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = ed25519.Sign(k.Private, msg)
		}
	})
	b.Run("GoJose", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := goJoseSign(k, c); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Issuer", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := iss.Sign(k, c); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Interleaved", func(b *testing.B) {
		var old, cur time.Duration
		for b.Loop() {
			t0 := time.Now()
			if _, err := goJoseSign(k, c); err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			if _, err := iss.Sign(k, c); err != nil {
				b.Fatal(err)
			}
			old, cur = old+t1.Sub(t0), cur+time.Since(t1)
		}
		b.ReportMetric(float64(old.Nanoseconds())/float64(b.N), "gojose-ns")
		b.ReportMetric(float64(cur.Nanoseconds())/float64(b.N), "issuer-ns")
		b.ReportMetric(cur.Seconds()/old.Seconds(), "issuer/gojose")
	})
}
