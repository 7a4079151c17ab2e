package auth

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/keygate/keygate/core/audit"
	"github.com/keygate/keygate/core/identity"
	"github.com/keygate/keygate/core/session"
	"github.com/keygate/keygate/core/token"
	"github.com/keygate/keygate/ports"
)

// Page sizes of the admin lists: the one definition the HTTP API and keygatectl check a
// requested limit against (1 to MaxPageSize; none asked: DefaultPageSize).
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

func pageSize(n int) int {
	if n <= 0 {
		return DefaultPageSize
	}
	return min(n, MaxPageSize)
}

// Me returns the caller. A caller whose account no longer exists gets an error wrapping
// ports.ErrNotFound.
func (s *Service) Me(ctx context.Context, p token.Claims) (identity.User, error) {
	u, err := s.d.Users.ByID(ctx, p.Subject)
	switch {
	case errors.Is(err, ports.ErrNotFound):
		return identity.User{}, fmt.Errorf("auth: me: %w", ports.ErrNotFound)
	case err != nil:
		return identity.User{}, unavailable("me", err)
	}
	return u, nil
}

// Sessions lists the caller's active sessions, most recently used first.
func (s *Service) Sessions(ctx context.Context, p token.Claims) ([]session.Session, error) {
	all, err := s.d.Sessions.ListByUser(ctx, p.Subject)
	if err != nil {
		return nil, unavailable("sessions", err)
	}
	now := s.d.Clock.Now()
	out := make([]session.Session, 0, len(all))
	for _, ss := range all {
		if ss.UserID == p.Subject && ss.Active(now, s.cfg.Session) {
			out = append(out, ss)
		}
	}
	slices.SortFunc(out, func(a, b session.Session) int {
		if c := b.LastUsedAt.Compare(a.LastUsedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out, nil
}

func requireAdmin(p token.Claims) error {
	if !p.HasRole(identity.RoleAdmin) {
		return ErrForbidden
	}
	return nil
}

// ListUsers (admin) pages through users: up to limit (default 100, at most 1000) with an ID
// greater than after, ordered by ID. ErrForbidden without the admin role.
func (s *Service) ListUsers(ctx context.Context, p token.Claims, after string, limit int) ([]identity.User, error) {
	if err := requireAdmin(p); err != nil {
		return nil, err
	}
	us, err := s.d.Users.List(ctx, after, pageSize(limit))
	if err != nil {
		return nil, unavailable("list users", err)
	}
	return us, nil
}

// DisableUser (admin) disables a user and revokes all their sessions and tokens. The user can
// no longer log in or refresh. ErrForbidden without the admin role; ErrLastAdmin for the only
// enabled admin; an unknown user wraps ports.ErrNotFound.
func (s *Service) DisableUser(ctx context.Context, p token.Claims, userID string, c Client) error {
	if err := requireAdmin(p); err != nil {
		return err
	}
	if err := s.keepAnAdmin(ctx, "disable user", userID); err != nil {
		return err
	}
	_, err := s.d.Users.Update(ctx, userID, func(u *identity.User) error {
		u.Disabled = true
		u.UpdatedAt = s.d.Clock.Now()
		return nil
	})
	switch {
	case errors.Is(err, ports.ErrNotFound):
		return fmt.Errorf("auth: disable user: %w", ports.ErrNotFound)
	case err != nil:
		return unavailable("disable user", err)
	}
	// revokeSubject reads the clock after the update (see subjectNotBefore): a login that saw
	// the user enabled read its own clock before, so its token's iat is before the not-before.
	now, _, err := s.revokeSubject(ctx, userID, sweepAll)
	if err != nil {
		return err
	}
	s.audit(ctx, audit.Event{At: now, Action: audit.ActionUserDisabled, UserID: userID, ActorID: p.Subject,
		RemoteIP: c.IP})
	return nil
}

// keepAnAdmin returns ErrLastAdmin if userID is the only enabled admin, before an action that
// would disable them or take their admin role: a deployment must keep someone able to
// administer it. Two admins demoting each other at the same instant can both pass (the check
// reads, then the action writes); keygatectl users grant restores an admin.
func (s *Service) keepAnAdmin(ctx context.Context, op, userID string) error {
	u, err := s.d.Users.ByID(ctx, userID)
	switch {
	case errors.Is(err, ports.ErrNotFound):
		return nil // the action itself reports it
	case err != nil:
		return unavailable(op, err)
	case u.Disabled || !u.HasRole(identity.RoleAdmin):
		return nil
	}
	n, err := s.d.Users.CountRole(ctx, identity.RoleAdmin)
	if err != nil {
		return unavailable(op, err)
	}
	if n <= 1 {
		return fmt.Errorf("%w (user %s)", ErrLastAdmin, userID)
	}
	return nil
}

// RevokeUser (admin) revokes all of a user's sessions and tokens (the user may log in
// again). ErrForbidden without the admin role; an unknown user wraps ports.ErrNotFound.
func (s *Service) RevokeUser(ctx context.Context, p token.Claims, userID string, c Client) error {
	if err := requireAdmin(p); err != nil {
		return err
	}
	_, err := s.d.Users.ByID(ctx, userID)
	switch {
	case errors.Is(err, ports.ErrNotFound):
		return fmt.Errorf("auth: revoke user: %w", ports.ErrNotFound)
	case err != nil:
		return unavailable("revoke user", err)
	}
	now, _, err := s.revokeSubject(ctx, userID, sweepAll)
	if err != nil {
		return err
	}
	s.audit(ctx, audit.Event{At: now, Action: audit.ActionUserRevoked, UserID: userID, ActorID: p.Subject,
		RemoteIP: c.IP})
	return nil
}

// AuditOf (admin) returns up to limit (default 100, at most 1000) of a user's audit events,
// newest first. ErrForbidden without the admin role.
func (s *Service) AuditOf(ctx context.Context, p token.Claims, userID string, limit int) ([]audit.Event, error) {
	if err := requireAdmin(p); err != nil {
		return nil, err
	}
	evs, err := s.d.Audit.ByUser(ctx, userID, pageSize(limit))
	if err != nil {
		return nil, unavailable("audit", err)
	}
	return evs, nil
}

// BootstrapAdmin creates (or promotes) the first admin: a user with this e-mail and password
// and the admin role is created if the e-mail is not registered; an existing user without the
// admin role gets it only if password is theirs, else the error wraps ErrForbidden and nobody
// is promoted (registration proves no ownership of an e-mail address: anyone could have
// registered it first, and would otherwise become admin with their own password). An existing
// admin is left as is. It is idempotent, and safe to run on every replica at start.
func (s *Service) BootstrapAdmin(ctx context.Context, email, password string) error {
	norm, err := identity.NormalizeEmail(email, s.d.Norm.Email)
	if err != nil {
		return fmt.Errorf("auth: bootstrap admin: %w", err)
	}
	if err := identity.CheckPassword(password); err != nil {
		return fmt.Errorf("auth: bootstrap admin: %w", err)
	}
	for range 2 { // a second pass if another replica created the user meanwhile
		now := s.d.Clock.Now()
		u, err := s.d.Users.ByEmail(ctx, norm)
		switch {
		case err == nil:
			if u.HasRole(identity.RoleAdmin) {
				return nil
			}
			ok, err := s.d.Hasher.Verify(ctx, u.PasswordHash, s.d.Norm.NFKC(password))
			if errors.Is(err, ports.ErrUnavailable) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return unavailable("bootstrap admin: verify password", err)
			}
			if err != nil || !ok {
				return fmt.Errorf("auth: bootstrap admin: the e-mail is registered to an account with another password; not promoting it: %w", ErrForbidden)
			}
			_, err = s.d.Users.Update(ctx, u.ID, func(u *identity.User) error {
				if !u.HasRole(identity.RoleAdmin) {
					u.Roles = append(u.Roles, identity.RoleAdmin)
					u.UpdatedAt = now
				}
				return nil
			})
			if err != nil {
				return unavailable("bootstrap admin: promote", err)
			}
			return nil
		case !errors.Is(err, ports.ErrNotFound):
			return unavailable("bootstrap admin: find", err)
		}
		hash, err := s.d.Hasher.Hash(ctx, s.d.Norm.NFKC(password))
		if err != nil {
			return unavailable("bootstrap admin: hash", err)
		}
		u = identity.User{ID: identity.NewID(), Email: norm, PasswordHash: hash,
			Roles: []string{identity.RoleAdmin}, CreatedAt: now, UpdatedAt: now}
		err = s.d.Users.Create(ctx, u)
		switch {
		case err == nil:
			s.audit(ctx, audit.Event{At: now, Action: audit.ActionRegister, UserID: u.ID, ActorID: u.ID,
				Detail: "bootstrap admin"})
			return nil
		case !errors.Is(err, ports.ErrConflict):
			return unavailable("bootstrap admin: create", err)
		}
	}
	return fmt.Errorf("auth: bootstrap admin: %w", ports.ErrConflict)
}
