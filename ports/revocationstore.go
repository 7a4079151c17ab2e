package ports

import (
	"context"

	"github.com/keygate/keygate/core/revocation"
)

// RevocationStore holds revocations durably, each until its expiry. Safe for concurrent use.
type RevocationStore interface {
	// Revoke stores e (merged with any entry for the same kind and key: the later expiry and
	// not-before win) and returns the sequence number it was given. Sequence numbers increase
	// by one per call, so a subscriber that sees a gap knows it missed one. An entry already
	// expired is accepted and forgotten. An invalid entry returns revocation.ErrInvalid.
	Revoke(ctx context.Context, e revocation.Entry) (seq uint64, err error)
	// Snapshot returns every entry not yet expired and the sequence number of the last
	// Revoke it includes, read atomically together.
	Snapshot(ctx context.Context) (revocation.Snapshot, error)
	// Seq returns the sequence number of the last Revoke (0 if none).
	Seq(ctx context.Context) (uint64, error)
}
