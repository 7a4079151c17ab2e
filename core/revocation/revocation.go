// Package revocation holds the revocation nouns: entries of three kinds (token, session,
// subject), the events that carry them to verifiers, and Set, the in-process set a verifier
// answers from. It imports only the standard library.
package revocation

import (
	"errors"
	"fmt"
	"time"
)

// Kind is what an Entry revokes.
type Kind string

const (
	// KindToken revokes one access token by its jti (RFC 7009).
	KindToken Kind = "token"
	// KindSession revokes every token of one refresh session by its sid (logout, reuse).
	KindSession Kind = "session"
	// KindSubject revokes every token of a user issued before NotBefore (logout-all,
	// disabled user, admin revoke).
	KindSubject Kind = "subject"
)

// ErrInvalid reports an entry that cannot be stored or applied.
var ErrInvalid = errors.New("revocation: invalid entry")

// Entry is one revocation. It is kept until ExpiresAt, the latest expiry of any access token
// it can affect; after that it is dropped.
type Entry struct {
	Kind      Kind
	Key       string    // the jti, sid or sub
	NotBefore time.Time // KindSubject only: tokens issued before it are revoked
	ExpiresAt time.Time
}

// Validate reports whether e is well formed.
func (e Entry) Validate() error {
	switch e.Kind {
	case KindToken, KindSession:
	case KindSubject:
		if e.NotBefore.IsZero() {
			return fmt.Errorf("%w: subject entry without not-before", ErrInvalid)
		}
	default:
		return fmt.Errorf("%w: kind %q", ErrInvalid, e.Kind)
	}
	if e.Key == "" || len(e.Key) > 256 {
		return fmt.Errorf("%w: key length %d", ErrInvalid, len(e.Key))
	}
	if e.ExpiresAt.IsZero() {
		return fmt.Errorf("%w: no expiry", ErrInvalid)
	}
	return nil
}

// Merge combines two entries for the same (Kind, Key): the later expiry and, for subjects,
// the later not-before win, so applying entries is idempotent and order-independent.
func Merge(a, b Entry) Entry {
	if b.ExpiresAt.After(a.ExpiresAt) {
		a.ExpiresAt = b.ExpiresAt
	}
	if b.NotBefore.After(a.NotBefore) {
		a.NotBefore = b.NotBefore
	}
	return a
}

// EventKind says what an Event carries.
type EventKind string

const (
	// EventRevoked carries a new Entry.
	EventRevoked EventKind = "revoked"
	// EventKeysChanged says the signing-key ring changed: verifiers refuse the key it names
	// withdrawn at once and refetch the JWKS until they hold the document it names (Keys).
	EventKeysChanged EventKind = "keys_changed"
	// EventHeartbeat is published periodically by the auth service; its Seq is the store's
	// latest sequence number, so a subscriber that missed an event notices at the next beat.
	EventHeartbeat EventKind = "heartbeat"
	// EventConnected is delivered (never published) by an EventBus to its subscriber when
	// the subscription is established or re-established: the subscriber must resynchronise.
	EventConnected EventKind = "connected"
	// EventDisconnected is delivered (never published) when the subscription is lost.
	EventDisconnected EventKind = "disconnected"
)

// Event travels on the EventBus.
type Event struct {
	Kind        EventKind
	Entry       Entry     // EventRevoked
	Seq         uint64    // EventRevoked and EventHeartbeat: the store's sequence number (0: unsequenced)
	PublishedAt time.Time // when the publisher sent it, for propagation latency
	Keys        KeyChange // EventKeysChanged
}

// KeyChange is what an EventKeysChanged says about the new key set. Both fields may be empty:
// a publisher that does not know them (or an older one) says only that the set changed.
type KeyChange struct {
	// JWKSETag is the ETag of the issuer's JWKS document once it serves the changed set (the
	// publisher committed the change and computed it from the committed keys). A verifier
	// refetches past any cache until it is served that document.
	JWKSETag string
	// Withdrawn is the kid of a key this change withdrew (compromised). A verifier refuses its
	// tokens at once, before any fetch, and for good: a withdrawn key never returns.
	Withdrawn string
}

// Snapshot is every active entry of a store and the sequence number of the last revocation
// it includes.
type Snapshot struct {
	Entries []Entry
	Seq     uint64
}
