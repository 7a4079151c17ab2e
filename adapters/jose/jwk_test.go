package jose

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"testing"
)

// jwk is a clean public Ed25519 JWK of seed, with edits applied (a nil value deletes).
func jwk(t *testing.T, seed byte, edits map[string]any) map[string]any {
	k := newKey(t, seed)
	m := map[string]any{"kty": "OKP", "crv": "Ed25519", "x": b64(k.Public), "kid": k.ID, "alg": "EdDSA", "use": "sig"}
	for name, v := range edits {
		if v == nil {
			delete(m, name)
		} else {
			m[name] = v
		}
	}
	return m
}

func doc(keys ...map[string]any) []byte { return mustJSON(map[string]any{"keys": keys}) }

func TestParseJWKS(t *testing.T) {
	good := newKey(t, 1)
	lowOrder := append([]byte{1}, make([]byte, 31)...) // the identity point
	// y = p, a non-canonical spelling of the point with y = 0.
	nonCanonical := append(append([]byte{0xed}, bytesOf(0xff, 30)...), 0x7f)
	tests := []struct {
		name    string
		body    []byte
		usable  []string // kids
		skipped int
		outcome string // of the refusal; "" when accepted
	}{
		{name: "one clean key", body: doc(jwk(t, 1, nil)), usable: []string{good.ID}},
		{name: "RFC 9864 alg Ed25519", body: doc(jwk(t, 1, map[string]any{"alg": "Ed25519"})), usable: []string{good.ID}},
		{name: "use absent, key_ops [verify]", body: doc(jwk(t, 1, map[string]any{"use": nil, "key_ops": []string{"verify"}})), usable: []string{good.ID}},
		{name: "key-type confusion: oct, RSA, X25519, Ed448 and a private Ed25519 key beside a clean one", body: doc(
			map[string]any{"kty": "oct", "k": "c2VjcmV0", "kid": "oct", "alg": "HS256"},
			map[string]any{"kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": "rsa", "alg": "RS256"},
			jwk(t, 2, map[string]any{"crv": "X25519", "kid": "x25519"}),
			jwk(t, 3, map[string]any{"crv": "Ed448", "kid": "ed448", "x": b64(make([]byte, 57))}),
			jwk(t, 4, map[string]any{"d": b64(make([]byte, 32)), "kid": "private"}),
			jwk(t, 1, nil),
		), usable: []string{good.ID}, skipped: 5},
		{name: "B-41 low-order key skipped", body: doc(jwk(t, 2, map[string]any{"x": b64(lowOrder), "kid": "low"}), jwk(t, 1, nil)), usable: []string{good.ID}, skipped: 1},
		{name: "B-42 x of 31 bytes skipped", body: doc(jwk(t, 2, map[string]any{"x": b64(good.Public[:31]), "kid": "short"}), jwk(t, 1, nil)), usable: []string{good.ID}, skipped: 1},
		{name: "B-42 x of 33 bytes skipped", body: doc(jwk(t, 2, map[string]any{"x": b64(append(good.Public, 0)), "kid": "long"}), jwk(t, 1, nil)), usable: []string{good.ID}, skipped: 1},
		{name: "x with padding skipped", body: doc(jwk(t, 2, map[string]any{"x": b64(newKey(t, 2).Public) + "=", "kid": "pad"}), jwk(t, 1, nil)), usable: []string{good.ID}, skipped: 1},
		{name: "x not canonical (y >= p) skipped", body: doc(jwk(t, 2, map[string]any{"x": b64(nonCanonical), "kid": "big"}), jwk(t, 1, nil)), usable: []string{good.ID}, skipped: 1},
		{name: "alg missing skipped", body: doc(jwk(t, 2, map[string]any{"alg": nil}), jwk(t, 1, nil)), usable: []string{good.ID}, skipped: 1},
		{name: "alg RS256 skipped", body: doc(jwk(t, 2, map[string]any{"alg": "RS256"}), jwk(t, 1, nil)), usable: []string{good.ID}, skipped: 1},
		{name: "use enc skipped", body: doc(jwk(t, 2, map[string]any{"use": "enc"}), jwk(t, 1, nil)), usable: []string{good.ID}, skipped: 1},
		{name: "key_ops without verify skipped", body: doc(jwk(t, 2, map[string]any{"key_ops": []string{"sign"}}), jwk(t, 1, nil)), usable: []string{good.ID}, skipped: 1},
		{name: "key_ops with verify twice skipped", body: doc(jwk(t, 2, map[string]any{"key_ops": []string{"verify", "verify"}}), jwk(t, 1, nil)), usable: []string{good.ID}, skipped: 1},
		{name: "kid missing skipped", body: doc(jwk(t, 2, map[string]any{"kid": nil}), jwk(t, 1, nil)), usable: []string{good.ID}, skipped: 1},
		{name: "kid with a slash skipped", body: doc(jwk(t, 2, map[string]any{"kid": "a/b"}), jwk(t, 1, nil)), usable: []string{good.ID}, skipped: 1},
		{name: "B-44 a key that is not an object skipped", body: []byte(`{"keys":[5,` + string(mustJSON(jwk(t, 1, nil))) + `]}`), usable: []string{good.ID}, skipped: 1},
		{name: "B-43 duplicate kid", body: doc(jwk(t, 1, nil), jwk(t, 2, map[string]any{"kid": good.ID})), outcome: outcomeDupKid},
		{name: "B-43 duplicate kid on an unusable key", body: doc(jwk(t, 1, nil), map[string]any{"kty": "oct", "kid": good.ID, "k": "AA"}), outcome: outcomeDupKid},
		{name: "B-45 only private material", body: doc(jwk(t, 1, map[string]any{"d": b64(make([]byte, 32))})), outcome: outcomeEmpty},
		{name: "empty key set", body: []byte(`{"keys":[]}`), outcome: outcomeEmpty},
		{name: "33 keys", body: func() []byte {
			var ks []map[string]any
			for i := range 33 {
				ks = append(ks, jwk(t, byte(i+1), nil))
			}
			return doc(ks...)
		}(), outcome: outcomeTooLarge},
		{name: "not JSON", body: []byte(`<html>`), outcome: outcomeParseError},
		{name: "no keys member", body: []byte(`{"Keys":[]}`), outcome: outcomeParseError},
		{name: "keys not an array", body: []byte(`{"keys":{}}`), outcome: outcomeParseError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, skipped, err := parseJWKS(tt.body)
			if tt.outcome != "" {
				var fe *fetchError
				if !errors.As(err, &fe) || fe.outcome != tt.outcome {
					t.Fatalf("parseJWKS: %v, want a %s refusal", err, tt.outcome)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseJWKS: %v", err)
			}
			if len(keys) != len(tt.usable) || skipped != tt.skipped {
				t.Errorf("%d usable, %d skipped; want %d, %d", len(keys), skipped, len(tt.usable), tt.skipped)
			}
			for _, kid := range tt.usable {
				if len(keys[kid]) != ed25519.PublicKeySize {
					t.Errorf("kid %s not usable", kid)
				}
			}
		})
	}
}

// TestWycheproofEd25519 runs Wycheproof's Ed25519 vectors through our verify path: the key
// check applied to every JWKS key (validPublicKey), then ed25519.Verify as the guard calls it.
func TestWycheproofEd25519(t *testing.T) {
	var file struct {
		TestGroups []struct {
			PublicKey struct {
				PK string `json:"pk"`
			} `json:"publicKey"`
			Tests []struct {
				TcID    int      `json:"tcId"`
				Comment string   `json:"comment"`
				Msg     string   `json:"msg"`
				Sig     string   `json:"sig"`
				Result  string   `json:"result"`
				Flags   []string `json:"flags"`
			} `json:"tests"`
		} `json:"testGroups"`
	}
	readJSON(t, "testdata/wycheproof/ed25519_test.json", &file)
	n := 0
	for _, g := range file.TestGroups {
		pk, _ := hex.DecodeString(g.PublicKey.PK)
		keyOK := validPublicKey(pk) == nil
		for _, tc := range g.Tests {
			n++
			msg, _ := hex.DecodeString(tc.Msg)
			sig, _ := hex.DecodeString(tc.Sig)
			got := keyOK && len(sig) == ed25519.SignatureSize && ed25519.Verify(pk, msg, sig)
			if want := tc.Result == "valid"; got != want {
				t.Errorf("tc%d %q %v: verified = %v, want %v (key usable: %v)", tc.TcID, tc.Comment, tc.Flags, got, want, keyOK)
			}
		}
	}
	if n < 150 {
		t.Fatalf("ran %d vectors, want all 151", n)
	}
}

// TestWycheproofJWKSets: none of Wycheproof's JWK sets (HMAC, RSA, EC, mixed, duplicate
// kid) holds a key our verifier may use, so each is refused whole, and the duplicate-kid set
// for its duplicate.
func TestWycheproofJWKSets(t *testing.T) {
	var file struct {
		TestGroups []struct {
			Comment string          `json:"comment"`
			Private json.RawMessage `json:"private"`
			Public  json.RawMessage `json:"public"`
		} `json:"testGroups"`
	}
	readJSON(t, "testdata/wycheproof/json_web_key_test.json", &file)
	for i, g := range file.TestGroups {
		for _, set := range []json.RawMessage{g.Private, g.Public} {
			if set == nil {
				continue
			}
			t.Run(fmt.Sprintf("%d %s", i, g.Comment), func(t *testing.T) {
				var fe *fetchError
				_, _, err := parseJWKS(set)
				if !errors.As(err, &fe) {
					t.Fatalf("parseJWKS accepted %s", set)
				}
				if g.Comment == "jws_duplicate_kid" && fe.outcome != outcomeDupKid {
					t.Errorf("outcome %s, want %s", fe.outcome, outcomeDupKid)
				}
			})
		}
	}
}

func bytesOf(b byte, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}
