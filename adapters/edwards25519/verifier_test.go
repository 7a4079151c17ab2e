package edwards25519_test

import (
	"crypto/ed25519"
	"testing"

	edwardsadapter "github.com/keygate/keygate/adapters/edwards25519"
	"github.com/keygate/keygate/ports/portstest"
)

func TestVerifier(t *testing.T) {
	portstest.RunSignatureVerifier(t, edwardsadapter.NewVerifier())
}

func TestZeroVerifier(t *testing.T) {
	var v edwardsadapter.Verifier
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !v.Verify(pub, []byte("m"), ed25519.Sign(priv, []byte("m"))) {
		t.Fatal("the zero Verifier refused a valid signature")
	}
}

// FuzzVerify holds the adapter to crypto/ed25519.Verify on arbitrary keys, messages and
// signatures (the contract suite's cases as seeds).
func FuzzVerify(f *testing.F) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	f.Add([]byte(pub), []byte("m"), ed25519.Sign(priv, []byte("m")))
	f.Add(make([]byte, 32), []byte{}, make([]byte, 64))
	v := edwardsadapter.NewVerifier()
	f.Fuzz(func(t *testing.T, pub, msg, sig []byte) {
		want := len(pub) == ed25519.PublicKeySize && ed25519.Verify(pub, msg, sig)
		if got := v.Verify(pub, msg, sig); got != want {
			t.Fatalf("Verify(%x, %x, %x) = %v, crypto/ed25519 says %v", pub, msg, sig, got, want)
		}
	})
}
