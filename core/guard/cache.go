package guard

import (
	"crypto/ed25519"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keygate/keygate/core/token"
)

// The cache of verified tokens. A token is admitted only after a full verification succeeded
// (signature included), keyed by its exact text: the strict parser gives a token one spelling,
// so a hit is the very bytes that were verified. It saves the decoding and the signature
// check, nothing else: Authenticate checks the revocation set, exp/nbf/iat, the fail-closed
// state and that the KeySet still publishes the key on every hit, as on a miss.
//
// Replacement is CLOCK (second chance) with new entries admitted unreferenced: a hit sets an
// entry's bit, the hand clears bits as it passes and evicts the first entry it finds clear
// (or expired). A client flooding the cache with fresh valid tokens, each costing it a token
// from the issuer and us one Ed25519 verification, evicts the entries nobody used since the
// hand last passed, its own first; an entry hit at least once per revolution of the hand
// stays. Entries are bounded by count and by an estimate of their memory (twice the token's
// length, for the text and the claims decoded from it, plus a fixed overhead).

// Defaults of the cache bounds in Config.
const (
	DefaultCacheEntries = 16384
	DefaultCacheBytes   = 16 << 20
)

// entryOverhead is the memory of one entry besides its token text and claim strings: the
// entry, its claims' headers, the map entry and the slot.
const entryOverhead = 320

// cached is a verified token: immutable once admitted.
type cached struct {
	claims token.Claims
	seen   int
	kid    string
	pub    ed25519.PublicKey // the key that verified it
	size   int
}

type slot struct {
	key string
	e   *cached
	ref atomic.Bool
}

type shard struct {
	mu       sync.RWMutex
	index    map[string]int32
	slots    []slot
	free     []int32
	hand     int
	bytes    int
	maxSlots int
	maxBytes int
}

type cache struct {
	seed   maphash.Seed
	shards []shard
}

// newCache returns a cache of at most entries entries and about maxBytes bytes, or nil when
// either is negative (disabled).
func newCache(entries, maxBytes int) *cache {
	if entries <= 0 || maxBytes <= 0 {
		return nil
	}
	n := max(min(entries/1024, maxBytes/(1<<20), 16), 1) // shards of at least 1024 entries and 1 MiB
	c := &cache{seed: maphash.MakeSeed(), shards: make([]shard, n)}
	for i := range c.shards {
		c.shards[i] = shard{index: map[string]int32{}, maxSlots: max(entries/n, 1), maxBytes: max(maxBytes/n, 1)}
	}
	return c
}

func (c *cache) shard(key string) *shard {
	if len(c.shards) == 1 {
		return &c.shards[0]
	}
	return &c.shards[maphash.String(c.seed, key)%uint64(len(c.shards))]
}

// get returns the entry for key, marking it referenced, or nil.
func (c *cache) get(key string) *cached {
	s := c.shard(key)
	s.mu.RLock()
	i, ok := s.index[key]
	var e *cached
	if ok {
		sl := &s.slots[i]
		e = sl.e
		if !sl.ref.Load() {
			sl.ref.Store(true)
		}
	}
	s.mu.RUnlock()
	return e
}

// remove drops key's entry if it is still e.
func (c *cache) remove(key string, e *cached) {
	s := c.shard(key)
	s.mu.Lock()
	if i, ok := s.index[key]; ok && s.slots[i].e == e {
		s.drop(i)
	}
	s.mu.Unlock()
}

// add admits a verified token. The entry is not marked referenced: only a later hit protects
// it from eviction.
func (c *cache) add(key string, e *cached, now time.Time) {
	e.size = 2*len(key) + entryOverhead
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.index[key]; ok || e.size > s.maxBytes {
		return
	}
	for len(s.index) >= s.maxSlots || s.bytes+e.size > s.maxBytes {
		if !s.evict(now) {
			return
		}
	}
	var i int32
	if n := len(s.free); n > 0 {
		i = s.free[n-1]
		s.free = s.free[:n-1]
	} else {
		s.slots = append(s.slots, slot{})
		i = int32(len(s.slots) - 1)
	}
	sl := &s.slots[i]
	sl.key, sl.e = key, e
	sl.ref.Store(false)
	s.index[key] = i
	s.bytes += e.size
}

// evict drops one entry: the first expired or unreferenced one the hand finds, clearing the
// bits it passes. Two turns always find one.
func (s *shard) evict(now time.Time) bool {
	n := len(s.slots)
	for range 2*n + 1 {
		if n == 0 {
			return false
		}
		i := s.hand
		s.hand = (s.hand + 1) % n
		sl := &s.slots[i]
		if sl.e == nil {
			continue
		}
		if sl.ref.Load() && now.Before(sl.e.claims.ExpiresAt) {
			sl.ref.Store(false)
			continue
		}
		s.drop(int32(i))
		return true
	}
	return false
}

func (s *shard) drop(i int32) {
	sl := &s.slots[i]
	delete(s.index, sl.key)
	s.bytes -= sl.e.size
	sl.key, sl.e = "", nil
	sl.ref.Store(false)
	s.free = append(s.free, i)
}

// stats returns the number of entries and their estimated bytes, for tests.
func (c *cache) stats() (entries, bytes int) {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		entries += len(s.index)
		bytes += s.bytes
		s.mu.RUnlock()
	}
	return entries, bytes
}
