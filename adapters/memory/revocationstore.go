package memory

import (
	"context"
	"fmt"
	"sync"

	"github.com/keygate/keygate/core/revocation"
	"github.com/keygate/keygate/ports"
)

// DefaultReplayLog is how many of the latest revocations a RevocationStore keeps for Since.
const DefaultReplayLog = 100_000

// RevocationStore is a ports.RevocationStore in memory. Entries are dropped at their expiry by
// its clock. The replay log keeps the latest DefaultReplayLog revocations (see KeepLog). Safe
// for concurrent use.
type RevocationStore struct {
	clock   ports.Clock
	mu      sync.Mutex
	seq     uint64
	entries map[entryKey]revocation.Entry
	log     []revocation.Event // the latest revocations, oldest first, seqs contiguous
	keep    int
	bus     *EventBus
}

type entryKey struct {
	kind revocation.Kind
	key  string
}

var _ ports.RevocationStore = (*RevocationStore)(nil)

// NewRevocationStore returns an empty store that reads the time from clock (nil: the real
// clock) and publishes each revocation on bus (nil: nowhere), as the Redis store publishes on
// the bus of its prefix.
func NewRevocationStore(clock ports.Clock, bus *EventBus) *RevocationStore {
	return &RevocationStore{clock: orReal(clock), entries: make(map[entryKey]revocation.Entry), keep: DefaultReplayLog, bus: bus}
}

// KeepLog sets how many of the latest revocations the replay log keeps (at least 1), for tests
// of a trimmed log.
func (s *RevocationStore) KeepLog(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keep = max(n, 1)
	s.trim()
}

func (s *RevocationStore) trim() {
	if over := len(s.log) - s.keep; over > 0 {
		s.log = append(s.log[:0:0], s.log[over:]...)
	}
}

// Revoke stores e merged with any entry for the same kind and key, logs it, publishes it on
// the store's bus (a bus that is down drops it), and returns its sequence number.
func (s *RevocationStore) Revoke(ctx context.Context, e revocation.Entry) (uint64, error) {
	if err := e.Validate(); err != nil {
		return 0, fmt.Errorf("memory: revoke: %w", err)
	}
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	ev := revocation.Event{Kind: revocation.EventRevoked, Entry: e, Seq: s.seq, PublishedAt: now}
	s.log = append(s.log, ev)
	if s.bus != nil {
		// Under s.mu, so that events leave in sequence order; Publish never blocks.
		_ = s.bus.Publish(context.WithoutCancel(ctx), ev)
	}
	if len(s.log) >= 2*s.keep {
		s.trim() // amortised: the log never holds more than twice what it keeps
	}
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

// Since returns the revocations after seq, in order, at most limit (default 10,000), or
// ErrNotFound when the log no longer holds seq+1.
func (s *RevocationStore) Since(ctx context.Context, seq uint64, limit int) ([]revocation.Event, error) {
	if limit <= 0 {
		limit = 10_000
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if seq == s.seq {
		return nil, nil
	}
	if seq > s.seq || len(s.log) == 0 || s.log[0].Seq > seq+1 || s.seq-seq > uint64(s.keep) {
		return nil, fmt.Errorf("memory: revocations since %d: %w", seq, ports.ErrNotFound)
	}
	i := int(seq + 1 - s.log[0].Seq)
	out := s.log[i:min(i+limit, len(s.log))]
	return append([]revocation.Event(nil), out...), nil
}
