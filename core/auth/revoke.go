package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/keygate/keygate/core/audit"
	"github.com/keygate/keygate/core/revocation"
	"github.com/keygate/keygate/core/session"
	"github.com/keygate/keygate/core/token"
	"github.com/keygate/keygate/ports"
)

// revokeTimeout bounds a revocation once started: it runs to completion even if the caller's
// context ends (a half-done revocation would leave a session deleted but its access tokens
// alive), but not forever.
const revokeTimeout = 10 * time.Second

// revoke makes e durable and pushes it in one step: RevocationStore.Revoke stores it, logs it
// and publishes it with its sequence number (one Redis round trip); a lost publish is
// recovered by verifiers from the store's sequence number and replay log. Once started it
// runs to completion (bounded by revokeTimeout) even if ctx ends: a client hanging up must not
// leave a session deleted but its access tokens alive.
func (s *Service) revoke(ctx context.Context, e revocation.Entry) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), revokeTimeout)
	defer cancel()
	start := s.d.Clock.Now()
	_, err := s.d.Revocations.Revoke(ctx, e)
	s.d.Metrics.RevocationStoreOp("revoke", s.d.Clock.Now().Sub(start), err)
	if err != nil {
		if errors.Is(err, revocation.ErrInvalid) {
			return fmt.Errorf("auth: revoke: %w", err)
		}
		return unavailable("revoke", err)
	}
	return nil
}

// revokeSession revokes every access token of session sid with a KindSession entry that lives
// as long as the longest such token can, then deletes the session (gone already is fine):
// verifiers hear of it after one round trip, and the refresh token stops working before the
// call returns.
func (s *Service) revokeSession(ctx context.Context, sid string, now time.Time) error {
	s.hints.drop(sid)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), revokeTimeout)
	defer cancel()
	if err := s.revoke(ctx, revocation.Entry{Kind: revocation.KindSession, Key: sid,
		ExpiresAt: now.Add(s.cfg.AccessTTL + s.cfg.Leeway)}); err != nil {
		return err
	}
	if err := s.d.Sessions.Delete(ctx, sid); err != nil && !errors.Is(err, ports.ErrNotFound) {
		return unavailable("revoke session: delete", err)
	}
	return nil
}

// subjectNotBefore returns the not-before of a subject revocation made at now: the first
// whole second after now. The rule (docs/architecture.md, "Subject revocation"):
//
//   - Access tokens carry iat in whole seconds: the issuing use case (login, refresh) reads
//     its clock first, then the user, and signs with iat = that reading truncated. A verifier
//     refuses a token of the subject whose iat is before the not-before.
//   - A subject revocation reads now AFTER the change it enforces is stored (a disabled flag,
//     a new password hash, new roles). A token whose issuing read the user before the change
//     read its clock earlier still, so its iat <= now truncated < not-before: refused,
//     however close to a second boundary either ran. No token issued before the revocation
//     survives it.
//   - A token issued after the revocation but in its second has the same iat as one issued
//     before it and is refused too: the cost of whole-second iat, at most one second.
//     revokeSubject therefore waits until the not-before before it returns, so a login (or
//     refresh) that starts after LogoutAll, DisableUser, RevokeUser, ChangePassword, or a
//     role change returns gets a token that verifies.
func subjectNotBefore(now time.Time) time.Time { return now.Truncate(time.Second).Add(time.Second) }

// sweep says which of a user's sessions a subject revocation deletes.
type sweep struct {
	keep string // this session survives (the caller's, on a password change); "" none
	none bool   // no session is deleted (a role change: refresh gives tokens with the new roles)
}

var sweepAll = sweep{}

// revokeSubject deletes the user's sessions (as sw says), then reads the clock and revokes
// every access token of the user issued before the first whole second after that reading,
// then waits for that not-before to pass (at most one second). It returns the reading and the
// not-before.
//
// The sessions go first: a refresh that rotated one before the sweep read its clock earlier
// still, so its token is refused; one after the sweep finds no session. The caller has stored
// the change it enforces (disabled, new hash, new roles) before calling.
func (s *Service) revokeSubject(ctx context.Context, userID string, sw sweep) (now, nb time.Time, err error) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), revokeTimeout)
	defer cancel()
	if err := s.sweepSessions(rctx, userID, sw); err != nil {
		return now, nb, err
	}
	now = s.d.Clock.Now()
	nb = subjectNotBefore(now)
	if err := s.revoke(rctx, revocation.Entry{Kind: revocation.KindSubject, Key: userID, NotBefore: nb,
		ExpiresAt: nb.Add(s.cfg.AccessTTL + s.cfg.Leeway)}); err != nil {
		return now, nb, err
	}
	if d := nb.Sub(s.d.Clock.Now()); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done(): // revoked already; only the wait is cut short
		}
	}
	return now, nb, nil
}

func (s *Service) sweepSessions(ctx context.Context, userID string, sw sweep) error {
	switch {
	case sw.none:
		return nil
	case sw.keep == "":
		sids, err := s.d.Sessions.DeleteByUser(ctx, userID)
		if err != nil {
			return unavailable("revoke user: delete sessions", err)
		}
		for _, sid := range sids {
			s.hints.drop(sid)
		}
		return nil
	}
	all, err := s.d.Sessions.ListByUser(ctx, userID)
	if err != nil {
		return unavailable("revoke user: list sessions", err)
	}
	for _, ss := range all {
		if ss.ID == sw.keep {
			continue
		}
		s.hints.drop(ss.ID)
		if err := s.d.Sessions.Delete(ctx, ss.ID); err != nil && !errors.Is(err, ports.ErrNotFound) {
			return unavailable("revoke user: delete session", err)
		}
	}
	return nil
}

// Logout revokes the caller's session: the refresh token stops working and every access
// token of the session is revoked. A token without a session has only itself revoked.
func (s *Service) Logout(ctx context.Context, p token.Claims, c Client) error {
	now := s.d.Clock.Now()
	var err error
	if p.SessionID != "" {
		err = s.revokeSession(ctx, p.SessionID, now)
	} else {
		err = s.revoke(ctx, revocation.Entry{Kind: revocation.KindToken, Key: p.ID,
			ExpiresAt: p.ExpiresAt.Add(s.cfg.Leeway)})
	}
	if err != nil {
		return err
	}
	s.audit(ctx, audit.Event{At: now, Action: audit.ActionLogout, UserID: p.Subject, ActorID: p.Subject,
		RemoteIP: c.IP, Detail: "session " + p.SessionID})
	return nil
}

// LogoutAll revokes every session of the caller and every access token issued to them so
// far (a KindSubject entry; see subjectNotBefore). It returns at most one second late, once a
// new login's tokens are sure to be accepted.
func (s *Service) LogoutAll(ctx context.Context, p token.Claims, c Client) error {
	now, _, err := s.revokeSubject(ctx, p.Subject, sweepAll)
	if err != nil {
		return err
	}
	s.audit(ctx, audit.Event{At: now, Action: audit.ActionLogoutAll, UserID: p.Subject, ActorID: p.Subject,
		RemoteIP: c.IP})
	return nil
}

// Revoke is RFC 7009: raw is a refresh or access token; hint is "refresh_token",
// "access_token" or "" and is not needed (the two formats cannot be confused). A refresh
// token revokes its whole session; an access token is checked with the Verifier and revoked
// by its jti until it expires. Unknown, invalid or expired tokens succeed silently. When the
// revocation cannot be stored (or the access token cannot be checked now) the error wraps
// ports.ErrUnavailable: the client must treat the token as still valid. Attempts are
// rate-limited per client address (key "revoke:ip:<ip>"; an IPv6 address counts as its /64).
func (s *Service) Revoke(ctx context.Context, raw, hint string, c Client) error {
	if err := s.allow(ctx, keyRevokeAddress, c.IP, s.cfg.LimitAddress); err != nil {
		return err
	}
	now := s.d.Clock.Now()
	if sid, _, err := s.codec.Parse(session.RefreshToken(raw)); err == nil {
		sess, err := s.d.Sessions.Get(ctx, sid)
		switch {
		case errors.Is(err, ports.ErrNotFound):
			return nil // revoked, expired or rotated away already
		case err != nil:
			return unavailable("revoke: find session", err)
		}
		if err := s.revokeSession(ctx, sid, now); err != nil {
			return err
		}
		s.audit(ctx, audit.Event{At: now, Action: audit.ActionRevoke, UserID: sess.UserID, ActorID: sess.UserID,
			RemoteIP: c.IP, Detail: "session " + sid})
		return nil
	}
	if s.d.Verifier == nil {
		return unavailable("revoke", errors.New("no access-token verifier"))
	}
	claims, err := s.d.Verifier.Authenticate(ctx, raw)
	if err != nil {
		if token.Unavailable(err) {
			return unavailable("revoke: verify", err)
		}
		return nil // invalid, expired, or revoked already
	}
	if err := s.revoke(ctx, revocation.Entry{Kind: revocation.KindToken, Key: claims.ID,
		ExpiresAt: claims.ExpiresAt.Add(s.cfg.Leeway)}); err != nil {
		return err
	}
	s.audit(ctx, audit.Event{At: now, Action: audit.ActionRevoke, UserID: claims.Subject, ActorID: claims.Subject,
		RemoteIP: c.IP, Detail: "token " + claims.ID})
	return nil
}

// RevokeSession revokes one of the caller's sessions. Another user's session, or one that
// does not exist, returns an error wrapping ports.ErrNotFound.
func (s *Service) RevokeSession(ctx context.Context, p token.Claims, sid string, c Client) error {
	sess, err := s.d.Sessions.Get(ctx, sid)
	switch {
	case errors.Is(err, ports.ErrNotFound) || (err == nil && sess.UserID != p.Subject):
		return fmt.Errorf("auth: revoke session: %w", ports.ErrNotFound)
	case err != nil:
		return unavailable("revoke session: find", err)
	}
	now := s.d.Clock.Now()
	if err := s.revokeSession(ctx, sid, now); err != nil {
		return err
	}
	s.audit(ctx, audit.Event{At: now, Action: audit.ActionSessionRevoke, UserID: p.Subject, ActorID: p.Subject,
		RemoteIP: c.IP, Detail: "session " + sid})
	return nil
}
