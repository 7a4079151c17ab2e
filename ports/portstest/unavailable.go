package portstest

import (
	"context"
	"fmt"
	"time"

	"github.com/keygate/keygate/core/audit"
	"github.com/keygate/keygate/core/identity"
	"github.com/keygate/keygate/core/key"
	"github.com/keygate/keygate/core/revocation"
	"github.com/keygate/keygate/core/session"
	"github.com/keygate/keygate/ports"
)

// errDown is what every Unavailable stub returns: it wraps ports.ErrUnavailable.
var errDown = fmt.Errorf("portstest: backing store down: %w", ports.ErrUnavailable)

// UnavailableRevocationStore is a RevocationStore whose backing store is down: every call
// returns an error wrapping ports.ErrUnavailable.
type UnavailableRevocationStore struct{}

var _ ports.RevocationStore = UnavailableRevocationStore{}

// Revoke returns ports.ErrUnavailable.
func (UnavailableRevocationStore) Revoke(context.Context, revocation.Entry) (uint64, error) {
	return 0, errDown
}

// Since returns ports.ErrUnavailable.
func (UnavailableRevocationStore) Since(context.Context, uint64, int) ([]revocation.Event, error) {
	return nil, errDown
}

// Snapshot returns ports.ErrUnavailable.
func (UnavailableRevocationStore) Snapshot(context.Context) (revocation.Snapshot, error) {
	return revocation.Snapshot{}, errDown
}

// Seq returns ports.ErrUnavailable.
func (UnavailableRevocationStore) Seq(context.Context) (uint64, error) { return 0, errDown }

// UnavailableEventBus is an EventBus that is down: Publish returns ports.ErrUnavailable, and
// Subscribe never establishes a subscription (it delivers nothing) and returns ctx's error when
// ctx ends.
type UnavailableEventBus struct{}

var _ ports.EventBus = UnavailableEventBus{}

// Publish returns ports.ErrUnavailable.
func (UnavailableEventBus) Publish(context.Context, revocation.Event) error { return errDown }

// Subscribe blocks until ctx ends and returns its error; it never calls h.
func (UnavailableEventBus) Subscribe(ctx context.Context, _ func(revocation.Event)) error {
	<-ctx.Done()
	return ctx.Err()
}

// UnavailableSessionStore is a SessionStore whose backing store is down: every call returns an
// error wrapping ports.ErrUnavailable, and Update never calls fn.
type UnavailableSessionStore struct{}

var _ ports.SessionStore = UnavailableSessionStore{}

// Create returns ports.ErrUnavailable.
func (UnavailableSessionStore) Create(context.Context, session.Session) error { return errDown }

// Get returns ports.ErrUnavailable.
func (UnavailableSessionStore) Get(context.Context, string) (session.Session, error) {
	return session.Session{}, errDown
}

// Update returns ports.ErrUnavailable.
func (UnavailableSessionStore) Update(context.Context, string, *session.Session, func(*session.Session) error) (session.Session, error) {
	return session.Session{}, errDown
}

// Delete returns ports.ErrUnavailable.
func (UnavailableSessionStore) Delete(context.Context, string) error { return errDown }

// ListByUser returns ports.ErrUnavailable.
func (UnavailableSessionStore) ListByUser(context.Context, string) ([]session.Session, error) {
	return nil, errDown
}

// DeleteByUser returns ports.ErrUnavailable.
func (UnavailableSessionStore) DeleteByUser(context.Context, string) ([]string, error) {
	return nil, errDown
}

// UnavailableUserRepo is a UserRepo whose database is down: every call returns an error
// wrapping ports.ErrUnavailable, and Update never calls fn.
type UnavailableUserRepo struct{}

var _ ports.UserRepo = UnavailableUserRepo{}

// Create returns ports.ErrUnavailable.
func (UnavailableUserRepo) Create(context.Context, identity.User) error { return errDown }

// ByID returns ports.ErrUnavailable.
func (UnavailableUserRepo) ByID(context.Context, string) (identity.User, error) {
	return identity.User{}, errDown
}

// ByEmail returns ports.ErrUnavailable.
func (UnavailableUserRepo) ByEmail(context.Context, string) (identity.User, error) {
	return identity.User{}, errDown
}

// Update returns ports.ErrUnavailable.
func (UnavailableUserRepo) Update(context.Context, string, func(*identity.User) error) (identity.User, error) {
	return identity.User{}, errDown
}

// List returns ports.ErrUnavailable.
func (UnavailableUserRepo) List(context.Context, string, int) ([]identity.User, error) {
	return nil, errDown
}

// CountRole returns ports.ErrUnavailable.
func (UnavailableUserRepo) CountRole(context.Context, string) (int, error) { return 0, errDown }

// Link returns ports.ErrUnavailable.
func (UnavailableUserRepo) Link(context.Context, identity.Link) error { return errDown }

// ByLink returns ports.ErrUnavailable.
func (UnavailableUserRepo) ByLink(context.Context, string, string) (identity.User, error) {
	return identity.User{}, errDown
}

// UnavailableAuditLog is an AuditLog whose database is down: every call returns an error
// wrapping ports.ErrUnavailable.
type UnavailableAuditLog struct{}

var _ ports.AuditLog = UnavailableAuditLog{}

// Append returns ports.ErrUnavailable.
func (UnavailableAuditLog) Append(context.Context, audit.Event) error { return errDown }

// ByUser returns ports.ErrUnavailable.
func (UnavailableAuditLog) ByUser(context.Context, string, int) ([]audit.Event, error) {
	return nil, errDown
}

// UnavailableRateLimiter is a RateLimiter whose backing store is down: Allow returns false,
// and both methods an error wrapping ports.ErrUnavailable.
type UnavailableRateLimiter struct{}

var _ ports.RateLimiter = UnavailableRateLimiter{}

// Allow returns ports.ErrUnavailable.
func (UnavailableRateLimiter) Allow(context.Context, string, int, time.Duration) (bool, time.Duration, error) {
	return false, 0, errDown
}

// Count returns ports.ErrUnavailable.
func (UnavailableRateLimiter) Count(context.Context, string, time.Duration) (int, time.Duration, error) {
	return 0, 0, errDown
}

// UnavailableKeyStore is a KeyStore whose database is down: every call returns an error
// wrapping ports.ErrUnavailable.
type UnavailableKeyStore struct{}

var _ ports.KeyStore = UnavailableKeyStore{}

// Keys returns ports.ErrUnavailable.
func (UnavailableKeyStore) Keys(context.Context) ([]key.Key, error) { return nil, errDown }

// Insert returns ports.ErrUnavailable.
func (UnavailableKeyStore) Insert(context.Context, key.Key) error { return errDown }

// Retire returns ports.ErrUnavailable.
func (UnavailableKeyStore) Retire(context.Context, string, time.Time) error { return errDown }

// UnavailablePasswordHasher is a PasswordHasher that is saturated: every call returns an error
// wrapping ports.ErrUnavailable.
type UnavailablePasswordHasher struct{}

var _ ports.PasswordHasher = UnavailablePasswordHasher{}

// Hash returns ports.ErrUnavailable.
func (UnavailablePasswordHasher) Hash(context.Context, string) (string, error) { return "", errDown }

// Verify returns ports.ErrUnavailable.
func (UnavailablePasswordHasher) Verify(context.Context, string, string) (bool, error) {
	return false, errDown
}

// NeedsRehash reports false.
func (UnavailablePasswordHasher) NeedsRehash(string) bool { return false }
