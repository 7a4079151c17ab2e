package keyring

import (
	"context"
	"crypto/ed25519"
	"sync/atomic"
	"testing"

	"github.com/keygate/keygate/adapters/jose"
	"github.com/keygate/keygate/adapters/memory"
	"github.com/keygate/keygate/core/key"
	"github.com/keygate/keygate/ports"
	"github.com/keygate/keygate/ports/portstest"
)

// The ring passes the ports.KeySet contract: the issuer it follows is another replica's ring
// on the same KeyStore (Publish rotates, Withdraw withdraws), and Break takes the KeyStore
// down for the ring under test.
func TestKeySetContract(t *testing.T) {
	portstest.RunKeySet(t, func(t *testing.T) portstest.KeySetIssuer {
		clock := memory.NewFakeClock(t0)
		store := &breakableKeyStore{KeyStore: memory.NewKeyStore()}
		bus, audit := memory.NewEventBus(memory.EventBusConfig{}), memory.NewAuditLog()
		deps := func(ks ports.KeyStore) Deps {
			return Deps{Keys: ks, Issuer: jose.NewTokenIssuer(), Bus: bus, Audit: audit, Clock: clock}
		}
		issuer, err := New(deps(store.KeyStore), Config{KEK: testKEK})
		if err != nil {
			t.Fatal(err)
		}
		ring, err := New(deps(store), Config{KEK: testKEK})
		if err != nil {
			t.Fatal(err)
		}
		return portstest.KeySetIssuer{
			KeySet: ring,
			Publish: func(t *testing.T) (string, ed25519.PublicKey) {
				k, err := issuer.Rotate(t.Context())
				if err != nil {
					t.Fatalf("Rotate: %v", err)
				}
				return k.ID, k.Public
			},
			Withdraw: func(t *testing.T, kid string) {
				if err := issuer.Withdraw(t.Context(), kid); err != nil {
					t.Fatalf("Withdraw: %v", err)
				}
			},
			Break:  func(*testing.T) { store.broken.Store(true) },
			Settle: func(*testing.T) { clock.Advance(kidReloadEvery) },
		}
	})
}

// breakableKeyStore answers ports.ErrUnavailable once broken.
type breakableKeyStore struct {
	ports.KeyStore
	broken atomic.Bool
}

func (s *breakableKeyStore) Keys(ctx context.Context) ([]key.Key, error) {
	if s.broken.Load() {
		return portstest.UnavailableKeyStore{}.Keys(ctx)
	}
	return s.KeyStore.Keys(ctx)
}
