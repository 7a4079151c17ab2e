package ports

import (
	"context"

	"github.com/keygate/keygate/core/identity"
)

// UserRepo holds users and their OAuth provider links. E-mails arrive normalised
// (identity.NormalizeEmail) and are compared byte for byte. Safe for concurrent use.
type UserRepo interface {
	// Create stores u; ErrConflict if its ID or e-mail is taken: of concurrent creations with
	// one e-mail exactly one succeeds.
	Create(ctx context.Context, u identity.User) error
	// ByID returns the user or ErrNotFound.
	ByID(ctx context.Context, id string) (identity.User, error)
	// ByEmail returns the user with exactly this (normalised) e-mail or ErrNotFound.
	ByEmail(ctx context.Context, email string) (identity.User, error)
	// Update atomically applies fn to user id and stores the result (nothing is written if fn
	// fails). The ID and CreatedAt cannot change; a changed e-mail that is taken returns
	// ErrConflict. ErrNotFound if none.
	Update(ctx context.Context, id string, fn func(*identity.User) error) (identity.User, error)
	// List returns up to limit users with an ID greater than after, ordered by ID.
	List(ctx context.Context, after string, limit int) ([]identity.User, error)
	// CountRole returns how many users that are not disabled hold role (exactly, as stored).
	CountRole(ctx context.Context, role string) (int, error)
	// Link maps (provider, subject) to a user; ErrConflict if that pair is mapped already,
	// ErrNotFound if the user does not exist.
	Link(ctx context.Context, l identity.Link) error
	// ByLink returns the user linked to (provider, subject) or ErrNotFound.
	ByLink(ctx context.Context, provider, subject string) (identity.User, error)
}
