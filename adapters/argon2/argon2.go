// Package argon2 implements ports.PasswordHasher with argon2id (golang.org/x/crypto/argon2) at
// the OWASP parameters (19 MiB, 2 passes, 1 lane), stored as PHC strings
// ($argon2id$v=19$m=19456,t=2,p=1$salt$hash). It bounds how many hashes run at once, since
// each holds its memory cost (MaxConcurrent x 19 MiB at most), rejects stored hashes whose
// parameters exceed fixed maxima before running them, and verifies an empty hash (unknown
// user) against a dummy hash of the same cost, so that unknown and known users take the same
// time. Passwords arrive already normalised by the core; they are hashed as given.
package argon2

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"

	xargon2 "golang.org/x/crypto/argon2"

	"github.com/keygate/keygate/ports"
)

// Defaults: the OWASP Password Storage Cheat Sheet's first argon2id configuration.
const (
	DefaultMemory  = 19 * 1024 // KiB
	DefaultTime    = 2
	DefaultThreads = 1
	SaltLen        = 16
	KeyLen         = 32
)

// Maxima of the parameters accepted from a stored hash: a corrupted or hostile row cannot make
// one verification cost more than this.
const (
	MaxMemory  = 64 * 1024 // KiB
	MaxTime    = 8
	MaxThreads = 4
	maxSalt    = 64
	maxKey     = 64
	minSalt    = 8
	minKey     = 16
	maxEncoded = 256
)

// Errors of the hasher.
var (
	// ErrMalformedHash: a stored hash is not an argon2id PHC string this package accepts, or
	// its parameters exceed the maxima. Nothing was hashed.
	ErrMalformedHash = errors.New("argon2: malformed or unsupported hash")
	// ErrConfig: the configuration is out of range.
	ErrConfig = errors.New("argon2: invalid configuration")
)

// Config holds the hasher's settings. Zero fields take their defaults.
type Config struct {
	Memory  uint32 // KiB per hash (default 19456, at most MaxMemory)
	Time    uint32 // passes (default 2, at most MaxTime)
	Threads uint8  // lanes (default 1, at most MaxThreads)
	// MaxConcurrent bounds the hashes running at once (default GOMAXPROCS): peak memory is
	// about MaxConcurrent x Memory.
	MaxConcurrent int
	// MaxQueue bounds the callers waiting for a slot (default 8 x MaxConcurrent); one more
	// gets ports.ErrUnavailable at once.
	MaxQueue int
	// Pepper, when set (at least 16 bytes), is mixed in as HMAC-SHA-256(Pepper, password)
	// before hashing. Off by default. Hashes made with a pepper verify only with that pepper.
	Pepper []byte
}

// Hasher is a ports.PasswordHasher (argon2id). Safe for concurrent use.
type Hasher struct {
	p       params
	pepper  []byte
	slots   chan struct{}
	queue   int64
	waiting atomic.Int64
	dummy   phc // verified against for an empty hash, at the configured cost

	// hook, if set (tests only), is called with +1 as a hash starts and -1 as it ends.
	hook func(delta int)
}

var _ ports.PasswordHasher = (*Hasher)(nil)

type params struct {
	memory  uint32
	time    uint32
	threads uint8
}

// phc is a parsed hash.
type phc struct {
	p    params
	salt []byte
	key  []byte
}

// New checks cfg and returns a Hasher. It computes the dummy hash once, which costs one hash.
func New(cfg Config) (*Hasher, error) {
	if cfg.Memory == 0 {
		cfg.Memory = DefaultMemory
	}
	if cfg.Time == 0 {
		cfg.Time = DefaultTime
	}
	if cfg.Threads == 0 {
		cfg.Threads = DefaultThreads
	}
	if cfg.MaxConcurrent == 0 {
		cfg.MaxConcurrent = runtime.GOMAXPROCS(0)
	}
	if cfg.MaxQueue == 0 {
		cfg.MaxQueue = 8 * cfg.MaxConcurrent
	}
	p := params{memory: cfg.Memory, time: cfg.Time, threads: cfg.Threads}
	var problems []string
	if err := p.check(); err != nil {
		problems = append(problems, err.Error())
	}
	if cfg.MaxConcurrent < 0 {
		problems = append(problems, "MaxConcurrent must be positive")
	}
	if cfg.MaxQueue < 0 {
		problems = append(problems, "MaxQueue must not be negative")
	}
	if len(cfg.Pepper) > 0 && len(cfg.Pepper) < 16 {
		problems = append(problems, "Pepper must be at least 16 bytes")
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrConfig, strings.Join(problems, "; "))
	}
	h := &Hasher{p: p, pepper: append([]byte(nil), cfg.Pepper...),
		slots: make(chan struct{}, cfg.MaxConcurrent), queue: int64(cfg.MaxQueue)}
	var pw [32]byte
	_, _ = rand.Read(pw[:])
	h.dummy = h.derive(string(pw[:]), p, newSalt())
	return h, nil
}

// check reports parameters outside [minimum, maximum].
func (p params) check() error {
	switch {
	case p.time < 1 || p.time > MaxTime:
		return fmt.Errorf("t=%d not in [1, %d]", p.time, MaxTime)
	case p.threads < 1 || p.threads > MaxThreads:
		return fmt.Errorf("p=%d not in [1, %d]", p.threads, MaxThreads)
	case p.memory < 8*uint32(p.threads) || p.memory > MaxMemory:
		return fmt.Errorf("m=%d not in [%d, %d]", p.memory, 8*uint32(p.threads), MaxMemory)
	}
	return nil
}

func newSalt() []byte {
	s := make([]byte, SaltLen)
	_, _ = rand.Read(s) // crypto/rand.Read never fails (Go 1.24+)
	return s
}

// derive runs argon2id; the caller holds a slot (or is New).
func (h *Hasher) derive(password string, p params, salt []byte) phc {
	return h.deriveLen(password, p, salt, KeyLen)
}

func (h *Hasher) deriveLen(password string, p params, salt []byte, n int) phc {
	pw := []byte(password)
	if len(h.pepper) > 0 {
		m := hmac.New(sha256.New, h.pepper)
		m.Write(pw)
		pw = m.Sum(nil)
	}
	if h.hook != nil {
		h.hook(1)
		defer h.hook(-1)
	}
	return phc{p: p, salt: salt, key: xargon2.IDKey(pw, salt, p.time, p.memory, p.threads, uint32(n))}
}

// acquire waits for a hashing slot. It fails with ports.ErrUnavailable when the queue is full
// or ctx ends first.
func (h *Hasher) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("argon2: wait for a hashing slot: %w (%w)", ports.ErrUnavailable, err)
	}
	select {
	case h.slots <- struct{}{}:
		return nil
	default:
	}
	if h.waiting.Add(1) > h.queue {
		h.waiting.Add(-1)
		return fmt.Errorf("argon2: %d hashes running and %d waiting: %w", cap(h.slots), h.queue, ports.ErrUnavailable)
	}
	defer h.waiting.Add(-1)
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("argon2: wait for a hashing slot: %w (%w)", ports.ErrUnavailable, ctx.Err())
	}
}

func (h *Hasher) release() { <-h.slots }

// Hash returns the PHC string of password under a fresh 16-byte salt.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	return h.derive(password, h.p, newSalt()).String(), nil
}

// Verify reports whether password matches hash. An empty hash (unknown user) is verified
// against the dummy hash, at the same cost, and reports false. A malformed hash, or one whose
// parameters exceed the maxima, returns ErrMalformedHash without hashing.
func (h *Hasher) Verify(ctx context.Context, hash, password string) (bool, error) {
	want := h.dummy
	if hash != "" {
		var err error
		if want, err = parse(hash); err != nil {
			return false, err
		}
	}
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release()
	got := h.deriveLen(password, want.p, want.salt, len(want.key))
	match := subtle.ConstantTimeCompare(got.key, want.key) == 1
	return match && hash != "", nil
}

// NeedsRehash reports whether hash was made with parameters other than the hasher's (or cannot
// be parsed), so the caller may store a fresh hash after a successful login.
func (h *Hasher) NeedsRehash(hash string) bool {
	p, err := parse(hash)
	return err != nil || p.p != h.p || len(p.key) != KeyLen || len(p.salt) != SaltLen
}

var b64 = base64.RawStdEncoding

// String encodes p as a PHC string.
func (p phc) String() string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", xargon2.Version,
		p.p.memory, p.p.time, p.p.threads, b64.EncodeToString(p.salt), b64.EncodeToString(p.key))
}

// parse decodes an argon2id PHC string and checks its parameters against the maxima.
func parse(s string) (phc, error) {
	bad := func(why string) (phc, error) { return phc{}, fmt.Errorf("%w: %s", ErrMalformedHash, why) }
	if len(s) > maxEncoded {
		return bad("too long")
	}
	f := strings.Split(s, "$")
	if len(f) != 6 || f[0] != "" {
		return bad("not a PHC string")
	}
	if f[1] != "argon2id" {
		return bad("algorithm is not argon2id")
	}
	if f[2] != "v="+strconv.Itoa(xargon2.Version) {
		return bad("unsupported version")
	}
	var p params
	kv := strings.Split(f[3], ",")
	if len(kv) != 3 {
		return bad("parameters")
	}
	for i, name := range []string{"m", "t", "p"} {
		k, v, ok := strings.Cut(kv[i], "=")
		if !ok || k != name || v == "" || len(v) > 10 {
			return bad("parameters")
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return bad("parameters")
		}
		switch name {
		case "m":
			p.memory = uint32(n)
		case "t":
			p.time = uint32(n)
		case "p":
			if n > 255 {
				return bad("parameters")
			}
			p.threads = uint8(n)
		}
	}
	if err := p.check(); err != nil {
		return bad(err.Error())
	}
	salt, err := b64.Strict().DecodeString(f[4])
	if err != nil || len(salt) < minSalt || len(salt) > maxSalt {
		return bad("salt")
	}
	key, err := b64.Strict().DecodeString(f[5])
	if err != nil || len(key) < minKey || len(key) > maxKey {
		return bad("key")
	}
	return phc{p: p, salt: salt, key: key}, nil
}
