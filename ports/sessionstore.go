package ports

import (
	"context"

	"github.com/keygate/keygate/core/session"
)

// SessionStore holds refresh sessions (one per refresh-token family). Safe for concurrent use.
// Stores expire a session at its absolute expiry; a session past it reads as ErrNotFound.
type SessionStore interface {
	// Create stores s; ErrConflict if its ID exists.
	Create(ctx context.Context, s session.Session) error
	// Get returns session sid or ErrNotFound.
	Get(ctx context.Context, sid string) (session.Session, error)
	// Update atomically reads session sid, calls fn on it and stores the result, and returns
	// it. If fn returns an error nothing is written and Update returns that error, an error
	// fn returned on the session as stored. Concurrent Updates of one session are
	// serialised: each fn sees the result of the previous (fn may be called more than once,
	// so it must have no side effects). ErrNotFound if none. seen, when not nil, is the
	// session as the caller last read or stored it: a store may start from it and write in one
	// round trip when the stored session is still exactly seen, reading it again only when
	// it is not; nil means read first.
	Update(ctx context.Context, sid string, seen *session.Session, fn func(*session.Session) error) (session.Session, error)
	// Delete removes session sid; ErrNotFound if there is none.
	Delete(ctx context.Context, sid string) error
	// ListByUser returns the user's sessions, in any order.
	ListByUser(ctx context.Context, userID string) ([]session.Session, error)
	// DeleteByUser removes every session of the user and returns their ids.
	DeleteByUser(ctx context.Context, userID string) ([]string, error)
}
