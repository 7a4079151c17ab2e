package auth

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/keygate/keygate/core/audit"
	"github.com/keygate/keygate/core/identity"
	"github.com/keygate/keygate/core/onetime"
	"github.com/keygate/keygate/core/token"
	"github.com/keygate/keygate/ports"
)

// RegistrationMode says how Register answers for an address that is registered already.
type RegistrationMode string

// Registration modes (Config.Registration).
const (
	// RegisterOpen answers a taken address with ErrEmailTaken (HTTP 409): anyone can learn
	// whether an address has an account. The only mode without a Mailer.
	RegisterOpen RegistrationMode = "open"
	// RegisterVerify answers a new and a taken address alike (HTTP 202) and tells the owner by
	// mail: a new account gets a verification link, the owner of a taken address a notice
	// with a reset link. It needs a Mailer.
	RegisterVerify RegistrationMode = "verify"
)

// Defaults of the account e-mails.
const (
	DefaultResetTTL  = 30 * time.Minute
	DefaultVerifyTTL = 48 * time.Hour
)

// Paths of the links in account e-mails, below Config.PublicURL; the secret follows in the
// query parameter "token".
const (
	ResetPath  = "/password/reset"
	VerifyPath = "/email/verify"
)

// mailTimeout bounds one account e-mail sent in the background (the token stored, the mail
// handed to the server).
const mailTimeout = 30 * time.Second

// maxMailsInFlight bounds the background sends; past it a send waits for a slot (within
// mailTimeout).
const maxMailsInFlight = 32

// Rate-limit key prefixes of the account e-mails.
const (
	keyResetAddress  = "reset:ip:"
	keyVerifyAddress = "verify:ip:"
	keyMailAccount   = "mail:acct:"
)

// resetStamp is the state a reset token is bound to: a new password, a forced reset or a
// changed address since the mail was sent voids it.
func resetStamp(u identity.User) string {
	return onetime.StampOf("reset", u.PasswordHash, strconv.FormatBool(u.PasswordResetRequired), u.Email)
}

// verifyStamp binds a verification token to the address it was sent to.
func verifyStamp(u identity.User) string { return onetime.StampOf("verify", u.Email) }

// MailEnabled reports whether this service sends account e-mails (it has a Mailer).
func (s *Service) MailEnabled() bool { return s.d.Mailer != nil }

// Registration returns the registration mode in effect.
func (s *Service) Registration() RegistrationMode { return s.cfg.Registration }

// MailErrors delivers the errors of account e-mails sent in the background (a reset request
// or a registration answers before its mail is sent), for the composition to log; when
// nobody reads them fast enough they are dropped, and counted by MailFailures either way.
func (s *Service) MailErrors() <-chan error { return s.mailErrs }

// MailFailures returns how many account e-mails sent in the background failed.
func (s *Service) MailFailures() uint64 { return s.mailFailures.Load() }

// WaitMail waits until the account e-mails started so far are sent (or failed): for a clean
// shutdown, and for tests.
func (s *Service) WaitMail() { s.mailWG.Wait() }

// later runs send in the background with its own deadline (the request that started it may
// end first), at most maxMailsInFlight at once; a failure is counted and reported on
// MailErrors.
func (s *Service) later(ctx context.Context, send func(ctx context.Context) error) {
	s.mailWG.Add(1)
	go func() {
		defer s.mailWG.Done()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), mailTimeout)
		defer cancel()
		err := ctx.Err()
		select {
		case s.mailSlots <- struct{}{}:
			err = send(ctx)
			<-s.mailSlots
		case <-ctx.Done():
		}
		if err != nil {
			s.mailFailures.Add(1)
			select {
			case s.mailErrs <- err:
			default:
			}
		}
	}()
}

// link returns the URL of an account e-mail's link: PublicURL + path + "?token=" + secret.
func (s *Service) link(path string, secret onetime.Secret) string {
	return s.cfg.PublicURL + path + "?token=" + url.QueryEscape(string(secret))
}

// mailAllowed counts one account e-mail to addr against LimitMail and reports whether it may
// be sent; a limiter failure wraps ports.ErrUnavailable.
func (s *Service) mailAllowed(ctx context.Context, addr string) (bool, error) {
	err := s.allow(ctx, keyMailAccount, addr, s.cfg.LimitMail)
	if _, limited := errors.AsType[*RateLimitedError](err); limited {
		return false, nil
	}
	return err == nil, err
}

// issue stores a fresh token of purpose p for u and returns its secret.
func (s *Service) issueToken(ctx context.Context, p onetime.Purpose, u identity.User, ttl time.Duration, stamp string) (onetime.Secret, error) {
	secret, tok := onetime.New(p, u.ID, stamp, s.d.Clock.Now().Add(ttl))
	if err := s.d.Tokens.Put(ctx, tok); err != nil {
		return "", unavailable("store one-time token", err)
	}
	return secret, nil
}

// sendReset stores a reset token for u and mails its link. intro is the mail's first
// paragraph, saying why it was sent.
func (s *Service) sendReset(ctx context.Context, u identity.User, subject, intro string) error {
	secret, err := s.issueToken(ctx, onetime.PurposeReset, u, s.cfg.ResetTTL, resetStamp(u))
	if err != nil {
		return err
	}
	text := intro + "\n\nTo choose a new password, open this link within " + human(s.cfg.ResetTTL) + ":\n" +
		s.link(ResetPath, secret) + "\n\nThe link works once. Setting a new password signs you out everywhere.\n"
	if err := s.d.Mailer.Send(ctx, ports.Mail{To: u.Email, Subject: subject, Text: text}); err != nil {
		return unavailable("send reset mail", err)
	}
	return nil
}

// sendVerify stores a verification token for u and mails its link.
func (s *Service) sendVerify(ctx context.Context, u identity.User) error {
	secret, err := s.issueToken(ctx, onetime.PurposeVerify, u, s.cfg.VerifyTTL, verifyStamp(u))
	if err != nil {
		return err
	}
	text := "Welcome to keygate. To confirm that " + u.Email + " is your address, open this link within " +
		human(s.cfg.VerifyTTL) + ":\n" + s.link(VerifyPath, secret) +
		"\n\nIf you did not create this account, ignore this mail.\n"
	if err := s.d.Mailer.Send(ctx, ports.Mail{To: u.Email, Subject: "Confirm your e-mail address", Text: text}); err != nil {
		return unavailable("send verification mail", err)
	}
	return nil
}

// human writes d as the mail says it: "30 minutes", "48 hours".
func human(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return plural(int(d/time.Hour), "hour")
	case d%time.Minute == 0:
		return plural(int(d/time.Minute), "minute")
	}
	return d.String()
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}

// registered handles a registration once the user is created (u) or the address found taken
// (taken): it mails the verification link or, to the owner of a taken address, a notice. The
// work that differs is done in the background, so both answer in about the same time.
func (s *Service) registered(ctx context.Context, norm string, u identity.User, taken bool, c Client) error {
	if s.d.Mailer == nil {
		return nil
	}
	ok, err := s.mailAllowed(ctx, norm)
	if err != nil || !ok {
		return err // over the limit: no mail, the same answer
	}
	s.later(ctx, func(ctx context.Context) error {
		if !taken {
			return s.sendVerify(ctx, u)
		}
		owner, err := s.d.Users.ByEmail(ctx, norm)
		if err != nil {
			return unavailable("register: notify owner", err)
		}
		if owner.Disabled {
			return nil
		}
		return s.sendReset(ctx, owner, "Someone tried to register with your address",
			"Someone (perhaps you) tried to create a keygate account with "+owner.Email+
				", which already has one; no new account was created. If it was you and you forgot your password, you can set a new one below; otherwise ignore this mail.")
	})
	return nil
}

// RequestPasswordReset mails a password-reset link to the account with this e-mail, if there
// is one that is not disabled. It answers the same, in about the same time, whether or not
// there is: the token and the mail are made in the background. Requests are rate-limited per
// client address (key "reset:ip:<ip>") and per address (key "mail:acct:<email>", LimitMail,
// shared with the other account e-mails): a refusal is a *RateLimitedError for any address.
// ErrMailDisabled without a Mailer; a malformed address wraps identity.ErrInvalidEmail.
func (s *Service) RequestPasswordReset(ctx context.Context, email string, c Client) error {
	if s.d.Mailer == nil {
		return ErrMailDisabled
	}
	if err := s.allow(ctx, keyResetAddress, c.IP, s.cfg.LimitAddress); err != nil {
		return err
	}
	norm, err := identity.NormalizeEmail(email, s.d.Norm.Email)
	if err != nil {
		return fmt.Errorf("auth: password reset: %w", err)
	}
	if err := s.allow(ctx, keyMailAccount, norm, s.cfg.LimitMail); err != nil {
		return err
	}
	u, err := s.d.Users.ByEmail(ctx, norm)
	switch {
	case errors.Is(err, ports.ErrNotFound):
		return nil
	case err != nil:
		return unavailable("password reset: find user", err)
	}
	if u.Disabled {
		return nil // a reset must not bring a disabled account back
	}
	now := s.d.Clock.Now()
	s.later(ctx, func(ctx context.Context) error {
		s.audit(ctx, audit.Event{At: now, Action: audit.ActionPasswordResetRequested, UserID: u.ID, ActorID: u.ID,
			RemoteIP: c.IP})
		return s.sendReset(ctx, u, "Reset your password",
			"Someone (hopefully you) asked to reset the password of the keygate account "+u.Email+
				". If it was not you, ignore this mail: your password stays as it is.")
	})
	return nil
}

// ResetPassword sets the password of the account a reset link was sent to: secret is the
// link's token, used up by this call. The new password follows the registration policy
// (checked before the token is used). Every session and access token of the user is revoked
// (pushed to verifiers), a forced reset is cleared, the address counts as verified (the link
// reached it), and the reset is audited. An unknown, malformed, expired or used token, or one
// issued before the password or the address last changed, returns ErrInvalidLink. Attempts
// are rate-limited per client address (key "reset:ip:<ip>").
func (s *Service) ResetPassword(ctx context.Context, secret, newPassword string, c Client) error {
	if s.d.Mailer == nil {
		return ErrMailDisabled
	}
	if err := s.allow(ctx, keyResetAddress, c.IP, s.cfg.LimitAddress); err != nil {
		return err
	}
	if err := identity.CheckPassword(newPassword); err != nil {
		return fmt.Errorf("auth: password reset: %w", err)
	}
	tok, err := s.take(ctx, onetime.PurposeReset, secret)
	if err != nil {
		return err
	}
	hash, err := s.d.Hasher.Hash(ctx, s.d.Norm.NFKC(newPassword))
	if err != nil {
		// The token is not the user's fault: give it back for the retry (best effort).
		_ = s.d.Tokens.Put(context.WithoutCancel(ctx), tok)
		return unavailable("password reset: hash", err)
	}
	now := s.d.Clock.Now()
	u, err := s.d.Users.Update(ctx, tok.UserID, func(u *identity.User) error {
		if u.Disabled || !onetime.StampMatches(tok.Stamp, resetStamp(*u)) {
			return ErrInvalidLink
		}
		u.PasswordHash = hash
		u.PasswordResetRequired = false
		u.EmailVerified = true
		u.UpdatedAt = now
		return nil
	})
	switch {
	case errors.Is(err, ErrInvalidLink), errors.Is(err, ports.ErrNotFound):
		return ErrInvalidLink
	case err != nil:
		_ = s.d.Tokens.Put(context.WithoutCancel(ctx), tok)
		return unavailable("password reset: update user", err)
	}
	if _, _, err := s.revokeSubject(ctx, u.ID, sweepAll); err != nil {
		return err
	}
	s.audit(ctx, audit.Event{At: now, Action: audit.ActionPasswordReset, UserID: u.ID, ActorID: u.ID, RemoteIP: c.IP})
	return nil
}

// VerifyEmail marks the address a verification link was sent to as verified: secret is the
// link's token, used up by this call. An unknown, malformed, expired or used token, or one
// sent to an address the user no longer has, returns ErrInvalidLink. Attempts are
// rate-limited per client address (key "verify:ip:<ip>").
func (s *Service) VerifyEmail(ctx context.Context, secret string, c Client) error {
	if s.d.Mailer == nil {
		return ErrMailDisabled
	}
	if err := s.allow(ctx, keyVerifyAddress, c.IP, s.cfg.LimitAddress); err != nil {
		return err
	}
	tok, err := s.take(ctx, onetime.PurposeVerify, secret)
	if err != nil {
		return err
	}
	now := s.d.Clock.Now()
	u, err := s.d.Users.Update(ctx, tok.UserID, func(u *identity.User) error {
		if !onetime.StampMatches(tok.Stamp, verifyStamp(*u)) {
			return ErrInvalidLink
		}
		if !u.EmailVerified {
			u.EmailVerified = true
			u.UpdatedAt = now
		}
		return nil
	})
	switch {
	case errors.Is(err, ErrInvalidLink), errors.Is(err, ports.ErrNotFound):
		return ErrInvalidLink
	case err != nil:
		_ = s.d.Tokens.Put(context.WithoutCancel(ctx), tok)
		return unavailable("verify e-mail: update user", err)
	}
	s.audit(ctx, audit.Event{At: now, Action: audit.ActionEmailVerified, UserID: u.ID, ActorID: u.ID, RemoteIP: c.IP})
	return nil
}

// ResendVerification mails the caller a new verification link, unless their address is
// verified already (then it does nothing). Rate-limited per address (LimitMail): a refusal is
// a *RateLimitedError. ErrMailDisabled without a Mailer.
func (s *Service) ResendVerification(ctx context.Context, p token.Claims, c Client) error {
	if s.d.Mailer == nil {
		return ErrMailDisabled
	}
	u, err := s.Me(ctx, p)
	if err != nil {
		return err
	}
	if u.EmailVerified {
		return nil
	}
	if err := s.allow(ctx, keyMailAccount, u.Email, s.cfg.LimitMail); err != nil {
		return err
	}
	return s.sendVerify(ctx, u)
}

// take uses up the token of purpose p whose secret is given: ErrInvalidLink if there is none.
func (s *Service) take(ctx context.Context, p onetime.Purpose, secret string) (onetime.Token, error) {
	hash, err := onetime.Hash(onetime.Secret(strings.TrimSpace(secret)))
	if err != nil {
		return onetime.Token{}, ErrInvalidLink
	}
	tok, err := s.d.Tokens.Take(ctx, p, hash)
	switch {
	case errors.Is(err, ports.ErrNotFound):
		return onetime.Token{}, ErrInvalidLink
	case err != nil:
		return onetime.Token{}, unavailable("use link", err)
	}
	return tok, nil
}

// ForcePasswordReset (admin) requires a user to choose a new password: the current one stops
// logging in (Login answers ErrPasswordResetRequired to whoever still knows it), every
// session and access token of the user is revoked (pushed to verifiers), reset links sent
// before are void, and a new reset link is mailed to the user. Audited. ErrForbidden without
// the admin role; ErrMailDisabled without a Mailer (the user could never set a password);
// an unknown user wraps ports.ErrNotFound. When the mail cannot be sent the error wraps
// ports.ErrUnavailable and the rest is done: calling again sends a new link.
func (s *Service) ForcePasswordReset(ctx context.Context, p token.Claims, userID string, c Client) error {
	if err := requireAdmin(p); err != nil {
		return err
	}
	if s.d.Mailer == nil {
		return ErrMailDisabled
	}
	now := s.d.Clock.Now()
	u, err := s.d.Users.Update(ctx, userID, func(u *identity.User) error {
		u.PasswordResetRequired = true
		u.UpdatedAt = now
		return nil
	})
	switch {
	case errors.Is(err, ports.ErrNotFound):
		return fmt.Errorf("auth: force password reset: %w", ports.ErrNotFound)
	case err != nil:
		return unavailable("force password reset", err)
	}
	if _, _, err := s.revokeSubject(ctx, userID, sweepAll); err != nil {
		return err
	}
	s.audit(ctx, audit.Event{At: now, Action: audit.ActionPasswordResetForced, UserID: userID, ActorID: p.Subject,
		RemoteIP: c.IP})
	return s.sendReset(ctx, u, "Choose a new password",
		"An administrator of keygate requires a new password for the account "+u.Email+
			": your current password no longer signs in, and you have been signed out everywhere.")
}
