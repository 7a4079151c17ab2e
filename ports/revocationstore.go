package ports

import (
	"context"

	"github.com/keygate/keygate/core/revocation"
)

// RevocationStore holds revocations durably, each until its expiry, and a bounded replay log
// of the latest revocations. Safe for concurrent use.
type RevocationStore interface {
	// Revoke stores e (merged with any entry for the same kind and key: the later expiry and
	// not-before win), appends it to the replay log, publishes it as an EventRevoked with
	// its sequence number (PublishedAt: when Revoke was called) on the deployment's EventBus,
	// and returns the sequence number, all in one step (for Redis: one round trip). The
	// publish is at-most-once, as the bus is, and its failure does not fail Revoke: the
	// entry is stored, and subscribers recover it from Seq and Since. Sequence numbers increase by one per call, so a
	// subscriber that sees a gap knows it missed one. An entry already expired is accepted
	// and forgotten (it still takes a number and a place in the log). An invalid entry
	// returns revocation.ErrInvalid. How durable a returned Revoke is depends on the
	// deployment (see docs/revocation.md); an adapter configured to wait for a replica or
	// an fsync returns ErrUnavailable when that wait fails, and the caller must not report
	// the revocation as done.
	Revoke(ctx context.Context, e revocation.Entry) (seq uint64, err error)
	// Snapshot returns every entry not yet expired and a sequence number n such that the
	// entries are exactly those of the revocations 1..n. An adapter may read a large store
	// in bounded chunks against a sequence watermark (never in one call that blocks the
	// store); the result is the same, except that such a read may return an entry twice (when
	// the store resized under it): apply entries with revocation.Merge, as Set.Replace does.
	Snapshot(ctx context.Context) (revocation.Snapshot, error)
	// Seq returns the sequence number of the last Revoke (0 if none).
	Seq(ctx context.Context) (uint64, error)
	// Since returns the revocations with sequence numbers after seq, in order, at most limit
	// of them (limit <= 0: an adapter's default), as EventRevoked events carrying their
	// sequence number and the time they were stored; none when seq is the latest. The log
	// keeps the latest revocations only: when it no longer holds seq+1 (trimmed, or seq is
	// ahead of the store), Since returns ErrNotFound and the caller takes a Snapshot.
	Since(ctx context.Context, seq uint64, limit int) ([]revocation.Event, error)
}
