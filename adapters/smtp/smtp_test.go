package smtp_test

import (
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/keygate/keygate/adapters/smtp"
	"github.com/keygate/keygate/ports"
	"github.com/keygate/keygate/ports/portstest"
	"github.com/keygate/keygate/test/containers"
)

// TestMailer runs the Mailer contract against a real SMTP server that requires STARTTLS and
// AUTH (aiosmtpd, from the testbed).
func TestMailer(t *testing.T) {
	s := containers.StartSMTP(t)
	n := 0
	portstest.RunMailer(t, func(t *testing.T) (ports.Mailer, func(*testing.T, int) []ports.Mail) {
		m, err := smtp.New(smtp.Config{Addr: s.Addr, From: "no-reply@keygate.example", Username: s.User,
			Password: s.Password, CAFile: s.CAFile})
		if err != nil {
			t.Fatal(err)
		}
		// One server for every case: each case sees only what arrived after it started.
		skip := len(s.Received(t, 0))
		n++
		return m, func(t *testing.T, want int) []ports.Mail { return s.Received(t, skip+want)[skip:] }
	})
}

// TestRefusals: what an operator gets wrong is a clear error, and nothing is sent in clear or
// to an untrusted server.
func TestRefusals(t *testing.T) {
	s := containers.StartSMTP(t)
	mail := ports.Mail{To: "erin@example.com", Subject: "x", Text: "x\n"}
	t.Run("wrong password", func(t *testing.T) {
		m, err := smtp.New(smtp.Config{Addr: s.Addr, From: "a@keygate.example", Username: s.User, Password: "wrong", CAFile: s.CAFile})
		if err != nil {
			t.Fatal(err)
		}
		err = m.Send(t.Context(), mail)
		if err == nil || errors.Is(err, ports.ErrUnavailable) || !strings.Contains(err.Error(), "535") {
			t.Errorf("Send with a wrong password = %v, want a permanent 535 refusal", err)
		}
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		m, err := smtp.New(smtp.Config{Addr: s.Addr, From: "a@keygate.example", Username: s.User, Password: s.Password})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Send(t.Context(), mail); err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("Send to a server whose CA is not trusted = %v, want a certificate error", err)
		}
	})
	t.Run("nothing listening", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		m, err := smtp.New(smtp.Config{Addr: addr, From: "a@keygate.example"})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Send(t.Context(), mail); !errors.Is(err, ports.ErrUnavailable) {
			t.Errorf("Send to a closed port = %v, want ErrUnavailable", err)
		}
	})
	if got := s.Received(t, 0); len(got) != 0 {
		t.Errorf("the server accepted %d messages from misconfigured mailers", len(got))
	}
}

func TestConfig(t *testing.T) {
	for name, c := range map[string]smtp.Config{
		"no port":                  {Addr: "mail.example.com", From: "a@example.com"},
		"display name sender":      {Addr: "mail.example.com:587", From: "Keygate <a@example.com>"},
		"no TLS to a remote relay": {Addr: "mail.example.com:25", From: "a@example.com", TLS: smtp.TLSNone},
		"unknown TLS mode":         {Addr: "mail.example.com:587", From: "a@example.com", TLS: "ssl"},
		"user without password":    {Addr: "mail.example.com:587", From: "a@example.com", Username: "u"},
		"missing CA file":          {Addr: "mail.example.com:587", From: "a@example.com", CAFile: "/does/not/exist.pem"},
		"negative timeout":         {Addr: "mail.example.com:587", From: "a@example.com", Timeout: -1},
	} {
		if _, err := smtp.New(c); err == nil {
			t.Errorf("%s: New(%v) = nil error", name, c)
		}
	}
	if _, err := smtp.New(smtp.Config{Addr: "127.0.0.1:25", From: "a@example.com", TLS: smtp.TLSNone}); err != nil {
		t.Errorf("a loopback relay without TLS: %v", err)
	}
}
