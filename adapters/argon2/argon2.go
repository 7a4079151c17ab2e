// Package argon2 implements ports.PasswordHasher with argon2id (golang.org/x/crypto/argon2) at
// the OWASP parameters (19 MiB, 2 passes, 1 lane), stored as PHC strings
// ($argon2id$v=19$m=19456,t=2,p=1$salt$hash). It bounds how many hashes run at once, since
// each holds its memory cost (MaxConcurrent x 19 MiB at most), rejects stored hashes whose
// parameters exceed fixed maxima before running them, and verifies an empty hash (unknown
// user) against a dummy hash of the same cost, so that unknown and known users take the same
// time. Passwords arrive already normalised by the core; they are hashed as given.
//
// Under overload the callers wait in one first-come, first-served queue. A caller is turned
// away at once (ports.ErrUnavailable, as a *ShedError) only when the wait it would have, from
// the queue's length and the measured time of a hash, exceeds MaxWait. It is promised a turn:
// its RetryAfter (whole seconds) says when the queue will have drained enough to take it, and
// callers turned away one after the other are told to come back one after the other, at the
// rate the queue drains. Until their turns come, the room is kept for them: a caller without a
// promise is let in only if the queue has room for it and for every promised caller (or a slot
// is free: one is never left idle), and a caller coming back when a turn is due is let in. So
// each caller waits about as long as the others, whether it was turned away or not.
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
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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

// DefaultMaxWait is the default of Config.MaxWait: well under the HTTP server's timeouts.
const DefaultMaxWait = 5 * time.Second

// ShedError is the error of a caller turned away because the queue is too long: it matches
// ports.ErrUnavailable, and RetryAfter, in whole seconds, is when its promised turn comes: when
// the queue, draining at its measured rate, will have room for it (each caller turned away is
// given a later turn than the one before, by one queue turn).
type ShedError struct {
	Waiting    int           // callers in the queue then
	RetryAfter time.Duration // when to come back
}

func (e *ShedError) Error() string {
	return fmt.Sprintf("argon2: %d callers waiting for a hashing slot; retry after %v", e.Waiting, e.RetryAfter.Round(time.Millisecond))
}

// Unwrap makes a ShedError match ports.ErrUnavailable.
func (e *ShedError) Unwrap() error { return ports.ErrUnavailable }

// RetryAfterHint returns RetryAfter; the HTTP adapter sends it as Retry-After.
func (e *ShedError) RetryAfterHint() time.Duration { return e.RetryAfter }

// Config holds the hasher's settings. Zero fields take their defaults.
type Config struct {
	Memory  uint32 // KiB per hash (default 19456, at most MaxMemory)
	Time    uint32 // passes (default 2, at most MaxTime)
	Threads uint8  // lanes (default 1, at most MaxThreads)
	// MaxConcurrent bounds the hashes running at once (default GOMAXPROCS): peak memory is
	// about MaxConcurrent x Memory.
	MaxConcurrent int
	// MaxWait bounds the time a caller is expected to wait for a slot (default 5 s): one whose
	// expected wait (its place in the queue x the measured time of a hash / MaxConcurrent)
	// exceeds it gets a *ShedError (ports.ErrUnavailable) at once.
	MaxWait time.Duration
	// MaxQueue bounds the callers waiting for a slot whatever MaxWait allows (default 128 x
	// MaxConcurrent); one more gets a *ShedError at once.
	MaxQueue int
	// Pepper, when set (at least 16 bytes), is mixed in as HMAC-SHA-256(Pepper, password)
	// before hashing. Off by default. Hashes made with a pepper verify only with that pepper.
	Pepper []byte
}

// Hasher is a ports.PasswordHasher (argon2id). Safe for concurrent use.
type Hasher struct {
	p        params
	pepper   []byte
	slots    int
	maxQueue int
	maxWait  time.Duration
	dummy    phc // verified against for an empty hash, at the configured cost

	mu        sync.Mutex
	running   int       // slots held
	queue     []*waiter // first come, first served; queue[0] is next
	hashTime  time.Duration
	promises  []time.Time   // when the callers turned away may come back, in order
	tail      time.Time     // the last promise before rounding to retry units
	retryUnit time.Duration // RetryAfter is a whole number of these (time.Second)
	waiting   atomic.Int64

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
		cfg.MaxQueue = 128 * cfg.MaxConcurrent
	}
	if cfg.MaxWait == 0 {
		cfg.MaxWait = DefaultMaxWait
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
	if cfg.MaxWait < 0 {
		problems = append(problems, "MaxWait must not be negative")
	}
	if len(cfg.Pepper) > 0 && len(cfg.Pepper) < 16 {
		problems = append(problems, "Pepper must be at least 16 bytes")
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrConfig, strings.Join(problems, "; "))
	}
	h := &Hasher{p: p, pepper: append([]byte(nil), cfg.Pepper...),
		slots: cfg.MaxConcurrent, maxQueue: cfg.MaxQueue, maxWait: cfg.MaxWait, retryUnit: time.Second}
	var pw [32]byte
	_, _ = rand.Read(pw[:])
	start := time.Now()
	h.dummy = h.derive(string(pw[:]), p, newSalt())
	h.hashTime = time.Since(start) // the first measure of a hash's time
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

// waiter is a caller in the queue; ready is closed when it is handed a slot.
type waiter struct{ ready chan struct{} }

// acquire waits for a hashing slot, first come first served. It fails with a *ShedError when
// the expected wait exceeds MaxWait or the queue is full, and with ports.ErrUnavailable when
// ctx ends first. The caller calls release(start) with the time it started hashing.
func (h *Hasher) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("argon2: wait for a hashing slot: %w (%w)", ports.ErrUnavailable, err)
	}
	h.mu.Lock()
	now := time.Now()
	claimed := h.claim(now)
	if h.running < h.slots && len(h.queue) == 0 { // a free slot is never left idle
		h.running++
		h.mu.Unlock()
		return nil
	}
	n := len(h.queue) + len(h.promises) + 1 // callers promised a turn count as queued
	if len(h.queue) >= h.maxQueue || !claimed && h.expectedWait(n) > h.maxWait {
		err := h.shed(now, n)
		h.mu.Unlock()
		return err
	}
	w := &waiter{ready: make(chan struct{})}
	h.queue = append(h.queue, w)
	h.waiting.Add(1)
	h.mu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if i := indexOf(h.queue, w); i >= 0 {
		h.queue = append(h.queue[:i], h.queue[i+1:]...)
		h.waiting.Add(-1)
		return fmt.Errorf("argon2: wait for a hashing slot: %w (%w)", ports.ErrUnavailable, ctx.Err())
	}
	// Handed a slot as ctx ended: pass it on.
	h.handOver()
	return fmt.Errorf("argon2: wait for a hashing slot: %w (%w)", ports.ErrUnavailable, ctx.Err())
}

// expectedWait is the wait of the caller at place n of the queue (1: next): the hashes ahead
// of it, MaxConcurrent at a time, at the measured time of a hash. h.mu is held.
func (h *Hasher) expectedWait(n int) time.Duration {
	turns := (n + h.slots - 1) / h.slots
	return time.Duration(turns) * h.hashTime
}

// claim drops the promises of callers who did not come back within a retry unit of their
// time, and takes the first promise that is due, if any, for the caller arriving at now: it is
// let in whatever the queue's length (the queue was kept free for it). h.mu is held.
func (h *Hasher) claim(now time.Time) bool {
	for len(h.promises) > 0 && h.promises[0].Add(h.retryUnit).Before(now) {
		h.promises = h.promises[1:]
	}
	if len(h.promises) > 0 && !h.promises[0].After(now) {
		h.promises = h.promises[1:]
		return true
	}
	return false
}

// shed turns away the caller arriving at now who would be at place n of the queue, counting
// the promised turns, and promises it a turn: when the queue and the callers promised before it
// will have drained to MaxWait, at least one queue turn after the last promise, rounded up to
// whole retry units (Retry-After counts whole seconds), so that those turned away come back in
// the order they were turned away, at the rate the queue drains. Until then, callers that come
// without a promise are let in only if the queue has room for them and every promised caller.
// h.mu is held.
func (h *Hasher) shed(now time.Time, n int) error {
	turn := h.hashTime / time.Duration(h.slots)
	at := now.Add(max(h.expectedWait(n)-h.maxWait, 0))
	if len(h.promises) > 0 && h.tail.Add(turn).After(at) {
		at = h.tail.Add(turn) // one turn after the last promise, before rounding
	}
	h.tail = at
	after := max(1, (at.Sub(now)+h.retryUnit-1)/h.retryUnit) * h.retryUnit
	due := now.Add(after)
	i, _ := slices.BinarySearchFunc(h.promises, due, time.Time.Compare)
	h.promises = slices.Insert(h.promises, i, due)
	return &ShedError{Waiting: len(h.queue), RetryAfter: after}
}

// handOver gives the slot of a caller that is done to the next in the queue, or frees it.
// h.mu is held.
func (h *Hasher) handOver() {
	if len(h.queue) == 0 {
		h.running--
		return
	}
	w := h.queue[0]
	h.queue[0] = nil
	h.queue = h.queue[1:]
	h.waiting.Add(-1)
	close(w.ready)
}

// release frees the slot of a hash that started at start, and folds its time into the
// measured time of a hash: a moving average over about the last 32 hashes, each counted as at
// most 4 times the average, so that one hash stalled by the scheduler does not turn callers
// away.
func (h *Hasher) release(start time.Time) {
	d := time.Since(start)
	h.mu.Lock()
	h.hashTime += (min(d, 4*h.hashTime) - h.hashTime) / 32
	h.handOver()
	h.mu.Unlock()
}

func indexOf(q []*waiter, w *waiter) int {
	for i, x := range q {
		if x == w {
			return i
		}
	}
	return -1
}

// Hash returns the PHC string of password under a fresh 16-byte salt.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release(time.Now())
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
	defer h.release(time.Now())
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
