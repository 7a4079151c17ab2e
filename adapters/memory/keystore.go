package memory

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/keygate/keygate/core/key"
	"github.com/keygate/keygate/ports"
)

// KeyStore is a ports.KeyStore in memory. It keeps keys sealed, never their private half.
// Safe for concurrent use.
type KeyStore struct {
	mu   sync.Mutex
	keys []key.Key
}

var _ ports.KeyStore = (*KeyStore)(nil)

// NewKeyStore returns an empty store.
func NewKeyStore() *KeyStore { return &KeyStore{} }

func copyKey(k key.Key) key.Key {
	k.Private = nil
	k.Public = slices.Clone(k.Public)
	k.Sealed = slices.Clone(k.Sealed)
	return k
}

// Keys returns every stored key, without its private half.
func (s *KeyStore) Keys(ctx context.Context) ([]key.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]key.Key, 0, len(s.keys))
	for _, k := range s.keys {
		out = append(out, copyKey(k))
	}
	return out, nil
}

// Insert stores k without its private half; ErrConflict if its slot or id is taken.
func (s *KeyStore) Insert(ctx context.Context, k key.Key) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.keys {
		if o.Seq == k.Seq || o.ID == k.ID {
			return fmt.Errorf("memory: insert key %d: %w", k.Seq, ports.ErrConflict)
		}
	}
	s.keys = append(s.keys, copyKey(k))
	return nil
}

// Retire sets the RetiredAt of key kid to at if it is zero or later; ErrNotFound if no such
// key.
func (s *KeyStore) Retire(ctx context.Context, kid string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, k := range s.keys {
		if k.ID == kid {
			if k.RetiredAt.IsZero() || at.Before(k.RetiredAt) {
				s.keys[i].RetiredAt = at
			}
			return nil
		}
	}
	return fmt.Errorf("memory: retire key: %w", ports.ErrNotFound)
}
