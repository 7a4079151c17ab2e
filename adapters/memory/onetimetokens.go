package memory

import (
	"context"
	"fmt"
	"sync"

	"github.com/keygate/keygate/core/onetime"
	"github.com/keygate/keygate/ports"
)

// OneTimeTokenStore is a ports.OneTimeTokenStore in memory. A token reads as missing from its
// expiry (by its clock); expired tokens are dropped when they are looked up and by a sweep
// every 1,000 Puts. Safe for concurrent use.
type OneTimeTokenStore struct {
	clock  ports.Clock
	mu     sync.Mutex
	tokens map[ottKey]onetime.Token
	puts   int
}

type ottKey struct {
	purpose onetime.Purpose
	hash    string
}

var _ ports.OneTimeTokenStore = (*OneTimeTokenStore)(nil)

// NewOneTimeTokenStore returns an empty store that reads the time from clock (nil: the real
// clock).
func NewOneTimeTokenStore(clock ports.Clock) *OneTimeTokenStore {
	return &OneTimeTokenStore{clock: orReal(clock), tokens: make(map[ottKey]onetime.Token)}
}

// Put implements ports.OneTimeTokenStore.
func (s *OneTimeTokenStore) Put(ctx context.Context, t onetime.Token) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	k := ottKey{t.Purpose, t.Hash}
	if old, ok := s.tokens[k]; ok && now.Before(old.ExpiresAt) {
		return fmt.Errorf("memory: put one-time token: %w", ports.ErrConflict)
	}
	if !now.Before(t.ExpiresAt) {
		delete(s.tokens, k)
		return nil
	}
	s.tokens[k] = t
	if s.puts++; s.puts >= 1000 {
		s.puts = 0
		for k, t := range s.tokens {
			if !now.Before(t.ExpiresAt) {
				delete(s.tokens, k)
			}
		}
	}
	return nil
}

// Take implements ports.OneTimeTokenStore.
func (s *OneTimeTokenStore) Take(ctx context.Context, p onetime.Purpose, hash string) (onetime.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := ottKey{p, hash}
	t, ok := s.tokens[k]
	if !ok {
		return onetime.Token{}, fmt.Errorf("memory: take one-time token: %w", ports.ErrNotFound)
	}
	delete(s.tokens, k)
	if !s.clock.Now().Before(t.ExpiresAt) {
		return onetime.Token{}, fmt.Errorf("memory: take one-time token: expired: %w", ports.ErrNotFound)
	}
	return t, nil
}
