package mysql

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/keygate/keygate/core/key"
	"github.com/keygate/keygate/ports"
)

// KeyStore is ports.KeyStore on the signing_keys table. Seq is the primary key and kid is
// UNIQUE, so of two replicas inserting a key for one slot the database lets exactly one in.
type KeyStore struct {
	db *sql.DB
	st *stmts
}

var _ ports.KeyStore = (*KeyStore)(nil)

// NewKeyStore returns a KeyStore on db (opened by Open, migrated by Migrate).
func NewKeyStore(db *sql.DB) *KeyStore { return &KeyStore{db: db, st: newStmts(db)} }

// errNotSealed: Insert refuses a key whose private half is known but not sealed, since only
// the sealed form is stored.
var errNotSealed = errors.New("private key is not sealed")

// Keys implements ports.KeyStore, ordered by slot.
func (s *KeyStore) Keys(ctx context.Context) ([]key.Key, error) {
	rows, err := s.st.query(ctx, `SELECT seq, kid, public_key, sealed_private, created_at, activates_at,
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
			created, activates, retired sql.NullTime
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
		return fmt.Errorf("mysql: insert key %s: %w", k.ID, errNotSealed)
	}
	_, err := s.st.exec(ctx, `INSERT INTO signing_keys (seq, kid, public_key, sealed_private, created_at,
		activates_at, retired_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		k.Seq, []byte(k.ID), nonNil(k.Public), nonNil(k.Sealed),
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
	res, err := s.st.exec(ctx, `UPDATE signing_keys SET retired_at = ?
		WHERE kid = ? AND (retired_at IS NULL OR retired_at > ?)`, timeArg(at), []byte(kid), timeArg(at))
	if err != nil {
		return wrap("retire key", err)
	}
	if n, err := res.RowsAffected(); err == nil && n > 0 {
		return nil
	}
	var one int
	err = s.st.queryRow(ctx, `SELECT 1 FROM signing_keys WHERE kid = ?`, []byte(kid)).Scan(&one)
	return wrap("retire key", err)
}
