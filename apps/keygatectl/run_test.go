package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/keygate/keygate/core/key"
)

func getenv(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestKeysGenerateSealed(t *testing.T) {
	kek := bytes.Repeat([]byte{7}, 32)
	var out bytes.Buffer
	err := run(t.Context(), []string{"keygatectl", "keys", "generate"},
		getenv(map[string]string{"KEYGATE_KEK": base64.StdEncoding.EncodeToString(kek)}), &out)
	if err != nil {
		t.Fatal(err)
	}
	var got generated
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out.String())
	}
	if got.PrivateSeed != "" {
		t.Error("sealed output also printed the raw seed")
	}
	var jwk struct{ Kty, Crv, X, Kid, Alg string }
	if err := json.Unmarshal(got.PublicJWK, &jwk); err != nil {
		t.Fatal(err)
	}
	pub, err := base64.RawURLEncoding.DecodeString(jwk.X)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		t.Fatalf("public key x = %q", jwk.X)
	}
	if jwk.Kty != "OKP" || jwk.Crv != "Ed25519" || jwk.Kid != got.Kid || key.Thumbprint(pub) != got.Kid {
		t.Errorf("JWK %+v does not match kid %s", jwk, got.Kid)
	}
	sealed, _ := base64.StdEncoding.DecodeString(got.Sealed)
	opened, err := key.Open(key.Key{ID: got.Kid, Public: pub, Sealed: sealed}, kek)
	if err != nil {
		t.Fatalf("the sealed seed does not open under the KEK: %v", err)
	}
	if strings.Contains(out.String(), base64.RawURLEncoding.EncodeToString(opened.Private.Seed())) {
		t.Error("the output contains the raw seed")
	}
}

func TestKeysGenerateRaw(t *testing.T) {
	var out bytes.Buffer
	if err := run(t.Context(), []string{"keygatectl", "keys", "generate", "-raw"}, getenv(nil), &out); err != nil {
		t.Fatal(err)
	}
	var got generated
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	seed, err := base64.RawURLEncoding.DecodeString(got.PrivateSeed)
	if err != nil || len(seed) != ed25519.SeedSize {
		t.Fatalf("private_seed = %q", got.PrivateSeed)
	}
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	if key.Thumbprint(pub) != got.Kid {
		t.Error("seed does not belong to kid")
	}
}

func TestCommandLineErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no command", []string{"keygatectl"}, nil, "unknown command"},
		{"unknown command", []string{"keygatectl", "frobnicate"}, nil, "unknown command"},
		{"no KEK and no -raw", []string{"keygatectl", "keys", "generate"}, nil, "KEYGATE_KEK"},
		{"short KEK", []string{"keygatectl", "keys", "generate"}, map[string]string{"KEYGATE_KEK": "c2hvcnQ="}, "KEYGATE_KEK: want base64 of 32 bytes"},
		{"extra argument", []string{"keygatectl", "keys", "generate", "-raw", "x"}, nil, "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(t.Context(), tt.args, getenv(tt.env), &out)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want one mentioning %q", err, tt.want)
			}
			if errors.Is(err, errUsage) && !strings.Contains(out.String(), "keys generate") {
				t.Errorf("no usage printed: %q", out.String())
			}
		})
	}
}
