package main

import (
	"bytes"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/keygate/keygate/core/auth"
)

// TestUsersForceReset: keygatectl users force-reset signs the user out, their password stops
// logging in (403 password_reset_required at the API), and the reset link mailed to them (dev
// mode prints it) sets a new one.
func TestUsersForceReset(t *testing.T) {
	var mails bytes.Buffer
	c, tl := memoryCLIMailing(t, &mails)
	client := auth.Client{IP: "192.0.2.1"}
	if _, err := tl.svc.Register(t.Context(), "hana@example.com", "correct horse battery", "", client); err != nil {
		t.Fatal(err)
	}
	pair, err := tl.svc.Login(t.Context(), "hana@example.com", "correct horse battery", client)
	if err != nil {
		t.Fatal(err)
	}

	out := mustCtl(t, c, "users", "force-reset", "HANA@example.com")
	if !strings.Contains(out, "forced a password reset") {
		t.Errorf("force-reset said %q", out)
	}
	if _, err := tl.svc.Refresh(t.Context(), pair.RefreshToken, client); !errors.Is(err, auth.ErrInvalidGrant) {
		t.Errorf("refresh after force-reset = %v, want invalid grant", err)
	}
	if _, err := tl.svc.Login(t.Context(), "hana@example.com", "correct horse battery", client); !errors.Is(err, auth.ErrPasswordResetRequired) {
		t.Errorf("login after force-reset = %v, want ErrPasswordResetRequired", err)
	}
	m := regexp.MustCompile(`/password/reset\?token=([A-Za-z0-9_-]{43})`).FindAllStringSubmatch(mails.String(), -1)
	if len(m) == 0 {
		t.Fatalf("no reset link mailed:\n%s", mails.String())
	}
	if err := tl.svc.ResetPassword(t.Context(), m[len(m)-1][1], "hana's new passphrase", client); err != nil {
		t.Fatalf("the mailed link: %v", err)
	}
	if _, err := tl.svc.Login(t.Context(), "hana@example.com", "hana's new passphrase", client); err != nil {
		t.Errorf("login with the new password: %v", err)
	}
	if _, err := ctl(t, c, "users", "force-reset", "nobody@example.com"); err == nil {
		t.Errorf("force-reset of an unknown user succeeded")
	}
}
