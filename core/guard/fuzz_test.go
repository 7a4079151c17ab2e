package guard

import (
	"crypto/ed25519"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/keygate/keygate/core/token"
)

// FuzzAuthenticate feeds arbitrary strings to the whole pipeline. Properties: it never panics;
// every refusal wraps one of token's sentinels; and it accepts only a token whose three
// segments are canonical base64url, whose signature our test key made over exactly those
// bytes, and whose required claims are all present. The seed corpus is every row of the
// bad-input catalogue plus valid tokens; `go test` runs the seeds, and
// `go test -fuzz=FuzzAuthenticate -fuzztime=60s ./core/guard/` explores.
func FuzzAuthenticate(f *testing.F) {
	fx := newFixture(f, Config{})
	for _, row := range bRows() {
		if row.setup == nil {
			f.Add(row.tok(fx))
		}
	}
	f.Add(fx.good())
	f.Add("eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg")
	pub := fx.s.pub()
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := fx.g.Authenticate(t.Context(), raw)
		if err != nil {
			if token.Reason(err) == "error" {
				t.Fatalf("refusal %v wraps no token sentinel", err)
			}
			return
		}
		parts := strings.Split(raw, ".")
		if len(parts) != 3 {
			t.Fatalf("accepted a token of %d segments", len(parts))
		}
		for _, p := range parts {
			b, err := base64.RawURLEncoding.Strict().DecodeString(p)
			if err != nil || base64.RawURLEncoding.EncodeToString(b) != p {
				t.Fatalf("accepted a non-canonical segment %q", p)
			}
		}
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		if !ed25519.Verify(pub, []byte(parts[0]+"."+parts[1]), sig) {
			t.Fatal("accepted a token our key did not sign")
		}
		if c.Issuer != testIssuer || c.Subject == "" || c.ID == "" || c.ClientID == "" || len(c.Audience) == 0 ||
			c.ExpiresAt.IsZero() || c.IssuedAt.IsZero() {
			t.Fatalf("accepted a token without every required claim: %+v", c)
		}
	})
}
