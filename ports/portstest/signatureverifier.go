package portstest

import (
	"crypto/ed25519"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/big"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/keygate/keygate/ports"
)

// RunSignatureVerifier is the contract of ports.SignatureVerifier: v must agree with
// crypto/ed25519.Verify on every input, valid signatures by many keys (more than an
// implementation would keep decoded), each tampered, and the inputs where Ed25519
// implementations are known to differ: non-canonical S (S+L, high bits), small-order public
// keys and R, non-canonical encodings of A and R (y >= p, a negative zero x), wrong lengths.
// It also verifies from several goroutines at once.
func RunSignatureVerifier(t *testing.T, v ports.SignatureVerifier) {
	rng := rand.New(rand.NewPCG(1, 2))
	seed := func() []byte {
		s := make([]byte, ed25519.SeedSize)
		for i := range s {
			s[i] = byte(rng.Uint32())
		}
		return s
	}
	check := func(t *testing.T, name string, pub, msg, sig []byte) bool {
		t.Helper()
		want := stdVerify(pub, msg, sig)
		if got := v.Verify(pub, msg, sig); got != want {
			t.Errorf("%s: Verify(pub %x, msg %x, sig %x) = %v, crypto/ed25519 says %v", name, pub, msg, sig, got, want)
		}
		return want
	}

	t.Run("ValidAndTampered", func(t *testing.T) {
		for i := range 100 { // more keys than an implementation keeps decoded
			priv := ed25519.NewKeyFromSeed(seed())
			pub := priv.Public().(ed25519.PublicKey)
			msg := []byte(fmt.Sprintf("message %d", i))
			sig := ed25519.Sign(priv, msg)
			if !v.Verify(pub, msg, sig) {
				t.Fatalf("key %d: a valid signature refused", i)
			}
			if i%10 != 0 {
				continue
			}
			check(t, "empty message", pub, nil, ed25519.Sign(priv, nil))
			check(t, "other message", pub, []byte("other"), sig)
			for j := range sig {
				bad := append([]byte(nil), sig...)
				bad[j] ^= 1 << (j % 8)
				check(t, fmt.Sprintf("sig byte %d flipped", j), pub, msg, bad)
			}
			badPub := append([]byte(nil), pub...)
			badPub[3] ^= 0x10
			check(t, "other key", badPub, msg, sig)
		}
	})

	t.Run("NonCanonicalS", func(t *testing.T) {
		priv := ed25519.NewKeyFromSeed(seed())
		pub := priv.Public().(ed25519.PublicKey)
		msg := []byte("malleable")
		sig := ed25519.Sign(priv, msg)
		// S + L is the same scalar with another spelling: RFC 8032 and crypto/ed25519 refuse it.
		s := new(big.Int).SetBytes(reverse(sig[32:]))
		s.Add(s, groupOrder)
		plusL := append(append([]byte(nil), sig[:32]...), reverse(leftPad(s.Bytes(), 32))...)
		if check(t, "S+L", pub, msg, plusL) {
			t.Error("crypto/ed25519 accepted S+L: the suite's premise is wrong")
		}
		for _, bits := range []byte{0x20, 0x40, 0x80, 0xe0} {
			high := append([]byte(nil), sig...)
			high[63] |= bits
			check(t, fmt.Sprintf("S high bits %#x", bits), pub, msg, high)
		}
		s.SetBytes(reverse(sig[32:]))
		s.Sub(s, groupOrder) // negative: not a valid S; use L itself instead
		check(t, "S=L", pub, msg, append(append([]byte(nil), sig[:32]...), reverse(leftPad(groupOrder.Bytes(), 32))...))
	})

	t.Run("SmallOrderAndNonCanonicalPoints", func(t *testing.T) {
		points := smallOrderEncodings()
		accepted := 0
		for i, a := range points {
			for j, r := range points[:12] {
				for _, s := range [][]byte{make([]byte, 32), leftPadLE(1)} {
					sig := append(append([]byte(nil), r...), s...)
					if check(t, fmt.Sprintf("A #%d R #%d S %x", i, j, s[0]), a, []byte("torsion"), sig) {
						accepted++
					}
				}
			}
		}
		// Cofactorless verification with a small-order key accepts some of these (R = -[k]A
		// when [k]A happens to be R's negation): the suite must see both answers.
		if accepted == 0 {
			t.Error("crypto/ed25519 accepted none of the small-order cases: the suite tests only refusals")
		}
		// A real signature under a non-canonical R: refused (R must match byte for byte).
		priv := ed25519.NewKeyFromSeed(seed())
		pub := priv.Public().(ed25519.PublicKey)
		sig := ed25519.Sign(priv, []byte("r"))
		sig[31] |= 0x80 // R's sign bit flipped: another point
		check(t, "R sign flipped", pub, []byte("r"), sig)
	})

	t.Run("Lengths", func(t *testing.T) {
		priv := ed25519.NewKeyFromSeed(seed())
		pub := priv.Public().(ed25519.PublicKey)
		sig := ed25519.Sign(priv, []byte("m"))
		for _, c := range []struct {
			name     string
			pub, sig []byte
		}{
			{"short key", pub[:31], sig},
			{"long key", append(append([]byte(nil), pub...), 0), sig},
			{"nil key", nil, sig},
			{"short sig", pub, sig[:63]},
			{"long sig", pub, append(append([]byte(nil), sig...), 0)},
			{"nil sig", pub, nil},
		} {
			if v.Verify(c.pub, []byte("m"), c.sig) {
				t.Errorf("%s: accepted", c.name)
			}
		}
	})

	t.Run("Random", func(t *testing.T) {
		for i := range 200 {
			pub, sig, msg := make([]byte, 32), make([]byte, 64), make([]byte, i%40)
			for _, b := range [][]byte{pub, sig, msg} {
				for k := range b {
					b[k] = byte(rng.Uint32())
				}
			}
			sig[63] &= 0x0f // mostly a canonical-sized S, to reach the point arithmetic
			check(t, fmt.Sprintf("random %d", i), pub, msg, sig)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		type signed struct{ pub, msg, sig []byte }
		var set []signed
		for i := range 8 {
			priv := ed25519.NewKeyFromSeed(seed())
			msg := []byte{byte(i)}
			set = append(set, signed{priv.Public().(ed25519.PublicKey), msg, ed25519.Sign(priv, msg)})
		}
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Go(func() {
				for i := range 40 {
					s := set[(g+i)%len(set)]
					if !v.Verify(s.pub, s.msg, s.sig) {
						t.Errorf("goroutine %d: a valid signature refused", g)
						return
					}
				}
			})
		}
		wg.Wait()
	})
}

// stdVerify is crypto/ed25519.Verify, false where it panics (a key of the wrong length).
func stdVerify(pub, msg, sig []byte) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return ed25519.Verify(pub, msg, sig)
}

// groupOrder is L = 2^252 + 27742317777372353535851937790883648493.
var groupOrder, _ = new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)

// smallOrderEncodings returns encodings of the eight points of small order, canonical first,
// then non-canonical spellings of points (y >= p, a negative zero x).
func smallOrderEncodings() [][]byte {
	var out [][]byte
	for _, h := range []string{
		"0100000000000000000000000000000000000000000000000000000000000000", // identity
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // order 2
		"0000000000000000000000000000000000000000000000000000000000000000", // order 4
		"0000000000000000000000000000000000000000000000000000000000000080", // order 4
		"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", // order 8
		"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85", // order 8
		"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", // order 8
		"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa", // order 8
		"0100000000000000000000000000000000000000000000000000000000000080", // identity, x = -0
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", // order 2, x = -0
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p+1 (identity)
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p (order 4)
	} {
		b, _ := hex.DecodeString(h)
		out = append(out, b)
	}
	// y = p + k for small k, both signs: non-canonical y, a point only for some k.
	for k := uint64(2); k < 19; k++ {
		for _, sign := range []byte{0, 0x80} {
			b := make([]byte, 32)
			binary.LittleEndian.PutUint64(b, 0xffffffffffffffed+k) // p's low limb + k (no carry for k < 19)
			for i := 8; i < 31; i++ {
				b[i] = 0xff
			}
			b[31] = 0x7f | sign
			out = append(out, b)
		}
	}
	return out
}

func reverse(b []byte) []byte {
	out := make([]byte, len(b))
	for i := range b {
		out[len(b)-1-i] = b[i]
	}
	return out
}

func leftPad(b []byte, n int) []byte {
	if len(b) >= n {
		return b
	}
	return append(make([]byte, n-len(b)), b...)
}

// leftPadLE returns the 32-byte little-endian encoding of x.
func leftPadLE(x uint64) []byte {
	b := make([]byte, 32)
	binary.LittleEndian.PutUint64(b, x)
	return b
}
