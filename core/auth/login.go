package auth

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/keygate/keygate/core/audit"
	"github.com/keygate/keygate/core/backoff"
	"github.com/keygate/keygate/core/identity"
	"github.com/keygate/keygate/core/session"
	"github.com/keygate/keygate/core/token"
	"github.com/keygate/keygate/ports"
)

// Rate-limit key prefixes. The rest of a key is a normalised e-mail, a client address, or
// both (failureSubject).
const (
	keyRegisterAccount = "register:acct:"
	keyRegisterAddress = "register:ip:"
	keyLoginAddress    = "login:ip:"
	keyLoginFailures   = "login:fail:"  // failed logins per (account, client)
	keyLoginBrake      = "login:brake:" // failed logins per account, from all clients
	keyRevokeAddress   = "revoke:ip:"
)

// Login results reported to Metrics.Login.
const (
	resultOK                 = "ok"
	resultInvalidCredentials = "invalid_credentials"
	resultRateLimited        = "rate_limited"
	resultUnavailable        = "unavailable"
	resultInvalidRequest     = "invalid_request"
)

// allow counts one attempt against l for k. A refusal is a *RateLimitedError; a limiter
// failure wraps ports.ErrUnavailable. An empty subject (no client address) is not limited.
func (s *Service) allow(ctx context.Context, prefix, subject string, l Limit) error {
	if subject == "" {
		return nil
	}
	switch prefix {
	case keyLoginAddress, keyRegisterAddress, keyRevokeAddress, keyPasswordAddress:
		subject = addressBucket(subject)
	}
	ok, retry, err := s.d.Limiter.Allow(ctx, prefix+subject, l.N, l.Window)
	if err != nil {
		return unavailable("rate limit", err)
	}
	if !ok {
		return &RateLimitedError{RetryAfter: max(retry, time.Second)}
	}
	return nil
}

// addressBucket returns the rate-limit subject of a client address: an IPv6 address counts
// as its /64, the smallest network a single site is routinely given (one host can use any of
// its 2^64 addresses, so a per-address bucket would not limit it at all); an IPv4 address, or
// anything that does not parse, counts as itself.
func addressBucket(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if !a.Is6() {
		return a.String()
	}
	p, _ := a.WithZone("").Prefix(64) // never fails for an IPv6 address without a zone
	return p.String()
}

// Register creates a user. Bad input returns identity.ErrInvalidEmail, ErrInvalidPassword or
// ErrInvalidName (wrapped). Attempts are rate-limited per client address and per e-mail (keys
// "register:ip:<ip>", "register:acct:<email>"; an IPv6 address counts as its /64).
//
// With a Mailer, the new user gets a verification link (VerifyEmail), sent in the background.
// In RegisterOpen mode a taken e-mail returns ErrEmailTaken. In RegisterVerify mode a taken
// e-mail is not an error: Register returns a zero User and nil for a new and a taken address
// alike, after the same work (the password is hashed and the creation tried either way), and
// the owner of a taken address gets a notice with a reset link instead.
func (s *Service) Register(ctx context.Context, email, password, name string, c Client) (identity.User, error) {
	if err := s.allow(ctx, keyRegisterAddress, c.IP, s.cfg.LimitAddress); err != nil {
		return identity.User{}, err
	}
	norm, err := identity.NormalizeEmail(email, s.d.Norm.Email)
	if err != nil {
		return identity.User{}, fmt.Errorf("auth: register: %w", err)
	}
	if err := identity.CheckPassword(password); err != nil {
		return identity.User{}, fmt.Errorf("auth: register: %w", err)
	}
	if err := identity.CheckName(name); err != nil {
		return identity.User{}, fmt.Errorf("auth: register: %w", err)
	}
	if err := s.allow(ctx, keyRegisterAccount, norm, s.cfg.LimitAccount); err != nil {
		return identity.User{}, err
	}
	hash, err := s.d.Hasher.Hash(ctx, s.d.Norm.NFKC(password))
	if err != nil {
		return identity.User{}, unavailable("register: hash", err)
	}
	now := s.d.Clock.Now()
	u := identity.User{ID: identity.NewID(), Email: norm, Name: name, PasswordHash: hash,
		CreatedAt: now, UpdatedAt: now}
	if err := s.d.Users.Create(ctx, u); err != nil {
		if !errors.Is(err, ports.ErrConflict) {
			return identity.User{}, unavailable("register: create user", err)
		}
		if s.cfg.Registration != RegisterVerify {
			return identity.User{}, ErrEmailTaken
		}
		return identity.User{}, s.registered(ctx, norm, identity.User{}, true, c)
	}
	ev := audit.Event{At: now, Action: audit.ActionRegister, UserID: u.ID, ActorID: u.ID, RemoteIP: c.IP}
	if s.cfg.Registration == RegisterVerify {
		// In the background, as the taken address's notice is: the two answers take the same
		// work (a hash, an insert) before they return.
		s.later(ctx, func(ctx context.Context) error { s.audit(ctx, ev); return nil })
	} else {
		s.audit(ctx, ev)
	}
	if err := s.registered(ctx, norm, u, false, c); err != nil && s.cfg.Registration == RegisterVerify {
		return identity.User{}, err
	}
	if s.cfg.Registration == RegisterVerify {
		return identity.User{}, nil
	}
	return u, nil
}

// Login checks credentials and opens a session. An unknown e-mail, a wrong password and a
// disabled account cost the same password-hash work and return the same
// ErrInvalidCredentials. A refusal by a limit is a *RateLimitedError:
//
//   - attempts per client address (key "login:ip:<ip>"; an IPv6 address counts as its /64),
//     Config.LimitAddress;
//   - failures, not attempts, per account and client (Config.LoginFailures): past the limit
//     that client alone is refused for that account, before its password is checked, so that
//     nobody can lock the owner out by failing from elsewhere;
//   - failures per account from all clients (Config.LoginBrake): past it the brake refuses
//     clients that have failed for the account and delays the others by Config.BrakeDelay.
//
// A failure is counted only once the password has been checked and found wrong (or the
// e-mail unknown, or the account disabled: the same answer); a refused attempt or an
// unavailable hasher counts nothing. Refusals and the brake engaging are audited with the
// client's address.
func (s *Service) Login(ctx context.Context, email, password string, c Client) (TokenPair, error) {
	tp, result, err := s.login(ctx, email, password, c)
	s.d.Metrics.Login(result)
	return tp, err
}

func (s *Service) login(ctx context.Context, email, password string, c Client) (TokenPair, string, error) {
	fail := func(err error) (TokenPair, string, error) {
		var rl *RateLimitedError
		switch {
		case errors.As(err, &rl):
			return TokenPair{}, resultRateLimited, err
		case errors.Is(err, ports.ErrUnavailable):
			return TokenPair{}, resultUnavailable, err
		}
		return TokenPair{}, resultUnavailable, err
	}
	if err := s.allow(ctx, keyLoginAddress, c.IP, s.cfg.LimitAddress); err != nil {
		return fail(err)
	}
	norm, err := identity.NormalizeEmail(email, s.d.Norm.Email)
	if err != nil {
		// No account can have this address: nothing to enumerate.
		return TokenPair{}, resultInvalidRequest, ErrInvalidCredentials
	}
	if identity.CheckPassword(password) != nil {
		// No account can have this password (the policy applies at registration): refuse
		// before hashing, so a huge password costs nothing.
		return TokenPair{}, resultInvalidRequest, ErrInvalidCredentials
	}
	at, err := s.lockout(ctx, norm, c)
	if err != nil {
		return fail(err)
	}
	now := s.d.Clock.Now()
	u, err := s.d.Users.ByEmail(ctx, norm)
	known := err == nil
	if err != nil && !errors.Is(err, ports.ErrNotFound) {
		return fail(unavailable("login: find user", err))
	}
	// The unknown e-mail verifies against "" which costs the same as a real hash.
	ok, err := s.d.Hasher.Verify(ctx, u.PasswordHash, s.d.Norm.NFKC(password))
	if errors.Is(err, ports.ErrUnavailable) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fail(unavailable("login: verify password", err))
	}
	// Any other error is a stored hash the hasher refuses (corrupted, or beyond its cost
	// limits): that account cannot log in with a password.
	if known && ok && err == nil && !u.Disabled && u.PasswordResetRequired {
		// Said only to whoever knows the password: no one else learns the account exists.
		s.audit(ctx, audit.Event{At: now, Action: audit.ActionLoginFailure, UserID: u.ID, ActorID: u.ID,
			RemoteIP: c.IP, Detail: "password reset required"})
		return TokenPair{}, resultInvalidCredentials, ErrPasswordResetRequired
	}
	if !known || !ok || err != nil || u.Disabled {
		detail := "wrong password"
		switch {
		case !known:
			detail = "unknown e-mail"
		case err != nil:
			detail = "unusable password hash"
		case u.Disabled:
			detail = "disabled"
		}
		s.audit(ctx, audit.Event{At: now, Action: audit.ActionLoginFailure, UserID: u.ID, ActorID: u.ID,
			RemoteIP: c.IP, Detail: detail})
		if err := s.failed(ctx, at, u.ID, c, now); err != nil {
			return fail(err)
		}
		return TokenPair{}, resultInvalidCredentials, ErrInvalidCredentials
	}
	sess := session.New(identity.NewID(), u.ID, s.cfg.ClientID, now, s.cfg.Session)
	sess.UserAgent = clip(c.UserAgent, 256)
	sess.RemoteIP = clip(c.IP, 64)
	if err := s.d.Sessions.Create(ctx, sess); err != nil {
		return fail(unavailable("login: create session", err))
	}
	// The user again, now that the session is stored: a disable or password change that
	// landed since the first read, and whose sweep of sessions ran before this one was
	// stored, would otherwise leave it behind. The clock is read first, as for the first
	// read (see subjectNotBefore), and the token carries the roles of this reading.
	issuedAt := s.d.Clock.Now()
	cur, refused, err := s.stillValid(ctx, u, password)
	if err != nil || refused {
		if derr := s.d.Sessions.Delete(context.WithoutCancel(ctx), sess.ID); derr != nil && !errors.Is(derr, ports.ErrNotFound) && err == nil {
			err = unavailable("login: delete session", derr)
		}
		if err != nil {
			return fail(err)
		}
		s.audit(ctx, audit.Event{At: issuedAt, Action: audit.ActionLoginFailure, UserID: u.ID, ActorID: u.ID,
			RemoteIP: c.IP, Detail: "disabled or password changed during login"})
		return TokenPair{}, resultInvalidCredentials, ErrInvalidCredentials
	}
	tp, err := s.issue(ctx, cur, sess, issuedAt)
	if err != nil {
		return fail(err)
	}
	s.hints.put(sess)
	s.rehash(ctx, cur, password)
	s.audit(ctx, audit.Event{At: now, Action: audit.ActionLoginSuccess, UserID: u.ID, ActorID: u.ID,
		RemoteIP: c.IP, Detail: "session " + sess.ID})
	return tp, resultOK, nil
}

// rehash stores a fresh hash of password for u, whose stored hash it matched, when the
// hasher's parameters have changed since that hash was made. Best effort: the login has
// succeeded, and a failure leaves the old hash, which still verifies, for the next login.
// The stored hash is replaced only if it is still the one checked (a password change in
// between wins).
func (s *Service) rehash(ctx context.Context, u identity.User, password string) {
	if !s.d.Hasher.NeedsRehash(u.PasswordHash) {
		return
	}
	hash, err := s.d.Hasher.Hash(ctx, s.d.Norm.NFKC(password))
	if err != nil {
		return
	}
	_, _ = s.d.Users.Update(context.WithoutCancel(ctx), u.ID, func(x *identity.User) error {
		if x.PasswordHash != u.PasswordHash {
			return errHashChanged
		}
		x.PasswordHash = hash
		return nil
	})
}

// stillValid re-reads u, whose password was checked a moment ago: refused is true when the
// user has gone, been disabled, or has a new password hash that password does not match (a
// rehash with the same password is not a change). err wraps ports.ErrUnavailable.
func (s *Service) stillValid(ctx context.Context, u identity.User, password string) (cur identity.User, refused bool, err error) {
	cur, err = s.d.Users.ByID(ctx, u.ID)
	switch {
	case errors.Is(err, ports.ErrNotFound):
		return cur, true, nil
	case err != nil:
		return cur, false, unavailable("login: re-read user", err)
	case cur.Disabled, cur.PasswordResetRequired:
		return cur, true, nil
	case cur.PasswordHash == u.PasswordHash:
		return cur, false, nil
	}
	ok, err := s.d.Hasher.Verify(ctx, cur.PasswordHash, s.d.Norm.NFKC(password))
	if errors.Is(err, ports.ErrUnavailable) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return cur, false, unavailable("login: verify password", err)
	}
	return cur, err != nil || !ok, nil
}

// attempt is a login's place in the lock-out counters, found before its password is checked.
type attempt struct {
	pair, brake string // the limiter keys of its (account, client) and of its account
	braked      bool   // the account's brake was engaged
}

// failureSubject names an (account, client) pair in the limiter: the client's address
// bucket, length-prefixed so that no two pairs share a key, then the normalised e-mail.
func failureSubject(email, ip string) string {
	b := addressBucket(ip)
	return strconv.Itoa(len(b)) + ":" + b + ":" + email
}

// lockout applies the failure limits to a login for email from c before its password is
// checked (Config.LoginFailures, Config.LoginBrake): a refusal is a *RateLimitedError, and
// a login let through while the brake is engaged has waited Config.BrakeDelay first.
func (s *Service) lockout(ctx context.Context, email string, c Client) (attempt, error) {
	fl, bl := s.cfg.LoginFailures, s.cfg.LoginBrake
	at := attempt{pair: keyLoginFailures + failureSubject(email, c.IP), brake: keyLoginBrake + email}
	pairN, pairRetry, err := s.d.Limiter.Count(ctx, at.pair, fl.Window)
	if err != nil {
		return at, unavailable("login: count failures", err)
	}
	if pairN >= fl.N {
		s.auditLocked(ctx, email, c, fmt.Sprintf("%d failed logins from this client within %v", pairN, fl.Window))
		return at, &RateLimitedError{RetryAfter: max(pairRetry, time.Second)}
	}
	brakeN, brakeRetry, err := s.d.Limiter.Count(ctx, at.brake, bl.Window)
	if err != nil {
		return at, unavailable("login: count failures", err)
	}
	if brakeN < bl.N {
		return at, nil
	}
	at.braked = true
	if pairN > 0 {
		// The brake refuses the clients that have failed for this account; either window
		// ending lets the client try again (a clean client's way, or the brake off).
		s.auditLocked(ctx, email, c, fmt.Sprintf("account brake engaged and %d failed logins from this client", pairN))
		return at, &RateLimitedError{RetryAfter: max(min(pairRetry, brakeRetry), time.Second)}
	}
	if s.cfg.BrakeDelay > 0 && !backoff.Sleep(ctx, s.cfg.BrakeDelay) {
		return at, unavailable("login: brake delay", ctx.Err())
	}
	return at, nil
}

// failed counts a failed login against its (account, client) pair and its account, and
// audits the brake engaging.
func (s *Service) failed(ctx context.Context, at attempt, userID string, c Client, now time.Time) error {
	fl, bl := s.cfg.LoginFailures, s.cfg.LoginBrake
	if _, _, err := s.d.Limiter.Allow(ctx, at.pair, fl.N, fl.Window); err != nil {
		return unavailable("login: count failure", err)
	}
	counted, _, err := s.d.Limiter.Allow(ctx, at.brake, bl.N, bl.Window)
	if err != nil {
		return unavailable("login: count failure", err)
	}
	if !counted || at.braked {
		return nil
	}
	// This failure may be the one that engaged the brake (concurrent failures at the
	// threshold may each report it: at least once, never missed).
	n, _, err := s.d.Limiter.Count(ctx, at.brake, bl.Window)
	if err == nil && n >= bl.N {
		s.audit(ctx, audit.Event{At: now, Action: audit.ActionLoginBrake, UserID: userID, ActorID: userID,
			RemoteIP: c.IP, Detail: fmt.Sprintf("%d failed logins for the account within %v", n, bl.Window)})
	}
	return nil
}

// auditLocked records a login refused by a failure limit, with the client's address and,
// when the account exists, its user id.
func (s *Service) auditLocked(ctx context.Context, email string, c Client, detail string) {
	u, _ := s.d.Users.ByEmail(ctx, email) // best effort: an unknown or unreadable account has no id
	s.audit(ctx, audit.Event{At: s.d.Clock.Now(), Action: audit.ActionLoginLocked, UserID: u.ID, ActorID: u.ID,
		RemoteIP: c.IP, Detail: detail})
}

// Refresh rotates a refresh token. A retry of the immediately previous token within the
// grace window returns the same refresh token as the first use (and a fresh access token).
// Any other reuse revokes the whole session. Unknown, malformed, expired or reused tokens,
// access tokens, and tokens of disabled users return ErrInvalidGrant; a store failure wraps
// ports.ErrUnavailable (the client keeps its token and retries).
func (s *Service) Refresh(ctx context.Context, rt session.RefreshToken, c Client) (TokenPair, error) {
	sid, gen, err := s.codec.Parse(rt)
	if err != nil {
		return TokenPair{}, ErrInvalidGrant
	}
	now := s.d.Clock.Now()
	// Everything that can fail for want of a store is read before the session rotates: a
	// refresh answered 503 must leave the session as it was, so the client's retry after the
	// outage still holds the current token (not one rotated away, which would be reuse).
	// The session as this replica last stored it stands in for the read when it can; only a
	// session read from the store may refuse (see hints).
	cur, hinted := s.hints.get(sid)
	if !hinted {
		if cur, err = s.readSession(ctx, sid); err != nil {
			return TokenPair{}, err
		}
	}
	// A dry run of the rotation on a copy: theft is detected even while the user store is down.
	probe := cur
	if _, err := probe.Rotate(gen, now, s.cfg.Session); err != nil {
		if hinted { // another replica may have moved the session on: ask the store
			if cur, err = s.readSession(ctx, sid); err != nil {
				return TokenPair{}, err
			}
			probe = cur
			_, err = probe.Rotate(gen, now, s.cfg.Session)
		}
		if err != nil {
			s.hints.drop(sid)
			return TokenPair{}, s.refreshRefused(ctx, sid, cur.UserID, gen, now, c, err)
		}
	}
	u, err := s.d.Users.ByID(ctx, cur.UserID)
	if err != nil && !errors.Is(err, ports.ErrNotFound) {
		return TokenPair{}, unavailable("refresh: find user", err)
	}
	if err != nil || u.Disabled {
		s.hints.drop(sid)
		if err := s.revokeSession(ctx, sid, now); err != nil {
			return TokenPair{}, err
		}
		return TokenPair{}, ErrInvalidGrant
	}
	if err := s.d.Signer.Ready(ctx); err != nil { // signing must not fail after rotating
		return TokenPair{}, unavailable("refresh", err)
	}
	// cur as seen: on Redis the rotation is one round trip unless the session changed since.
	sess, err := s.d.Sessions.Update(ctx, sid, &cur, func(ss *session.Session) error {
		out, err := ss.Rotate(gen, now, s.cfg.Session)
		if err == nil && out == session.Rotated {
			ss.UserAgent = clip(c.UserAgent, 256)
			ss.RemoteIP = clip(c.IP, 64)
		}
		return err
	})
	if err != nil {
		// The session changed between the read and the rotation (a racing refresh, a logout),
		// and fn refused it as stored.
		s.hints.drop(sid)
		return TokenPair{}, s.refreshRefused(ctx, sid, cur.UserID, gen, now, c, err)
	}
	if sess.UserID != cur.UserID { // not done by any use case; never issue for the wrong user
		s.hints.drop(sid)
		return TokenPair{}, ErrInvalidGrant
	}
	s.hints.put(sess)
	return s.issue(ctx, u, sess, now)
}

// readSession reads session sid for a refresh: gone is an invalid grant.
func (s *Service) readSession(ctx context.Context, sid string) (session.Session, error) {
	cur, err := s.d.Sessions.Get(ctx, sid)
	switch {
	case errors.Is(err, ports.ErrNotFound):
		s.hints.drop(sid)
		return session.Session{}, ErrInvalidGrant
	case err != nil:
		return session.Session{}, unavailable("refresh: read session", err)
	}
	return cur, nil
}

// refreshRefused turns a failed rotation into the answer: reuse revokes the whole session
// (RFC 9700) and is audited; a vanished or expired session is an invalid grant; anything else
// is the store being unavailable.
func (s *Service) refreshRefused(ctx context.Context, sid, userID string, gen uint64, now time.Time, c Client, err error) error {
	switch {
	case errors.Is(err, session.ErrReused):
		if err := s.revokeSession(ctx, sid, now); err != nil {
			return err
		}
		s.audit(ctx, audit.Event{At: now, Action: audit.ActionRefreshReuse, UserID: userID, ActorID: userID,
			RemoteIP: c.IP, Detail: fmt.Sprintf("session %s generation %d", sid, gen)})
		return ErrInvalidGrant
	case errors.Is(err, ports.ErrNotFound), errors.Is(err, session.ErrExpired):
		return ErrInvalidGrant
	default:
		return unavailable("refresh: rotate session", err)
	}
}

// issue signs an access token for u in sess and derives the refresh token of sess's current
// generation.
//
// Times: iat and nbf are now truncated to the whole second (the precision of a JWT
// NumericDate), exp is iat + AccessTTL. See LogoutAll for why the truncation matters.
func (s *Service) issue(ctx context.Context, u identity.User, sess session.Session, now time.Time) (TokenPair, error) {
	iat := now.Truncate(time.Second)
	exp := iat.Add(s.cfg.AccessTTL)
	claims := token.Claims{
		Issuer:    s.cfg.Issuer,
		Subject:   u.ID,
		Audience:  append([]string(nil), s.cfg.Audiences...),
		ExpiresAt: exp,
		IssuedAt:  iat,
		NotBefore: iat,
		ID:        identity.NewID(),
		SessionID: sess.ID,
		ClientID:  s.cfg.ClientID,
		Scope:     s.cfg.Scope,
		Roles:     append([]string(nil), u.Roles...),
	}
	raw, err := s.d.Signer.Sign(ctx, claims)
	if err != nil {
		return TokenPair{}, unavailable("issue", err)
	}
	return TokenPair{
		AccessToken:  raw,
		ExpiresIn:    exp.Sub(now),
		RefreshToken: s.codec.Token(sess.ID, sess.Generation),
		Scope:        s.cfg.Scope,
	}, nil
}

// audit appends e, best effort (see AuditFailures).
func (s *Service) audit(ctx context.Context, e audit.Event) {
	if err := s.d.Audit.Append(context.WithoutCancel(ctx), e); err != nil {
		s.auditFailures.Add(1)
	}
}

// clip cuts s to at most n bytes without splitting a UTF-8 sequence.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
