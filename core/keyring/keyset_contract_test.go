package keyring_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate/adapters/jose"
	"github.com/keygate/keygate/adapters/memory"
	"github.com/keygate/keygate/core/key"
	"github.com/keygate/keygate/core/keyring"
	"github.com/keygate/keygate/ports"
	"github.com/keygate/keygate/ports/portstest"
)

// TestRingKeySetContract runs the KeySet contract on a Ring that follows another replica (the
// issuer) through their shared KeyStore.
func TestRingKeySetContract(t *testing.T) {
	portstest.RunKeySet(t, func(t *testing.T) portstest.KeySetIssuer {
		clock := memory.NewFakeClock(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
		store := &breakableKeyStore{KeyStore: memory.NewKeyStore()}
		deps := keyring.Deps{Keys: store, Issuer: jose.NewTokenIssuer(), Bus: memory.NewEventBus(memory.EventBusConfig{}),
			Audit: memory.NewAuditLog(), Clock: clock}
		newRing := func() *keyring.Ring {
			r, err := keyring.New(deps, keyring.Config{KEK: []byte("kek-kek-kek-kek-kek-kek-kek-kek!")})
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		verifier, issuer := newRing(), newRing()
		return portstest.KeySetIssuer{
			KeySet: verifier,
			Publish: func(t *testing.T) (string, ed25519.PublicKey) {
				k, err := issuer.Rotate(t.Context())
				if err != nil {
					t.Fatalf("issuer: Rotate: %v", err)
				}
				return k.ID, k.Public
			},
			Withdraw: func(t *testing.T, kid string) {
				if err := issuer.Withdraw(t.Context(), kid); err != nil {
					t.Fatalf("issuer: Withdraw: %v", err)
				}
			},
			Break:  func(t *testing.T) { store.broken.Store(true) },
			Repair: func(t *testing.T) { store.broken.Store(false) },
			Settle: func(t *testing.T) { clock.Advance(2 * time.Second) }, // past the unknown-kid reload limit
		}
	})
}

// breakableKeyStore is a KeyStore whose database can go down.
type breakableKeyStore struct {
	ports.KeyStore
	broken atomic.Bool
}

func (s *breakableKeyStore) down() error {
	if s.broken.Load() {
		return fmt.Errorf("keystore: down: %w", ports.ErrUnavailable)
	}
	return nil
}

func (s *breakableKeyStore) Keys(ctx context.Context) ([]key.Key, error) {
	if err := s.down(); err != nil {
		return nil, err
	}
	return s.KeyStore.Keys(ctx)
}

func (s *breakableKeyStore) Insert(ctx context.Context, k key.Key) error {
	if err := s.down(); err != nil {
		return err
	}
	return s.KeyStore.Insert(ctx, k)
}

func (s *breakableKeyStore) Retire(ctx context.Context, kid string, at time.Time) error {
	if err := s.down(); err != nil {
		return err
	}
	return s.KeyStore.Retire(ctx, kid, at)
}
