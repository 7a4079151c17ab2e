package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/keygate/keygate/core/audit"
	"github.com/keygate/keygate/core/identity"
	"github.com/keygate/keygate/core/token"
	"github.com/keygate/keygate/ports"
)

// ErrWrongPassword is returned by ChangePassword when the current password does not match.
var ErrWrongPassword = errors.New("auth: the current password is wrong")

// Rate-limit key prefixes of ChangePassword: the rest is the user id or the client address.
const (
	keyPasswordAccount = "password:acct:"
	keyPasswordAddress = "password:ip:"
)

// errHashChanged aborts a password update whose stored hash is no longer the one checked.
var errHashChanged = errors.New("auth: password changed concurrently")

// ChangePassword replaces the caller's password. current must be the password now in force
// (else ErrWrongPassword, audited); next must pass the registration policy (else an error
// wrapping identity.ErrInvalidPassword). Attempts are rate-limited per user and per client
// address (keys "password:acct:<user id>" with the account limit, "password:ip:<ip>" with the
// address limit), counted before the password is checked; and a wrong current password
// counts as a failed login for the account from this client (Config.LoginFailures and
// LoginBrake, as at Login), so a stolen access token cannot be used to guess the password
// faster than a login can.
//
// On success every access token of the user issued so far is revoked (a subject revocation,
// pushed to verifiers: the caller's own token too), every other session is deleted (their
// refresh tokens stop working), and the caller's session is kept: the returned pair holds a
// new access token for it and its current refresh token. If the caller's session is gone
// (logged out meanwhile) the pair is empty and the password is changed all the same. Like
// LogoutAll it returns once the revocation's not-before has passed (at most one second).
// A concurrent change of the same password wraps ports.ErrConflict; a caller whose account is
// gone wraps ports.ErrNotFound; a disabled one gets ErrForbidden.
func (s *Service) ChangePassword(ctx context.Context, p token.Claims, current, next string, c Client) (TokenPair, error) {
	if err := s.allow(ctx, keyPasswordAddress, c.IP, s.cfg.LimitAddress); err != nil {
		return TokenPair{}, err
	}
	if err := s.allow(ctx, keyPasswordAccount, p.Subject, s.cfg.LimitAccount); err != nil {
		return TokenPair{}, err
	}
	if err := identity.CheckPassword(next); err != nil {
		return TokenPair{}, fmt.Errorf("auth: change password: %w", err)
	}
	u, err := s.d.Users.ByID(ctx, p.Subject)
	switch {
	case errors.Is(err, ports.ErrNotFound):
		return TokenPair{}, fmt.Errorf("auth: change password: %w", ports.ErrNotFound)
	case err != nil:
		return TokenPair{}, unavailable("change password: find user", err)
	case u.Disabled:
		return TokenPair{}, ErrForbidden
	}
	// A wrong current password is a failed login for the account from this client: the
	// same failure limits apply, so a stolen access token cannot guess the password here
	// faster than at /login.
	at, err := s.lockout(ctx, u.Email, c)
	if err != nil {
		return TokenPair{}, err
	}
	ok := false
	if identity.CheckPassword(current) == nil { // else no password can match: no hashing
		ok, err = s.d.Hasher.Verify(ctx, u.PasswordHash, s.d.Norm.NFKC(current))
		if errors.Is(err, ports.ErrUnavailable) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return TokenPair{}, unavailable("change password: verify", err)
		}
	}
	if !ok || err != nil {
		now := s.d.Clock.Now()
		s.audit(ctx, audit.Event{At: now, Action: audit.ActionPasswordChangeFailure, UserID: u.ID,
			ActorID: u.ID, RemoteIP: c.IP, Detail: "session " + p.SessionID})
		if err := s.failed(ctx, at, u.ID, c, now); err != nil {
			return TokenPair{}, err
		}
		return TokenPair{}, ErrWrongPassword
	}
	hash, err := s.d.Hasher.Hash(ctx, s.d.Norm.NFKC(next))
	if err != nil {
		return TokenPair{}, unavailable("change password: hash", err)
	}
	u, err = s.d.Users.Update(ctx, u.ID, func(x *identity.User) error {
		if x.PasswordHash != u.PasswordHash {
			return errHashChanged
		}
		x.PasswordHash = hash
		x.UpdatedAt = s.d.Clock.Now()
		return nil
	})
	switch {
	case errors.Is(err, errHashChanged):
		return TokenPair{}, fmt.Errorf("auth: change password: %w: %w", ports.ErrConflict, err)
	case errors.Is(err, ports.ErrNotFound):
		return TokenPair{}, fmt.Errorf("auth: change password: %w", ports.ErrNotFound)
	case err != nil:
		return TokenPair{}, unavailable("change password: store", err)
	}
	now, nb, err := s.revokeSubject(ctx, u.ID, sweep{keep: p.SessionID})
	if err != nil {
		return TokenPair{}, err
	}
	s.audit(ctx, audit.Event{At: now, Action: audit.ActionPasswordChanged, UserID: u.ID, ActorID: u.ID,
		RemoteIP: c.IP, Detail: "kept session " + p.SessionID})
	return s.reissue(ctx, u, p.SessionID, nb)
}

// reissue signs a new access token for session sid of u after a subject revocation whose
// not-before is nb (its iat is at least nb: the caller's token was revoked with the rest). A
// session that is gone or not u's gives an empty pair.
func (s *Service) reissue(ctx context.Context, u identity.User, sid string, nb time.Time) (TokenPair, error) {
	if sid == "" {
		return TokenPair{}, nil
	}
	sess, err := s.d.Sessions.Get(ctx, sid)
	now := s.d.Clock.Now()
	switch {
	case errors.Is(err, ports.ErrNotFound):
		return TokenPair{}, nil
	case err != nil:
		return TokenPair{}, unavailable("reissue: read session", err)
	case sess.UserID != u.ID || !sess.Active(now, s.cfg.Session):
		return TokenPair{}, nil
	}
	if now.Before(nb) {
		now = nb // a clock behind the not-before (a fake one, or cut short): never mint a refused token
	}
	return s.issue(ctx, u, sess, now)
}
