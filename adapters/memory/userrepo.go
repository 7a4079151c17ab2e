package memory

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/keygate/keygate/core/identity"
	"github.com/keygate/keygate/ports"
)

// UserRepo is a ports.UserRepo in memory. E-mails are compared byte for byte. Safe for
// concurrent use.
type UserRepo struct {
	mu      sync.Mutex
	byID    map[string]identity.User
	byEmail map[string]string // e-mail -> id
	links   map[linkKey]identity.Link
}

type linkKey struct{ provider, subject string }

var _ ports.UserRepo = (*UserRepo)(nil)

// NewUserRepo returns an empty repo.
func NewUserRepo() *UserRepo {
	return &UserRepo{byID: make(map[string]identity.User), byEmail: make(map[string]string),
		links: make(map[linkKey]identity.Link)}
}

// clone returns u with its own Roles, so callers cannot change what is stored.
func clone(u identity.User) identity.User {
	u.Roles = slices.Clone(u.Roles)
	return u
}

// Create stores u; ErrConflict if its id or e-mail is taken.
func (r *UserRepo) Create(ctx context.Context, u identity.User) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.byID[u.ID]; ok {
		return fmt.Errorf("memory: create user: id taken: %w", ports.ErrConflict)
	}
	if _, ok := r.byEmail[u.Email]; ok {
		return fmt.Errorf("memory: create user: e-mail taken: %w", ports.ErrConflict)
	}
	r.byID[u.ID] = clone(u)
	r.byEmail[u.Email] = u.ID
	return nil
}

// ByID returns the user or ErrNotFound.
func (r *UserRepo) ByID(ctx context.Context, id string) (identity.User, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	u, ok := r.byID[id]
	if !ok {
		return identity.User{}, fmt.Errorf("memory: user by id: %w", ports.ErrNotFound)
	}
	return clone(u), nil
}

// ByEmail returns the user with exactly this e-mail or ErrNotFound.
func (r *UserRepo) ByEmail(ctx context.Context, email string) (identity.User, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	id, ok := r.byEmail[email]
	if !ok {
		return identity.User{}, fmt.Errorf("memory: user by e-mail: %w", ports.ErrNotFound)
	}
	return clone(r.byID[id]), nil
}

// Update applies fn to user id under the repo's lock and stores the result; nothing is
// written if fn fails or the new e-mail is taken. The id and CreatedAt are kept. fn must not
// call the repo.
func (r *UserRepo) Update(ctx context.Context, id string, fn func(*identity.User) error) (identity.User, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old, ok := r.byID[id]
	if !ok {
		return identity.User{}, fmt.Errorf("memory: update user: %w", ports.ErrNotFound)
	}
	u := clone(old)
	if err := fn(&u); err != nil {
		return identity.User{}, err
	}
	u.ID, u.CreatedAt = old.ID, old.CreatedAt
	if u.Email != old.Email {
		if _, taken := r.byEmail[u.Email]; taken {
			return identity.User{}, fmt.Errorf("memory: update user: e-mail taken: %w", ports.ErrConflict)
		}
		delete(r.byEmail, old.Email)
		r.byEmail[u.Email] = id
	}
	r.byID[id] = clone(u)
	return u, nil
}

// List returns up to limit users with an id greater than after, ordered by id.
func (r *UserRepo) List(ctx context.Context, after string, limit int) ([]identity.User, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []string
	for id := range r.byID {
		if id > after {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	if limit < 0 {
		limit = 0
	}
	out := make([]identity.User, 0, min(limit, len(ids)))
	for _, id := range ids[:min(limit, len(ids))] {
		out = append(out, clone(r.byID[id]))
	}
	return out, nil
}

// CountRole returns how many users that are not disabled hold role.
func (r *UserRepo) CountRole(ctx context.Context, role string) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, u := range r.byID {
		if !u.Disabled && slices.Contains(u.Roles, role) {
			n++
		}
	}
	return n, nil
}

// Link maps (provider, subject) to a user; ErrConflict if the pair is mapped already,
// ErrNotFound if the user does not exist.
func (r *UserRepo) Link(ctx context.Context, l identity.Link) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.byID[l.UserID]; !ok {
		return fmt.Errorf("memory: link: user: %w", ports.ErrNotFound)
	}
	k := linkKey{l.Provider, l.Subject}
	if _, ok := r.links[k]; ok {
		return fmt.Errorf("memory: link: %w", ports.ErrConflict)
	}
	r.links[k] = l
	return nil
}

// ByLink returns the user linked to (provider, subject) or ErrNotFound.
func (r *UserRepo) ByLink(ctx context.Context, provider, subject string) (identity.User, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	l, ok := r.links[linkKey{provider, subject}]
	if !ok {
		return identity.User{}, fmt.Errorf("memory: user by link: %w", ports.ErrNotFound)
	}
	u, ok := r.byID[l.UserID]
	if !ok {
		return identity.User{}, fmt.Errorf("memory: user by link: %w", ports.ErrNotFound)
	}
	return clone(u), nil
}
