package revocation

import (
	"sync"
	"time"
)

// Set is a verifier's in-process revocation set: lookups are local map reads, no I/O.
// It is safe for concurrent use. The zero value is not usable; call NewSet.
type Set struct {
	mu       sync.RWMutex
	tokens   map[string]time.Time // jti -> expiry
	sessions map[string]time.Time // sid -> expiry
	subjects map[string]Entry     // sub -> entry (not-before, expiry)
}

// NewSet returns an empty set.
func NewSet() *Set {
	return &Set{
		tokens:   make(map[string]time.Time),
		sessions: make(map[string]time.Time),
		subjects: make(map[string]Entry),
	}
}

// Revoked reports whether a token with these claims is revoked at now: its jti or sid is
// listed, or its subject has a not-before later than the token's iat. Expired entries do
// not count, even before Prune removes them.
func (s *Set) Revoked(jti, sid, sub string, iat, now time.Time) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if exp, ok := s.tokens[jti]; ok && now.Before(exp) {
		return true
	}
	if sid != "" {
		if exp, ok := s.sessions[sid]; ok && now.Before(exp) {
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
		if old, ok := s.tokens[e.Key]; !ok || e.ExpiresAt.After(old) {
			s.tokens[e.Key] = e.ExpiresAt
		}
	case KindSession:
		if old, ok := s.sessions[e.Key]; !ok || e.ExpiresAt.After(old) {
			s.sessions[e.Key] = e.ExpiresAt
		}
	case KindSubject:
		if old, ok := s.subjects[e.Key]; ok {
			e = Merge(old, e)
		}
		s.subjects[e.Key] = e
	}
}

// Replace makes the set exactly the valid entries of entries that are still active at now.
func (s *Set) Replace(entries []Entry, now time.Time) {
	n := NewSet()
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
	var victims []victim
	s.mu.RLock()
	for k, exp := range s.tokens {
		if !now.Before(exp) {
			victims = append(victims, victim{KindToken, k})
		}
	}
	for k, exp := range s.sessions {
		if !now.Before(exp) {
			victims = append(victims, victim{KindSession, k})
		}
	}
	for k, e := range s.subjects {
		if !now.Before(e.ExpiresAt) {
			victims = append(victims, victim{KindSubject, k})
		}
	}
	s.mu.RUnlock()

	const batch = 1024
	n := 0
	for len(victims) > 0 {
		b := victims[:min(batch, len(victims))]
		victims = victims[len(b):]
		s.mu.Lock()
		for _, v := range b {
			// Re-check: an Apply since the scan may have extended the entry.
			switch v.kind {
			case KindToken:
				if exp, ok := s.tokens[v.key]; ok && !now.Before(exp) {
					delete(s.tokens, v.key)
					n++
				}
			case KindSession:
				if exp, ok := s.sessions[v.key]; ok && !now.Before(exp) {
					delete(s.sessions, v.key)
					n++
				}
			case KindSubject:
				if e, ok := s.subjects[v.key]; ok && !now.Before(e.ExpiresAt) {
					delete(s.subjects, v.key)
					n++
				}
			}
		}
		s.mu.Unlock()
	}
	return n
}

// Len returns the number of entries.
func (s *Set) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.tokens) + len(s.sessions) + len(s.subjects)
}

// Entries returns a copy of every entry active at now, for comparing a verifier's set with
// its store's.
func (s *Set) Entries(now time.Time) []Entry {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Entry, 0, len(s.tokens)+len(s.sessions)+len(s.subjects))
	for k, exp := range s.tokens {
		if now.Before(exp) {
			out = append(out, Entry{Kind: KindToken, Key: k, ExpiresAt: exp})
		}
	}
	for k, exp := range s.sessions {
		if now.Before(exp) {
			out = append(out, Entry{Kind: KindSession, Key: k, ExpiresAt: exp})
		}
	}
	for _, e := range s.subjects {
		if now.Before(e.ExpiresAt) {
			out = append(out, e)
		}
	}
	return out
}
