package key

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"testing"
	"time"
)

var (
	t0     = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	policy = Policy{RotateEvery: 30 * 24 * time.Hour, PublishLead: 10 * time.Minute, KeepAfter: 16 * time.Minute}
)

func mustGenerate(t *testing.T, seq int64, at time.Time) Key {
	t.Helper()
	k, err := Generate(nil, seq, at, at)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// RFC 8037 appendix A.3: the thumbprint of the A.2 public key.
func TestThumbprintRFC8037(t *testing.T) {
	pub, _ := hex.DecodeString("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
	if got, want := Thumbprint(ed25519.PublicKey(pub)), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"; got != want {
		t.Fatalf("Thumbprint = %s, want %s", got, want)
	}
}

func TestSealOpen(t *testing.T) {
	kek := bytes.Repeat([]byte{7}, 32)
	k := mustGenerate(t, 1, t0)
	sealed, err := Seal(k, kek)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed.Sealed, k.Private.Seed()) {
		t.Fatal("sealed bytes contain the seed")
	}
	stored := sealed
	stored.Private = nil
	opened, err := Open(stored, kek)
	if err != nil || !opened.Private.Equal(k.Private) {
		t.Fatalf("Open = %v; private key equal: %v", err, opened.Private.Equal(k.Private))
	}
	wrong := bytes.Repeat([]byte{8}, 32)
	if _, err := Open(stored, wrong); !errors.Is(err, ErrOpen) {
		t.Errorf("Open with the wrong KEK = %v, want ErrOpen", err)
	}
	swapped := stored
	swapped.ID = "another-kid" // the kid is authenticated data: a row cannot be moved
	if _, err := Open(swapped, kek); !errors.Is(err, ErrOpen) {
		t.Errorf("Open under another kid = %v, want ErrOpen", err)
	}
	if _, err := Seal(k, []byte("short")); !errors.Is(err, ErrBadKEK) {
		t.Errorf("Seal with a short KEK = %v, want ErrBadKEK", err)
	}
	if k.LogValue().String() == "" || bytes.Contains([]byte(k.LogValue().String()), []byte(hex.EncodeToString(k.Private))) {
		t.Error("LogValue leaks the private key")
	}
}

func TestRingLifecycle(t *testing.T) {
	var ring Ring
	due, seq, at := ring.Due(t0, policy)
	if !due || seq != 1 || !at.Equal(t0) {
		t.Fatalf("empty ring: Due = %v, %d, %v; want a first key signing at once", due, seq, at)
	}
	k1 := mustGenerate(t, 1, t0)
	ring = Ring{k1}
	if due, _, _ := ring.Due(t0.Add(time.Hour), policy); due {
		t.Fatal("a fresh ring wants a new key already")
	}

	// Near the end of k1's period a next key is due, published PublishLead before it signs.
	rotateAt := t0.Add(policy.RotateEvery - policy.PublishLead)
	due, seq, at = ring.Due(rotateAt, policy)
	if !due || seq != 2 || !at.Equal(rotateAt.Add(policy.PublishLead)) {
		t.Fatalf("Due at rotation time = %v, %d, %v", due, seq, at)
	}
	k2, _ := Generate(nil, 2, rotateAt, at)
	ring = append(ring, k2)
	if due, _, _ := ring.Due(rotateAt, policy); due {
		t.Fatal("a pending key is not enough: Due wants another")
	}

	check := func(name string, now time.Time, wantSigning string, wantPublished ...string) {
		t.Helper()
		s, err := ring.Signing(now)
		if err != nil || s.ID != wantSigning {
			t.Errorf("%s: Signing = %s, %v; want %s", name, s.ID, err, wantSigning)
		}
		var got []string
		for _, k := range ring.Published(now, policy) {
			got = append(got, k.ID)
		}
		if len(got) != len(wantPublished) {
			t.Errorf("%s: Published = %v, want %v", name, got, wantPublished)
			return
		}
		for i := range got {
			if got[i] != wantPublished[i] {
				t.Errorf("%s: Published = %v, want %v", name, got, wantPublished)
			}
		}
	}
	check("next key published before it signs", rotateAt, k1.ID, k1.ID, k2.ID)
	check("next key signs at its activation", at, k2.ID, k1.ID, k2.ID)
	check("retired key still published while its tokens live", at.Add(policy.KeepAfter-time.Second), k2.ID, k1.ID, k2.ID)
	check("retired key dropped after its last token expired", at.Add(policy.KeepAfter), k2.ID, k2.ID)
}

func TestRingRetireByHand(t *testing.T) {
	k1 := mustGenerate(t, 1, t0)
	k2, _ := Generate(nil, 2, t0, t0.Add(time.Hour)) // pending
	k1.RetiredAt = t0.Add(time.Minute)
	ring := Ring{k1, k2}
	s, err := ring.Signing(t0.Add(2 * time.Minute))
	if err != nil || s.ID != k2.ID {
		t.Fatalf("after retiring the only active key, Signing = %s, %v; want the pending key early", s.ID, err)
	}
	pub := ring.Published(t0.Add(2*time.Minute), policy)
	if len(pub) != 2 {
		t.Fatalf("retired key must stay published KeepAfter: got %d keys", len(pub))
	}
	if got := ring.Published(t0.Add(time.Minute+policy.KeepAfter), policy); len(got) != 1 || got[0].ID != k2.ID {
		t.Fatalf("after KeepAfter, Published = %v", got)
	}
	if _, err := (Ring{k1}).Signing(t0.Add(time.Hour)); !errors.Is(err, ErrNoSigning) {
		t.Fatalf("all retired: %v, want ErrNoSigning", err)
	}
}

func TestRingNext(t *testing.T) {
	if seq, at := (Ring{}).Next(t0, policy); seq != 1 || !at.Equal(t0) {
		t.Errorf("Next on an empty ring = %d, %v", seq, at)
	}
	ring := Ring{mustGenerate(t, 1, t0), mustGenerate(t, 4, t0)}
	if seq, at := ring.Next(t0, policy); seq != 5 || !at.Equal(t0.Add(policy.PublishLead)) {
		t.Errorf("Next = %d, %v; want slot 5 after PublishLead", seq, at)
	}
}
