package auth

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate/adapters/memory"
	"github.com/keygate/keygate/core/audit"
	"github.com/keygate/keygate/core/identity"
	"github.com/keygate/keygate/core/token"
	"github.com/keygate/keygate/ports"
)

// mailEnv is env with a Mailer (an Outbox) and one-time tokens in memory.
type mailEnv struct {
	*env
	outbox *memory.Outbox
	tokens *memory.OneTimeTokenStore
}

func newMailEnv(t *testing.T, tweak ...func(*Config)) *mailEnv {
	t.Helper()
	e := newEnv(t)
	m := &mailEnv{env: e, outbox: memory.NewOutbox(nil), tokens: memory.NewOneTimeTokenStore(e.clock)}
	e.deps.Mailer, e.deps.Tokens = m.outbox, m.tokens
	for _, f := range tweak {
		f(&e.cfg)
	}
	e.svc = e.service(t, nil)
	return m
}

// mails waits for the background sends and returns what was sent to addr.
func (m *mailEnv) mails(addr string) []ports.Mail {
	m.svc.WaitMail()
	var out []ports.Mail
	for _, ml := range m.outbox.Sent() {
		if ml.To == addr {
			out = append(out, ml)
		}
	}
	return out
}

var linkRE = regexp.MustCompile(`https?://\S+`)

// link returns the token of the link to path in the latest mail to addr that has one (mails
// sent in the background may arrive in any order), checking the mail has exactly one link.
func (m *mailEnv) link(t *testing.T, addr, path string) string {
	t.Helper()
	ms := m.mails(addr)
	want := strings.TrimRight(m.cfg.Issuer, "/") + path
	for i := len(ms) - 1; i >= 0; i-- {
		links := linkRE.FindAllString(ms[i].Text, -1)
		if len(links) != 1 {
			t.Fatalf("mail %q has %d links, want 1:\n%s", ms[i].Subject, len(links), ms[i].Text)
		}
		u, err := url.Parse(links[0])
		if err != nil {
			t.Fatal(err)
		}
		if u.Scheme+"://"+u.Host+u.Path == want {
			return u.Query().Get("token")
		}
	}
	t.Fatalf("no mail to %s with a link to %s (%d mails)", addr, want, len(ms))
	return ""
}

func TestPasswordResetByMail(t *testing.T) {
	m := newMailEnv(t)
	u := m.register(t, "erin@example.com")
	before := m.login(t, "erin@example.com")

	if err := m.svc.RequestPasswordReset(t.Context(), "Erin@Example.com", client); err != nil {
		t.Fatalf("RequestPasswordReset: %v", err)
	}
	secret := m.link(t, "erin@example.com", ResetPath)
	const newPassword = "a brand new passphrase"
	if err := m.svc.ResetPassword(t.Context(), secret, newPassword, client); err != nil {
		t.Fatalf("ResetPassword: %v", err)
	}

	if _, err := m.svc.Login(t.Context(), "erin@example.com", testPassword, client); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("login with the old password = %v, want ErrInvalidCredentials", err)
	}
	if _, err := m.svc.Login(t.Context(), "erin@example.com", newPassword, client); err != nil {
		t.Errorf("login with the new password: %v", err)
	}
	if _, err := m.verify(t, before.AccessToken); !errors.Is(err, token.ErrRevoked) {
		t.Errorf("access token from before the reset = %v, want revoked (all sessions are)", err)
	}
	if _, err := m.svc.Refresh(t.Context(), before.RefreshToken, client); !errors.Is(err, ErrInvalidGrant) {
		t.Errorf("refresh token from before the reset = %v, want ErrInvalidGrant", err)
	}
	if err := m.svc.ResetPassword(t.Context(), secret, "yet another passphrase", client); !errors.Is(err, ErrInvalidLink) {
		t.Errorf("second use of the link = %v, want ErrInvalidLink", err)
	}
	got, _ := m.users.ByID(t.Context(), u.ID)
	if !got.EmailVerified {
		t.Errorf("after a reset through the mailed link the address is not verified")
	}
	acts := m.auditActions(t, u.ID)
	for _, want := range []audit.Action{audit.ActionPasswordResetRequested, audit.ActionPasswordReset} {
		if !slices.Contains(acts, want) {
			t.Errorf("audit %v lacks %s", acts, want)
		}
	}
}

func TestPasswordResetNoEnumeration(t *testing.T) {
	m := newMailEnv(t)
	m.register(t, "erin@example.com")
	known := m.svc.RequestPasswordReset(t.Context(), "erin@example.com", client)
	unknown := m.svc.RequestPasswordReset(t.Context(), "nobody@example.com", client)
	if known != nil || unknown != nil {
		t.Fatalf("RequestPasswordReset known = %v, unknown = %v; want nil for both", known, unknown)
	}
	if n := len(m.mails("nobody@example.com")); n != 0 {
		t.Errorf("%d mails to an address without an account", n)
	}
	if n := len(m.mails("erin@example.com")); n != 2 { // the verification mail, then the reset
		t.Errorf("%d mails to erin, want 2 (verification, reset)", n)
	}
	if err := m.svc.RequestPasswordReset(t.Context(), "not an address", client); !errors.Is(err, identity.ErrInvalidEmail) {
		t.Errorf("RequestPasswordReset(malformed) = %v, want ErrInvalidEmail", err)
	}
}

func TestPasswordResetLimits(t *testing.T) {
	m := newMailEnv(t, func(c *Config) { c.LimitMail = Limit{N: 2, Window: time.Hour} })
	for _, addr := range []string{"erin@example.com", "nobody@example.com"} {
		if addr == "erin@example.com" {
			m.register(t, addr) // one mail (verification) counted already
			_ = m.svc.RequestPasswordReset(t.Context(), addr, client)
		} else {
			_ = m.svc.RequestPasswordReset(t.Context(), addr, client)
			_ = m.svc.RequestPasswordReset(t.Context(), addr, client)
		}
		err := m.svc.RequestPasswordReset(t.Context(), addr, client)
		if _, ok := errors.AsType[*RateLimitedError](err); !ok {
			t.Errorf("third mail to %s = %v, want a rate limit, the same for an address with and without an account", addr, err)
		}
	}
	m.clock.Advance(time.Hour)
	if err := m.svc.RequestPasswordReset(t.Context(), "erin@example.com", client); err != nil {
		t.Errorf("after the window: %v", err)
	}
}

func TestResetLinkRefusals(t *testing.T) {
	m := newMailEnv(t)
	m.register(t, "erin@example.com")
	request := func() string {
		t.Helper()
		if err := m.svc.RequestPasswordReset(t.Context(), "erin@example.com", client); err != nil {
			t.Fatal(err)
		}
		return m.link(t, "erin@example.com", ResetPath)
	}
	t.Run("malformed", func(t *testing.T) {
		for _, s := range []string{"", "x", strings.Repeat("A", 5000), "../../etc/passwd"} {
			if err := m.svc.ResetPassword(t.Context(), s, "a new passphrase", client); !errors.Is(err, ErrInvalidLink) {
				t.Errorf("ResetPassword(%.20q) = %v, want ErrInvalidLink", s, err)
			}
		}
	})
	t.Run("expired", func(t *testing.T) {
		s := request()
		m.clock.Advance(DefaultResetTTL + time.Second)
		if err := m.svc.ResetPassword(t.Context(), s, "a new passphrase", client); !errors.Is(err, ErrInvalidLink) {
			t.Errorf("ResetPassword past the link's life = %v, want ErrInvalidLink", err)
		}
	})
	t.Run("weak password keeps the link", func(t *testing.T) {
		s := request()
		if err := m.svc.ResetPassword(t.Context(), s, "short", client); !errors.Is(err, identity.ErrInvalidPassword) {
			t.Errorf("ResetPassword with a short password = %v, want ErrInvalidPassword", err)
		}
		if err := m.svc.ResetPassword(t.Context(), s, "a good new passphrase", client); err != nil {
			t.Errorf("the link after a refused password: %v", err)
		}
	})
	t.Run("older links die with a new password", func(t *testing.T) {
		first, second := request(), request()
		if err := m.svc.ResetPassword(t.Context(), second, "the second passphrase", client); err != nil {
			t.Fatal(err)
		}
		if err := m.svc.ResetPassword(t.Context(), first, "the first passphrase", client); !errors.Is(err, ErrInvalidLink) {
			t.Errorf("a link older than the last reset = %v, want ErrInvalidLink", err)
		}
	})
	t.Run("verify link is no reset link", func(t *testing.T) {
		m.register(t, "finn@example.com")
		s := m.link(t, "finn@example.com", VerifyPath)
		if err := m.svc.ResetPassword(t.Context(), s, "a new passphrase", client); !errors.Is(err, ErrInvalidLink) {
			t.Errorf("ResetPassword with a verification token = %v, want ErrInvalidLink", err)
		}
	})
}

func TestResetConcurrentUseOneWins(t *testing.T) {
	m := newMailEnv(t)
	m.register(t, "erin@example.com")
	if err := m.svc.RequestPasswordReset(t.Context(), "erin@example.com", client); err != nil {
		t.Fatal(err)
	}
	s := m.link(t, "erin@example.com", ResetPath)
	var ok, invalid atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			err := m.svc.ResetPassword(t.Context(), s, "passphrase number "+string(rune('a'+i)), client)
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, ErrInvalidLink):
				invalid.Add(1)
			default:
				t.Errorf("ResetPassword: %v", err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 || invalid.Load() != 7 {
		t.Errorf("8 concurrent uses of one link: %d succeeded, %d invalid; want exactly 1", ok.Load(), invalid.Load())
	}
}

func TestEmailVerification(t *testing.T) {
	m := newMailEnv(t)
	u := m.register(t, "erin@example.com")
	if u.EmailVerified {
		t.Fatalf("a new user is verified")
	}
	s := m.link(t, "erin@example.com", VerifyPath)
	if err := m.svc.VerifyEmail(t.Context(), s, client); err != nil {
		t.Fatalf("VerifyEmail: %v", err)
	}
	got, _ := m.users.ByID(t.Context(), u.ID)
	if !got.EmailVerified {
		t.Errorf("after VerifyEmail the user is not verified")
	}
	if err := m.svc.VerifyEmail(t.Context(), s, client); !errors.Is(err, ErrInvalidLink) {
		t.Errorf("second use of the verification link = %v, want ErrInvalidLink", err)
	}
	if !slices.Contains(m.auditActions(t, u.ID), audit.ActionEmailVerified) {
		t.Errorf("verification not audited")
	}

	t.Run("resend", func(t *testing.T) {
		v := m.register(t, "finn@example.com")
		tp := m.login(t, "finn@example.com")
		if err := m.svc.ResendVerification(t.Context(), m.claims(t, tp.AccessToken), client); err != nil {
			t.Fatal(err)
		}
		if n := len(m.mails("finn@example.com")); n != 2 {
			t.Fatalf("%d mails, want 2", n)
		}
		if err := m.svc.VerifyEmail(t.Context(), m.link(t, "finn@example.com", VerifyPath), client); err != nil {
			t.Fatal(err)
		}
		if got, _ := m.users.ByID(t.Context(), v.ID); !got.EmailVerified {
			t.Errorf("not verified by the resent link")
		}
	})
	t.Run("address changed since", func(t *testing.T) {
		v := m.register(t, "gail@example.com")
		s := m.link(t, "gail@example.com", VerifyPath)
		if _, err := m.users.Update(t.Context(), v.ID, func(u *identity.User) error { u.Email = "gail2@example.com"; return nil }); err != nil {
			t.Fatal(err)
		}
		if err := m.svc.VerifyEmail(t.Context(), s, client); !errors.Is(err, ErrInvalidLink) {
			t.Errorf("a link to the old address = %v, want ErrInvalidLink", err)
		}
	})
}

func TestRegisterVerifyModeNoEnumeration(t *testing.T) {
	m := newMailEnv(t, func(c *Config) { c.Registration = RegisterVerify })
	newU, errNew := m.svc.Register(t.Context(), "erin@example.com", testPassword, "Erin", client)
	again, errAgain := m.svc.Register(t.Context(), "erin@example.com", "another passphrase", "Mallory", client)
	if errNew != nil || errAgain != nil {
		t.Fatalf("Register new = %v, taken = %v; want nil for both", errNew, errAgain)
	}
	if newU.ID != "" || again.ID != "" {
		t.Errorf("Register in verify mode returned a user (%q, %q): the answers must not differ", newU.ID, again.ID)
	}
	if n := m.hasher.hashes.Load(); n != 2 {
		t.Errorf("%d password hashes for two registrations, want 2 (equal work for a taken address)", n)
	}
	ms := m.mails("erin@example.com")
	if len(ms) != 2 {
		t.Fatalf("%d mails, want the verification and the notice", len(ms))
	}
	if !strings.Contains(ms[0].Subject+ms[1].Subject, "Someone tried to register") {
		t.Errorf("no notice to the owner: %q, %q", ms[0].Subject, ms[1].Subject)
	}
	owner, err := m.users.ByEmail(t.Context(), "erin@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(m.auditActions(t, owner.ID), audit.ActionRegister) { // m.mails waited for the background work
		t.Errorf("the registration in verify mode is not audited: %v", m.auditActions(t, owner.ID))
	}
	// The notice's link resets the owner's password.
	if err := m.svc.ResetPassword(t.Context(), m.link(t, "erin@example.com", ResetPath), "the owner's new one", client); err != nil {
		t.Errorf("the notice's reset link: %v", err)
	}
	if _, err := m.svc.Login(t.Context(), "erin@example.com", "another passphrase", client); err == nil {
		t.Errorf("the second registration's password logs in")
	}
	// Without a Mailer, verify mode is refused.
	cfg := m.cfg
	cfg.Registration = RegisterVerify
	d := m.deps
	d.Mailer = nil
	if _, err := New(d, cfg); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("New(verify mode, no Mailer) = %v, want ErrInvalidConfig", err)
	}
}

func TestRegisterOpenModeKeepsConflict(t *testing.T) {
	m := newMailEnv(t)
	m.register(t, "erin@example.com")
	if _, err := m.svc.Register(t.Context(), "erin@example.com", testPassword, "", client); !errors.Is(err, ErrEmailTaken) {
		t.Errorf("open mode, taken address = %v, want ErrEmailTaken", err)
	}
}

func TestForcePasswordReset(t *testing.T) {
	m := newMailEnv(t)
	u := m.register(t, "erin@example.com")
	tp := m.login(t, "erin@example.com")
	admin := token.Claims{Subject: "admin-1", Roles: []string{identity.RoleAdmin}}

	if err := m.svc.ForcePasswordReset(t.Context(), token.Claims{Subject: u.ID}, u.ID, client); !errors.Is(err, ErrForbidden) {
		t.Errorf("ForcePasswordReset without the admin role = %v, want ErrForbidden", err)
	}
	if err := m.svc.ForcePasswordReset(t.Context(), admin, "no-such-user", client); !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("ForcePasswordReset(unknown) = %v, want ErrNotFound", err)
	}
	// A reset link mailed before the forced reset is void after it.
	if err := m.svc.RequestPasswordReset(t.Context(), "erin@example.com", client); err != nil {
		t.Fatal(err)
	}
	old := m.link(t, "erin@example.com", ResetPath)

	if err := m.svc.ForcePasswordReset(t.Context(), admin, u.ID, client); err != nil {
		t.Fatalf("ForcePasswordReset: %v", err)
	}
	if _, err := m.verify(t, tp.AccessToken); !errors.Is(err, token.ErrRevoked) {
		t.Errorf("access token after a forced reset = %v, want revoked", err)
	}
	if _, err := m.svc.Login(t.Context(), "erin@example.com", testPassword, client); !errors.Is(err, ErrPasswordResetRequired) {
		t.Errorf("login with the right password after a forced reset = %v, want ErrPasswordResetRequired", err)
	}
	if _, err := m.svc.Login(t.Context(), "erin@example.com", "a wrong password", client); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("login with a wrong password after a forced reset = %v, want ErrInvalidCredentials (nothing more)", err)
	}
	if err := m.svc.ResetPassword(t.Context(), old, "a new passphrase", client); !errors.Is(err, ErrInvalidLink) {
		t.Errorf("a link from before the forced reset = %v, want ErrInvalidLink", err)
	}
	ms := m.mails("erin@example.com")
	if last := ms[len(ms)-1]; last.Subject != "Choose a new password" {
		t.Errorf("last mail %q, want the forced reset's", last.Subject)
	}
	if err := m.svc.ResetPassword(t.Context(), m.link(t, "erin@example.com", ResetPath), "a new passphrase", client); err != nil {
		t.Fatalf("the forced reset's link: %v", err)
	}
	if _, err := m.svc.Login(t.Context(), "erin@example.com", "a new passphrase", client); err != nil {
		t.Errorf("login after the reset: %v", err)
	}
	evs, _ := m.audit.ByUser(t.Context(), u.ID, 100)
	forced := slices.IndexFunc(evs, func(e audit.Event) bool { return e.Action == audit.ActionPasswordResetForced })
	if forced < 0 || evs[forced].ActorID != "admin-1" {
		t.Errorf("forced reset not audited with the admin as actor: %+v", evs)
	}
}

func TestMailDisabled(t *testing.T) {
	e := newEnv(t)
	u := e.register(t, "erin@example.com")
	admin := token.Claims{Subject: "admin-1", Roles: []string{identity.RoleAdmin}}
	for name, err := range map[string]error{
		"request": e.svc.RequestPasswordReset(t.Context(), "erin@example.com", client),
		"reset":   e.svc.ResetPassword(t.Context(), strings.Repeat("A", 43), "a new passphrase", client),
		"verify":  e.svc.VerifyEmail(t.Context(), strings.Repeat("A", 43), client),
		"force":   e.svc.ForcePasswordReset(t.Context(), admin, u.ID, client),
		"resend":  e.svc.ResendVerification(t.Context(), token.Claims{Subject: u.ID}, client),
	} {
		if !errors.Is(err, ErrMailDisabled) {
			t.Errorf("%s without a Mailer = %v, want ErrMailDisabled", name, err)
		}
	}
	if got, _ := e.users.ByID(t.Context(), u.ID); got.PasswordResetRequired {
		t.Errorf("a refused forced reset changed the user")
	}
}

func TestMailFailureReported(t *testing.T) {
	m := newMailEnv(t)
	m.deps.Mailer = failingMailer{}
	m.svc = m.service(t, nil)
	m.register(t, "erin@example.com") // its verification mail fails in the background
	m.svc.WaitMail()
	if n := m.svc.MailFailures(); n != 1 {
		t.Errorf("MailFailures = %d, want 1", n)
	}
	select {
	case err := <-m.svc.MailErrors():
		if !errors.Is(err, ports.ErrUnavailable) {
			t.Errorf("reported %v, want ErrUnavailable", err)
		}
	default:
		t.Errorf("no error reported on MailErrors")
	}
}

// failingMailer is a mail server that cannot be reached.
type failingMailer struct{}

func (failingMailer) Send(context.Context, ports.Mail) error {
	return fmt.Errorf("test: send: %w", ports.ErrUnavailable)
}
