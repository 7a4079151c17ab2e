package jose

import (
	"testing"

	"github.com/keygate/keygate/core/key"
)

// FuzzParseJWKS: the JWKS loader never panics, and every key it accepts passes the key check
// under a valid kid. Run the seeds with `go test`, explore with
// `go test -fuzz=FuzzParseJWKS -fuzztime=60s ./adapters/jose/`.
func FuzzParseJWKS(f *testing.F) {
	k := newKey(f, 1)
	good, _ := NewTokenIssuer().JWKS([]key.Key{k, newKey(f, 2)})
	f.Add(good)
	f.Add(dupKidDoc(k))
	f.Add([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","kid":"low","alg":"EdDSA"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + b64(k.Public) + `","kid":"` + k.ID + `","alg":"EdDSA","d":"AA"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + b64(k.Public) + `","kid":"` + k.ID + `","alg":"EdDSA","key_ops":["verify"]}]}`))
	f.Add([]byte(`{"keys":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		keys, _, err := parseJWKS(body)
		if err != nil {
			return
		}
		if len(keys) == 0 || len(keys) > maxKeys {
			t.Fatalf("accepted %d keys", len(keys))
		}
		for kid, pub := range keys {
			if !validKid(kid) || validPublicKey(pub) != nil {
				t.Fatalf("accepted kid %q key %x", kid, pub)
			}
		}
	})
}
