package ports

import (
	"context"

	"github.com/keygate/keygate/core/onetime"
)

// OneTimeTokenStore keeps the single-use tokens of account e-mails (password reset, address
// verification) until they are used or expire. It stores only what onetime.Token holds (the
// secret's hash, never the secret). Safe for concurrent use.
type OneTimeTokenStore interface {
	// Put stores t, found again by (t.Purpose, t.Hash) until t.ExpiresAt. ErrConflict if a
	// token with that purpose and hash is stored already (nothing changes). A past expiry is
	// accepted and the token is never found.
	Put(ctx context.Context, t onetime.Token) error
	// Take finds the token with this purpose and hash, removes it and returns it, atomically:
	// of any number of concurrent Takes of one token exactly one returns it, and every other
	// Take, now or later, returns ErrNotFound, as does a token never stored, of another
	// purpose, or past its expiry.
	Take(ctx context.Context, p onetime.Purpose, hash string) (onetime.Token, error)
}
