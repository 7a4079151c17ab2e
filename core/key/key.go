// Package key holds the signing-key nouns: an Ed25519 key with its RFC 7638 thumbprint as kid,
// sealing of private keys under a key-encryption key, and Ring, the pure rules that say which
// key signs, which keys are published and when the next key is due. It imports only the
// standard library.
package key

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"time"
)

// Errors of the key rules.
var (
	ErrSealed    = errors.New("key: private key is sealed")
	ErrBadKEK    = errors.New("key: key-encryption key must be 32 bytes")
	ErrOpen      = errors.New("key: cannot open sealed private key (wrong KEK or corrupted)")
	ErrNoSigning = errors.New("key: no signing key")
)

// Key is one Ed25519 signing key of the ring. Its state is derived from its times (see Ring),
// so every replica that reads the same ring agrees without coordination.
type Key struct {
	ID          string // RFC 7638 JWK thumbprint of the public key
	Seq         int64  // slot in the ring: 1, 2, 3...; unique, so two replicas cannot both fill one
	Public      ed25519.PublicKey
	Private     ed25519.PrivateKey // nil when only Sealed is known
	Sealed      []byte             // Private under the KEK (AES-256-GCM, kid as additional data)
	CreatedAt   time.Time
	ActivatesAt time.Time // signs from this time (until a later key activates or it is retired)
	RetiredAt   time.Time // zero, or when it was retired by hand: it signs no more
}

// LogValue keeps private material out of logs.
func (k Key) LogValue() slog.Value {
	return slog.GroupValue(slog.String("kid", k.ID), slog.Int64("seq", k.Seq))
}

// Generate makes a new key for slot seq that activates at activatesAt.
func Generate(r io.Reader, seq int64, now, activatesAt time.Time) (Key, error) {
	if r == nil {
		r = rand.Reader
	}
	pub, priv, err := ed25519.GenerateKey(r)
	if err != nil {
		return Key{}, fmt.Errorf("key: generate: %w", err)
	}
	return Key{ID: Thumbprint(pub), Seq: seq, Public: pub, Private: priv,
		CreatedAt: now, ActivatesAt: activatesAt}, nil
}

// Thumbprint returns the RFC 7638 thumbprint of an Ed25519 public key (RFC 8037 section 2:
// the members crv, kty, x in lexicographic order), base64url without padding.
func Thumbprint(pub ed25519.PublicKey) string {
	x := base64.RawURLEncoding.EncodeToString(pub)
	sum := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + x + `"}`))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Seal encrypts k.Private under kek (32 bytes) and returns k with Sealed set.
func Seal(k Key, kek []byte) (Key, error) {
	aead, err := gcm(kek)
	if err != nil {
		return Key{}, err
	}
	if len(k.Private) != ed25519.PrivateKeySize {
		return Key{}, ErrSealed
	}
	nonce := make([]byte, aead.NonceSize())
	_, _ = rand.Read(nonce)
	k.Sealed = aead.Seal(nonce, nonce, k.Private.Seed(), []byte(k.ID))
	return k, nil
}

// Open decrypts k.Sealed under kek, checks it matches k.Public, and returns k with Private set.
func Open(k Key, kek []byte) (Key, error) {
	aead, err := gcm(kek)
	if err != nil {
		return Key{}, err
	}
	ns := aead.NonceSize()
	if len(k.Sealed) < ns {
		return Key{}, ErrOpen
	}
	seed, err := aead.Open(nil, k.Sealed[:ns], k.Sealed[ns:], []byte(k.ID))
	if err != nil || len(seed) != ed25519.SeedSize {
		return Key{}, ErrOpen
	}
	priv := ed25519.NewKeyFromSeed(seed)
	if !priv.Public().(ed25519.PublicKey).Equal(k.Public) || Thumbprint(k.Public) != k.ID {
		return Key{}, ErrOpen
	}
	k.Private = priv
	return k, nil
}

func gcm(kek []byte) (cipher.AEAD, error) {
	if len(kek) != 32 {
		return nil, ErrBadKEK
	}
	b, err := aes.NewCipher(kek)
	if err != nil {
		return nil, fmt.Errorf("key: %w", err)
	}
	return cipher.NewGCM(b)
}

// Policy holds the rotation schedule.
type Policy struct {
	RotateEvery time.Duration // how long a key signs before the next takes over (default 30 days)
	PublishLead time.Duration // how long a key is published before it signs: >= 2x the JWKS max-age
	KeepAfter   time.Duration // how long a key stays published after it stops signing: >= access TTL + leeway
}

// Ring is the set of keys, in any order. Its methods are pure functions of the keys and a time.
type Ring []Key

func (r Ring) sorted() Ring {
	s := append(Ring(nil), r...)
	sort.Slice(s, func(i, j int) bool { return s[i].Seq < s[j].Seq })
	return s
}

// Signing returns the key that signs at now: the highest slot that has activated and is not
// retired. If every activated key is retired, the earliest pending key signs early (an
// emergency retirement must not stop the service).
//
// It runs for every token signed, so it searches without sorting a copy.
func (r Ring) Signing(now time.Time) (Key, error) {
	best := -1 // the highest slot signing
	for i := range r {
		if !r[i].ActivatesAt.After(now) && !retired(r[i], now) && (best < 0 || r[i].Seq > r[best].Seq) {
			best = i
		}
	}
	if best < 0 { // the earliest not retired
		for i := range r {
			if !retired(r[i], now) && (best < 0 || r[i].Seq < r[best].Seq) {
				best = i
			}
		}
	}
	if best < 0 {
		return Key{}, ErrNoSigning
	}
	return r[best], nil
}

func retired(k Key, now time.Time) bool { return !k.RetiredAt.IsZero() && !k.RetiredAt.After(now) }

// stoppedAt is when k stopped signing, or zero if it has not: it was retired, or a later
// slot activated.
func (r Ring) stoppedAt(k Key, now time.Time) time.Time {
	var t time.Time
	if retired(k, now) {
		t = k.RetiredAt
	}
	for _, o := range r {
		if o.Seq > k.Seq && !o.ActivatesAt.After(now) && !retired(o, now) && !o.ActivatesAt.Before(k.ActivatesAt) {
			if t.IsZero() || o.ActivatesAt.Before(t) {
				t = o.ActivatesAt
			}
		}
	}
	return t
}

// Published returns the keys a JWKS lists at now, ordered by slot: pending keys (published
// ahead of signing), the signing key, and keys that stopped signing less than p.KeepAfter ago
// (their tokens may still be alive).
func (r Ring) Published(now time.Time, p Policy) Ring {
	var out Ring
	signing, _ := r.Signing(now)
	for _, k := range r.sorted() {
		if k.ID == signing.ID {
			out = append(out, k)
			continue
		}
		stop := r.stoppedAt(k, now)
		if stop.IsZero() || now.Before(stop.Add(p.KeepAfter)) {
			out = append(out, k)
		}
	}
	return out
}

// Due reports whether a new key must be created at now, and returns its slot and activation
// time. An empty ring gets a key that signs at once; otherwise a new key is due when no key is
// pending and the signing key will have signed for RotateEvery by the time a key created now
// could take over (now + PublishLead).
func (r Ring) Due(now time.Time, p Policy) (due bool, seq int64, activatesAt time.Time) {
	var maxSeq int64
	for _, k := range r {
		maxSeq = max(maxSeq, k.Seq)
		if k.ActivatesAt.After(now) && !retired(k, now) {
			return false, 0, time.Time{} // a key is already pending
		}
	}
	signing, err := r.Signing(now)
	if err != nil {
		return true, maxSeq + 1, now
	}
	at := now.Add(p.PublishLead)
	if !at.Before(signing.ActivatesAt.Add(p.RotateEvery)) {
		return true, maxSeq + 1, at
	}
	return false, 0, time.Time{}
}

// Next returns the slot and activation time of a key created by hand at now (keygatectl keys
// rotate): published for p.PublishLead before it signs.
func (r Ring) Next(now time.Time, p Policy) (seq int64, activatesAt time.Time) {
	var maxSeq int64
	for _, k := range r {
		maxSeq = max(maxSeq, k.Seq)
	}
	if len(r) == 0 {
		return 1, now
	}
	return maxSeq + 1, now.Add(p.PublishLead)
}
