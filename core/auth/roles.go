package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/keygate/keygate/core/audit"
	"github.com/keygate/keygate/core/identity"
	"github.com/keygate/keygate/core/token"
	"github.com/keygate/keygate/ports"
)

// errUnchanged aborts an update that would change nothing.
var errUnchanged = errors.New("auth: unchanged")

// updateUser applies fn to userID for the admin action op; fn returning errUnchanged writes
// nothing and reports changed false.
func (s *Service) updateUser(ctx context.Context, op, userID string, fn func(*identity.User) error) (changed bool, err error) {
	_, err = s.d.Users.Update(ctx, userID, func(u *identity.User) error {
		if err := fn(u); err != nil {
			return err
		}
		u.UpdatedAt = s.d.Clock.Now()
		return nil
	})
	switch {
	case errors.Is(err, errUnchanged):
		return false, nil
	case errors.Is(err, ports.ErrNotFound):
		return false, fmt.Errorf("auth: %s: %w", op, ports.ErrNotFound)
	case err != nil:
		return false, unavailable(op, err)
	}
	return true, nil
}

// EnableUser (admin) re-enables a disabled user: they may log in again (their sessions and
// tokens were revoked when they were disabled, and stay so). Enabling an enabled user does
// nothing. ErrForbidden without the admin role; an unknown user wraps ports.ErrNotFound.
func (s *Service) EnableUser(ctx context.Context, p token.Claims, userID string, c Client) error {
	if err := requireAdmin(p); err != nil {
		return err
	}
	changed, err := s.updateUser(ctx, "enable user", userID, func(u *identity.User) error {
		if !u.Disabled {
			return errUnchanged
		}
		u.Disabled = false
		return nil
	})
	if err != nil || !changed {
		return err
	}
	s.audit(ctx, audit.Event{At: s.d.Clock.Now(), Action: audit.ActionUserEnabled, UserID: userID,
		ActorID: p.Subject, RemoteIP: c.IP})
	return nil
}

// GrantRole (admin) gives a user a role (identity.CheckRole, else an error wrapping
// identity.ErrInvalidRole). The user's tokens carry it from their next refresh or login; a
// role already held changes nothing. ErrForbidden without the admin role; an unknown user
// wraps ports.ErrNotFound.
func (s *Service) GrantRole(ctx context.Context, p token.Claims, userID, role string, c Client) error {
	if err := requireAdmin(p); err != nil {
		return err
	}
	if err := identity.CheckRole(role); err != nil {
		return fmt.Errorf("auth: grant role: %w", err)
	}
	changed, err := s.updateUser(ctx, "grant role", userID, func(u *identity.User) error {
		if u.HasRole(role) {
			return errUnchanged
		}
		u.Roles = append(u.Roles, role)
		return nil
	})
	if err != nil || !changed {
		return err
	}
	s.audit(ctx, audit.Event{At: s.d.Clock.Now(), Action: audit.ActionRoleGranted, UserID: userID,
		ActorID: p.Subject, RemoteIP: c.IP, Detail: role})
	return nil
}

// RevokeRole (admin) takes a role from a user, at once: every access token of the user
// issued so far (which may carry the role) is revoked with a subject revocation pushed to
// every verifier, while their sessions stay, so a refresh (or login) gives a token with the
// roles the user has now. Like LogoutAll it returns once the revocation's not-before has
// passed (at most one second). For a role not held the tokens are revoked all the same: a
// retry after a revocation that failed (ErrUnavailable) completes it. A bad role name wraps
// identity.ErrInvalidRole. ErrForbidden without the admin role; ErrLastAdmin when it would take
// the admin role from the only enabled admin; an unknown user wraps ports.ErrNotFound.
func (s *Service) RevokeRole(ctx context.Context, p token.Claims, userID, role string, c Client) error {
	if err := requireAdmin(p); err != nil {
		return err
	}
	if err := identity.CheckRole(role); err != nil {
		return fmt.Errorf("auth: revoke role: %w", err)
	}
	if role == identity.RoleAdmin {
		if err := s.keepAnAdmin(ctx, "revoke role", userID); err != nil {
			return err
		}
	}
	changed, err := s.updateUser(ctx, "revoke role", userID, func(u *identity.User) error {
		if !u.HasRole(role) {
			return errUnchanged
		}
		u.Roles = slices.DeleteFunc(slices.Clone(u.Roles), func(r string) bool { return r == role })
		return nil
	})
	if err != nil {
		return err
	}
	now, _, err := s.revokeSubject(ctx, userID, sweep{none: true})
	if err != nil {
		return err
	}
	detail := role
	if !changed {
		detail += " (not held; tokens revoked again)"
	}
	s.audit(ctx, audit.Event{At: now, Action: audit.ActionRoleRevoked, UserID: userID, ActorID: p.Subject,
		RemoteIP: c.IP, Detail: detail})
	return nil
}
