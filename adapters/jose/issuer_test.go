package jose

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	gojose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/keygate/keygate/core/key"
	"github.com/keygate/keygate/core/token"
)

// RFC 8037 appendix A known-answer vectors.
const (
	rfcD          = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
	rfcX          = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
	rfcThumbprint = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
	rfcPayload    = "Example of Ed25519 signing"
	rfcJWS        = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
)

func TestRFC8037(t *testing.T) {
	seed, _ := base64.RawURLEncoding.DecodeString(rfcD)
	priv := ed25519.NewKeyFromSeed(seed)
	pub := priv.Public().(ed25519.PublicKey)

	t.Run("A.1 private key gives the public key", func(t *testing.T) {
		if got := b64(pub); got != rfcX {
			t.Errorf("x = %s, want %s", got, rfcX)
		}
	})
	t.Run("A.2 public key parses as a usable JWK", func(t *testing.T) {
		doc := `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + rfcX + `","kid":"` + rfcThumbprint + `","alg":"EdDSA","use":"sig"}]}`
		keys, _, err := parseJWKS([]byte(doc))
		if err != nil || !keys[rfcThumbprint].Equal(pub) {
			t.Fatalf("parseJWKS: %v, key %x", err, keys[rfcThumbprint])
		}
	})
	t.Run("A.3 thumbprint", func(t *testing.T) {
		if got := key.Thumbprint(pub); got != rfcThumbprint {
			t.Errorf("thumbprint %s, want %s", got, rfcThumbprint)
		}
	})
	t.Run("A.4 signature", func(t *testing.T) {
		if got := signCompact(priv, b64([]byte(`{"alg":"EdDSA"}`)), []byte(rfcPayload)); got != rfcJWS {
			t.Errorf("JWS %s, want %s", got, rfcJWS)
		}
	})
	t.Run("A.5 verification", func(t *testing.T) {
		keys, _, err := parseJWKS([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + rfcX + `","kid":"a","alg":"EdDSA"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		i := strings.LastIndexByte(rfcJWS, '.')
		sig, _ := base64.RawURLEncoding.DecodeString(rfcJWS[i+1:])
		if !ed25519.Verify(keys["a"], []byte(rfcJWS[:i]), sig) {
			t.Error("A.4 signature does not verify with the A.2 key")
		}
		sig[0] ^= 1
		if ed25519.Verify(keys["a"], []byte(rfcJWS[:i]), sig) {
			t.Error("a changed signature verifies")
		}
	})
}

func TestSignHeaderAndClaims(t *testing.T) {
	k := newKey(t, 1)
	c := testClaims(epoch)
	c.NotBefore = epoch
	tok, err := NewTokenIssuer().Sign(k, c)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	hdr, _ := base64.RawURLEncoding.DecodeString(parts[0])
	if want := `{"alg":"EdDSA","kid":"` + k.ID + `","typ":"at+jwt"}`; string(hdr) != want {
		t.Errorf("header %s, want %s", hdr, want)
	}
	// go-jose, with the key, reads back the claims we signed.
	parsed, err := jwt.ParseSigned(tok, []gojose.SignatureAlgorithm{gojose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := parsed.Claims(k.Public, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"iss": testIssuer, "sub": "u1", "aud": []any{testAud}, "exp": float64(epoch.Add(10 * time.Minute).Unix()),
		"iat": float64(epoch.Unix()), "nbf": float64(epoch.Unix()), "jti": "t1", "sid": "s1", "client_id": "web",
		"scope": "orders:read", "roles": []any{"user"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("claims (-want +got):\n%s", diff)
	}
}

func TestSignVerifiesThroughGuard(t *testing.T) {
	k := newKey(t, 1)
	f := newFixture(t, Config{}, k)
	c, err := f.g.Authenticate(t.Context(), sign(t, k, epoch))
	if err != nil {
		t.Fatal(err)
	}
	want := testClaims(epoch)
	if diff := cmp.Diff(want, c, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
		t.Errorf("claims (-want +got):\n%s", diff)
	}
}

func TestSignRefusals(t *testing.T) {
	k := newKey(t, 1)
	sealed := k
	sealed.Private = nil
	if _, err := NewTokenIssuer().Sign(sealed, testClaims(epoch)); !errors.Is(err, key.ErrSealed) {
		t.Errorf("sealed key: %v, want key.ErrSealed", err)
	}
	bad := k
	bad.ID = "../x"
	if _, err := NewTokenIssuer().Sign(bad, testClaims(epoch)); err == nil {
		t.Error("signed with an invalid kid")
	}
	if _, err := NewTokenIssuer().Sign(k, token.Claims{Issuer: testIssuer}); err == nil {
		t.Error("signed claims without exp and iat")
	}
}

func TestJWKSHasPublicMembersOnly(t *testing.T) {
	keys := []key.Key{newKey(t, 1), newKey(t, 2)}
	doc, err := NewTokenIssuer().JWKS(keys)
	if err != nil {
		t.Fatal(err)
	}
	var set struct{ Keys []map[string]any }
	if err := json.Unmarshal(doc, &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 2 {
		t.Fatalf("%d keys, want 2", len(set.Keys))
	}
	for i, jwk := range set.Keys {
		want := map[string]any{"kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA", "kid": keys[i].ID, "x": b64(keys[i].Public)}
		if diff := cmp.Diff(want, jwk); diff != "" {
			t.Errorf("key %d (-want +got):\n%s", i, diff)
		}
	}
	if strings.Contains(string(doc), b64(keys[0].Private.Seed())) {
		t.Error("private key material in the JWKS")
	}
	parsed, _, err := parseJWKS(doc)
	if err != nil || len(parsed) != 2 {
		t.Errorf("our verifier reads our JWKS: %d keys, %v", len(parsed), err)
	}
}

func TestJWKSRefusals(t *testing.T) {
	k := newKey(t, 1)
	short := k
	short.Public = k.Public[:31]
	lowOrder := k
	lowOrder.Public = append(ed25519.PublicKey{1}, make([]byte, 31)...)
	tests := []struct {
		name string
		keys []key.Key
	}{
		{"duplicate kid", []key.Key{k, k}},
		{"31-byte public key", []key.Key{short}},
		{"low-order public key", []key.Key{lowOrder}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewTokenIssuer().JWKS(tt.keys); err == nil {
				t.Error("JWKS accepted keys verifiers would refuse")
			}
		})
	}
	if doc, err := NewTokenIssuer().JWKS(nil); err != nil || string(doc) != `{"keys":[]}` {
		t.Errorf("empty ring: %s, %v", doc, err)
	}
}

func TestDiscovery(t *testing.T) {
	doc, err := Discovery(testIssuer)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(doc, &got); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]any{
		"issuer": testIssuer, "jwks_uri": testIssuer + "/.well-known/jwks.json",
		"revocation_endpoint": testIssuer + "/revoke", "response_types_supported": []any{},
		"grant_types_supported": []any{}, "subject_types_supported": []any{"public"},
	} {
		if diff := cmp.Diff(want, got[name]); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
	// No ID token, no authorization or token endpoint, no UserInfo: never advertised.
	for _, absent := range []string{"id_token_signing_alg_values_supported", "authorization_endpoint",
		"token_endpoint", "userinfo_endpoint", "introspection_endpoint"} {
		if v, ok := got[absent]; ok {
			t.Errorf("%s = %v advertised, want absent", absent, v)
		}
	}
	doc, err = Discovery(testIssuer, WithIntrospection())
	if err != nil || !strings.Contains(string(doc), `"introspection_endpoint":"`+testIssuer+`/introspect"`) {
		t.Errorf("WithIntrospection: %s, %v", doc, err)
	}
	for _, bad := range []string{"", "auth.example", "ftp://auth.example", testIssuer + "/", testIssuer + "?a=1", testIssuer + "#x"} {
		if _, err := Discovery(bad); err == nil {
			t.Errorf("Discovery(%q) accepted", bad)
		}
	}
}
