package memory

import (
	"context"
	"fmt"
	"sync"

	"github.com/keygate/keygate/core/revocation"
	"github.com/keygate/keygate/ports"
)

// RevocationStore is a ports.RevocationStore in memory. Entries are dropped at their expiry by
// its clock. Safe for concurrent use.
type RevocationStore struct {
	clock   ports.Clock
	mu      sync.Mutex
	seq     uint64
	entries map[entryKey]revocation.Entry
}

type entryKey struct {
	kind revocation.Kind
	key  string
}

var _ ports.RevocationStore = (*RevocationStore)(nil)

// NewRevocationStore returns an empty store that reads the time from clock (nil: the real
// clock).
func NewRevocationStore(clock ports.Clock) *RevocationStore {
	return &RevocationStore{clock: orReal(clock), entries: make(map[entryKey]revocation.Entry)}
}

// Revoke stores e merged with any entry for the same kind and key, and returns its sequence
// number.
func (s *RevocationStore) Revoke(ctx context.Context, e revocation.Entry) (uint64, error) {
	if err := e.Validate(); err != nil {
		return 0, fmt.Errorf("memory: revoke: %w", err)
	}
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	if !now.Before(e.ExpiresAt) {
		return s.seq, nil // already expired: accepted and forgotten
	}
	k := entryKey{e.Kind, e.Key}
	if old, ok := s.entries[k]; ok && now.Before(old.ExpiresAt) {
		e = revocation.Merge(old, e)
	}
	s.entries[k] = e
	return s.seq, nil
}

// Snapshot returns every entry not yet expired and the sequence number of the last Revoke.
func (s *RevocationStore) Snapshot(ctx context.Context) (revocation.Snapshot, error) {
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := revocation.Snapshot{Seq: s.seq, Entries: make([]revocation.Entry, 0, len(s.entries))}
	for k, e := range s.entries {
		if !now.Before(e.ExpiresAt) {
			delete(s.entries, k)
			continue
		}
		out.Entries = append(out.Entries, e)
	}
	return out, nil
}

// Seq returns the sequence number of the last Revoke (0 if none).
func (s *RevocationStore) Seq(ctx context.Context) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seq, nil
}
