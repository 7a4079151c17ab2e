package postgres

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/keygate/keygate/core/key"
	"github.com/keygate/keygate/ports"
)

// KeyStore is ports.KeyStore on the signing_keys table. Seq is the primary key and kid is
// UNIQUE, so of two replicas inserting a key for one slot the database lets exactly one in.
type KeyStore struct {
	pool *pgxpool.Pool
}

var _ ports.KeyStore = (*KeyStore)(nil)

// NewKeyStore returns a KeyStore on pool (opened by Open, migrated by Migrate).
func NewKeyStore(pool *pgxpool.Pool) *KeyStore { return &KeyStore{pool: pool} }

// errNotSealed: Insert refuses a key whose private half is known but not sealed, since only
// the sealed form is stored.
var errNotSealed = errors.New("private key is not sealed")

// Keys implements ports.KeyStore, ordered by slot.
func (s *KeyStore) Keys(ctx context.Context) ([]key.Key, error) {
	rows, err := s.pool.Query(ctx, `SELECT seq, kid, public_key, sealed_private, created_at, activates_at,
		retired_at FROM signing_keys ORDER BY seq`)
	if err != nil {
		return nil, wrap("keys", err)
	}
	defer rows.Close()
	var out []key.Key
	for rows.Next() {
		var (
			k                           key.Key
			pub, sealed                 []byte
			created, activates, retired *time.Time
		)
		if err := rows.Scan(&k.Seq, &k.ID, &pub, &sealed, &created, &activates, &retired); err != nil {
			return nil, wrap("keys", err)
		}
		if len(pub) > 0 {
			k.Public = ed25519.PublicKey(pub)
		}
		if len(sealed) > 0 {
			k.Sealed = sealed
		}
		k.CreatedAt, k.ActivatesAt, k.RetiredAt = fromNull(created), fromNull(activates), fromNull(retired)
		out = append(out, k)
	}
	return out, wrap("keys", rows.Err())
}

// Insert implements ports.KeyStore. Only k.Sealed is stored, never k.Private; a key with a
// private half and no sealed form is refused.
func (s *KeyStore) Insert(ctx context.Context, k key.Key) error {
	if len(k.Sealed) == 0 && len(k.Private) > 0 {
		return fmt.Errorf("postgres: insert key %s: %w", k.ID, errNotSealed)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO signing_keys (seq, kid, public_key, sealed_private, created_at,
		activates_at, retired_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		k.Seq, k.ID, nonNil(k.Public), nonNil(k.Sealed),
		timeArg(k.CreatedAt), timeArg(k.ActivatesAt), timeArg(k.RetiredAt))
	return wrap("insert key", err)
}

// nonNil returns b, or an empty slice for nil (a NOT NULL column).
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// Retire implements ports.KeyStore.
func (s *KeyStore) Retire(ctx context.Context, kid string, at time.Time) error {
	if !storable(kid) {
		return fmt.Errorf("postgres: retire key: %w", ports.ErrNotFound)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE signing_keys SET retired_at = $1
		WHERE kid = $2 AND (retired_at IS NULL OR retired_at > $1)`, timeArg(at), kid)
	if err != nil {
		return wrap("retire key", err)
	}
	if tag.RowsAffected() > 0 {
		return nil
	}
	var one int
	err = s.pool.QueryRow(ctx, `SELECT 1 FROM signing_keys WHERE kid = $1`, kid).Scan(&one)
	return wrap("retire key", err)
}
