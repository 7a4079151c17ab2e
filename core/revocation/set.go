package revocation

import (
	"sync"
	"time"
)

// Set is a verifier's in-process revocation set: lookups are local map reads, no I/O.
// It is safe for concurrent use. The zero value is not usable; call NewSet.
//
// It is compact: a token or session key in the auth service's format (32 lowercase hex
// digits, 16 random bytes) is held as its 16 bytes, and every expiry as Unix nanoseconds, so
// 1,000,000 entries hold about 56 bytes each (map slack included) where a map of strings and
// Entry values holds about 280 (see BenchmarkSetMemory). Other keys, and subjects, are kept as strings. Expiries are
// exact to the nanosecond within the years 1678-2262 and clamped outside them.
type Set struct {
	mu       sync.RWMutex
	tokens   table            // jti -> expiry
	sessions table            // sid -> expiry
	subjects map[string]Entry // sub -> entry (not-before, expiry)
}

// NewSet returns an empty set.
func NewSet() *Set {
	return &Set{tokens: newTable(0), sessions: newTable(0), subjects: make(map[string]Entry)}
}

// id is a key of the auth service's format, decoded.
type id [16]byte

// table maps keys to expiries (Unix nanoseconds), compactly for keys that decode to an id.
type table struct {
	ids  map[id]int64
	strs map[string]int64
}

func newTable(n int) table {
	return table{ids: make(map[id]int64, n), strs: make(map[string]int64)}
}

// parseID decodes k if it is exactly 32 lowercase hex digits: the encoding is one-to-one, so
// Entries gives back the key it was given.
func parseID(k string) (id, bool) {
	var out id
	if len(k) != 2*len(out) {
		return out, false
	}
	for i := range out {
		hi, ok1 := unhex(k[2*i])
		lo, ok2 := unhex(k[2*i+1])
		if !ok1 || !ok2 {
			return out, false
		}
		out[i] = hi<<4 | lo
	}
	return out, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

const hexDigits = "0123456789abcdef"

func (i id) String() string {
	var b [32]byte
	for j, v := range i {
		b[2*j], b[2*j+1] = hexDigits[v>>4], hexDigits[v&0xf]
	}
	return string(b[:])
}

func (t table) get(k string) (int64, bool) {
	if i, ok := parseID(k); ok {
		exp, ok := t.ids[i]
		return exp, ok
	}
	exp, ok := t.strs[k]
	return exp, ok
}

// put stores k until exp unless it is already stored until later.
func (t table) put(k string, exp int64) {
	if i, ok := parseID(k); ok {
		if old, ok := t.ids[i]; !ok || exp > old {
			t.ids[i] = exp
		}
		return
	}
	if old, ok := t.strs[k]; !ok || exp > old {
		t.strs[k] = exp
	}
}

// dropIf deletes k if it expired at or before now.
func (t table) dropIf(k string, now int64) bool {
	if i, ok := parseID(k); ok {
		if exp, ok := t.ids[i]; ok && exp <= now {
			delete(t.ids, i)
			return true
		}
		return false
	}
	if exp, ok := t.strs[k]; ok && exp <= now {
		delete(t.strs, k)
		return true
	}
	return false
}

func (t table) len() int { return len(t.ids) + len(t.strs) }

// each calls fn with every key and expiry.
func (t table) each(fn func(k string, exp int64)) {
	for i, exp := range t.ids {
		fn(i.String(), exp)
	}
	for k, exp := range t.strs {
		fn(k, exp)
	}
}

// unixNanos is t in Unix nanoseconds, clamped to what an int64 holds.
func unixNanos(t time.Time) int64 {
	const minT, maxT = -1 << 63, 1<<63 - 1
	switch {
	case t.Before(time.Unix(0, minT)):
		return minT
	case t.After(time.Unix(0, maxT)):
		return maxT
	}
	return t.UnixNano()
}

// Revoked reports whether a token with these claims is revoked at now: its jti or sid is
// listed, or its subject has a not-before later than the token's iat. Expired entries do
// not count, even before Prune removes them.
func (s *Set) Revoked(jti, sid, sub string, iat, now time.Time) bool {
	n := unixNanos(now)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if exp, ok := s.tokens.get(jti); ok && n < exp {
		return true
	}
	if sid != "" {
		if exp, ok := s.sessions.get(sid); ok && n < exp {
			return true
		}
	}
	if e, ok := s.subjects[sub]; ok && now.Before(e.ExpiresAt) && iat.Before(e.NotBefore) {
		return true
	}
	return false
}

// Apply adds e, merging with an existing entry for the same key; applying twice, or out of
// order, gives the same set. Invalid entries are ignored and reported false.
func (s *Set) Apply(e Entry) bool {
	if e.Validate() != nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apply(e)
	return true
}

func (s *Set) apply(e Entry) {
	switch e.Kind {
	case KindToken:
		s.tokens.put(e.Key, unixNanos(e.ExpiresAt))
	case KindSession:
		s.sessions.put(e.Key, unixNanos(e.ExpiresAt))
	case KindSubject:
		if old, ok := s.subjects[e.Key]; ok {
			e = Merge(old, e)
		}
		s.subjects[e.Key] = e
	}
}

// Replace makes the set exactly the valid entries of entries that are still active at now.
func (s *Set) Replace(entries []Entry, now time.Time) {
	var nt, ns int
	for _, e := range entries {
		switch e.Kind {
		case KindToken:
			nt++
		case KindSession:
			ns++
		}
	}
	n := &Set{tokens: newTable(nt), sessions: newTable(ns), subjects: make(map[string]Entry)}
	for _, e := range entries {
		if e.Validate() == nil && now.Before(e.ExpiresAt) {
			n.apply(e)
		}
	}
	s.mu.Lock()
	s.tokens, s.sessions, s.subjects = n.tokens, n.sessions, n.subjects
	s.mu.Unlock()
}

// Prune drops entries that expired at or before now and returns how many it dropped. It finds
// them under the read lock and deletes them in small batches under the write lock, so a large
// set never stalls lookups for a whole scan.
func (s *Set) Prune(now time.Time) int {
	type victim struct {
		kind Kind
		key  string
	}
	n := unixNanos(now)
	var victims []victim
	s.mu.RLock()
	s.tokens.each(func(k string, exp int64) {
		if exp <= n {
			victims = append(victims, victim{KindToken, k})
		}
	})
	s.sessions.each(func(k string, exp int64) {
		if exp <= n {
			victims = append(victims, victim{KindSession, k})
		}
	})
	for k, e := range s.subjects {
		if !now.Before(e.ExpiresAt) {
			victims = append(victims, victim{KindSubject, k})
		}
	}
	s.mu.RUnlock()

	const batch = 1024
	dropped := 0
	for len(victims) > 0 {
		b := victims[:min(batch, len(victims))]
		victims = victims[len(b):]
		s.mu.Lock()
		for _, v := range b {
			// Re-check: an Apply since the scan may have extended the entry.
			switch v.kind {
			case KindToken:
				if s.tokens.dropIf(v.key, n) {
					dropped++
				}
			case KindSession:
				if s.sessions.dropIf(v.key, n) {
					dropped++
				}
			case KindSubject:
				if e, ok := s.subjects[v.key]; ok && !now.Before(e.ExpiresAt) {
					delete(s.subjects, v.key)
					dropped++
				}
			}
		}
		s.mu.Unlock()
	}
	return dropped
}

// Len returns the number of entries.
func (s *Set) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.tokens.len() + s.sessions.len() + len(s.subjects)
}

// Entries returns a copy of every entry active at now, for comparing a verifier's set with
// its store's.
func (s *Set) Entries(now time.Time) []Entry {
	n := unixNanos(now)
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Entry, 0, s.tokens.len()+s.sessions.len()+len(s.subjects))
	for _, t := range []struct {
		kind Kind
		tab  table
	}{{KindToken, s.tokens}, {KindSession, s.sessions}} {
		t.tab.each(func(k string, exp int64) {
			if n < exp {
				out = append(out, Entry{Kind: t.kind, Key: k, ExpiresAt: time.Unix(0, exp).UTC()})
			}
		})
	}
	for _, e := range s.subjects {
		if now.Before(e.ExpiresAt) {
			out = append(out, e)
		}
	}
	return out
}
