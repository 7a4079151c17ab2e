package e2e

import (
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/keygate/keygate/ports"
	"github.com/keygate/keygate/test/containers"
)

var mailedToken = regexp.MustCompile(`(/password/reset|/email/verify)\?token=([A-Za-z0-9_-]{43})`)

// linkIn returns the token of the link to path in the mails to addr (the last one).
func linkIn(t *testing.T, mails []ports.Mail, addr, path string) string {
	t.Helper()
	tok := ""
	for _, m := range mails {
		if m.To != addr {
			continue
		}
		for _, l := range mailedToken.FindAllStringSubmatch(m.Text, -1) {
			if l[1] == path {
				tok = l[2]
			}
		}
	}
	if tok == "" {
		t.Fatalf("no mail to %s with a link to %s among %d mails", addr, path, len(mails))
	}
	return tok
}

// TestAccountMailsThroughSMTP: the dev stack with KEYGATE_SMTP_* pointed at a real SMTP server
// (aiosmtpd in a container: STARTTLS and AUTH required, a private CA): registration answers
// 202 for a new and a taken address alike (verify mode is the default with SMTP), the
// verification and reset mails arrive through the server, and their links work end to end.
func TestAccountMailsThroughSMTP(t *testing.T) {
	smtp := containers.StartSMTP(t)
	s := startStack(t, map[string]string{
		"KEYGATE_SMTP_ADDR": smtp.Addr, "KEYGATE_SMTP_FROM": "no-reply@keygate.example",
		"KEYGATE_SMTP_USER": smtp.User, "KEYGATE_SMTP_PASSWORD": smtp.Password, "KEYGATE_SMTP_CA_FILE": smtp.CAFile,
	})
	const addr, pw = "ivy@example.com", "correct horse battery"
	first := want(t, s.call(t, "POST", s.auth+"/register", "", credentials(addr, pw)), 202, "register")
	again := want(t, s.call(t, "POST", s.auth+"/register", "", credentials(addr, "another passphrase")), 202, "register a taken address")
	if string(first.body) != string(again.body) {
		t.Errorf("register answers differ: %s vs %s", first.body, again.body)
	}
	mails := smtp.Received(t, 2)
	verify := linkIn(t, mails, addr, "/email/verify")
	if !strings.Contains(mails[0].Text+mails[1].Text, s.auth+"/") {
		t.Errorf("the links do not point at authd's public URL %s", s.auth)
	}
	want(t, s.call(t, "POST", s.auth+"/email/verify", "", `{"token":"`+verify+`"}`), 204, "verify")

	tok := s.login(t, addr, pw)
	if me := want(t, s.call(t, "GET", s.auth+"/me", tok.access, nil), 200, "me").json(t); me["email_verified"] != true {
		t.Errorf("/me after verification: %v", me)
	}

	want(t, s.call(t, "POST", s.auth+"/password/reset", "", `{"email":"`+addr+`"}`), 202, "reset request")
	reset := linkIn(t, smtp.Received(t, 3), addr, "/password/reset")
	if _, err := url.Parse(s.auth + "/password/reset?token=" + reset); err != nil {
		t.Fatal(err)
	}
	const newPW = "ivy's new passphrase"
	want(t, s.call(t, "POST", s.auth+"/password/reset/confirm", "", `{"token":"`+reset+`","new_password":"`+newPW+`"}`), 204, "confirm")
	if r := s.call(t, "POST", s.auth+"/password/reset/confirm", "", `{"token":"`+reset+`","new_password":"`+newPW+`"}`); r.status != 400 || r.json(t)["code"] != "invalid_link" {
		t.Errorf("second use of the link: %d %s, want 400 invalid_link", r.status, r.body)
	}
	s.refusedSoon(t, tok.access, "the password reset")
	s.login(t, addr, newPW)
}
