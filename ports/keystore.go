package ports

import (
	"context"
	"time"

	"github.com/keygate/keygate/core/key"
)

// KeyStore persists the signing-key ring shared by every auth replica. Keys are stored with
// their private half sealed (key.Key.Sealed); Private is never persisted. Safe for concurrent
// use.
type KeyStore interface {
	// Keys returns every stored key (Private nil), in any order.
	Keys(ctx context.Context) ([]key.Key, error)
	// Insert stores k. A key with the same Seq or ID already stored returns ErrConflict and
	// changes nothing: of two replicas racing to fill a slot exactly one wins.
	Insert(ctx context.Context, k key.Key) error
	// Retire sets the RetiredAt of key kid to at if it is zero or later; ErrNotFound if no
	// such key.
	Retire(ctx context.Context, kid string, at time.Time) error
}
