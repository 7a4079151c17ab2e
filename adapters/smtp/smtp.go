// Package smtp implements ports.Mailer over SMTP with the standard library's net/smtp:
// STARTTLS (required by default) or implicit TLS, AUTH PLAIN, a deadline from the caller's
// context, and a plain-text UTF-8 message in quoted-printable. Headers are built here, never
// from raw input: a To or Subject with a line break is refused.
package smtp

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"os"
	"strings"
	"time"

	"github.com/keygate/keygate/ports"
)

// TLS modes of Config.TLS.
const (
	TLSStartTLS = "starttls" // plain connection upgraded by STARTTLS, which must be offered (port 587)
	TLSImplicit = "tls"      // TLS from the first byte (port 465)
	TLSNone     = "none"     // no TLS: only for a relay on this host (loopback), never with a password elsewhere
)

// DefaultTimeout bounds one Send when the caller's context has no earlier deadline.
const DefaultTimeout = 15 * time.Second

// Config says where and how to send.
type Config struct {
	Addr     string // host:port of the submission server
	From     string // the sender address (envelope and From header)
	Username string // AUTH PLAIN user; empty: no AUTH
	Password string
	TLS      string        // TLSStartTLS (default), TLSImplicit or TLSNone
	CAFile   string        // PEM bundle to trust instead of the system roots (a private CA)
	Timeout  time.Duration // default DefaultTimeout
	Hello    string        // the EHLO name; default "localhost"
}

// String leaves the password out of logs and errors.
func (c Config) String() string {
	return fmt.Sprintf("smtp{addr=%s from=%s user=%s tls=%s}", c.Addr, c.From, c.Username, c.TLS)
}

// Mailer is a ports.Mailer that opens one SMTP session per message. Safe for concurrent use.
type Mailer struct {
	cfg  Config
	host string
	tls  *tls.Config
	from string
}

var _ ports.Mailer = (*Mailer)(nil)

// New checks cfg and returns a Mailer. It does not connect.
func New(cfg Config) (*Mailer, error) {
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil || host == "" {
		return nil, fmt.Errorf("smtp: address %q: want host:port", cfg.Addr)
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil || from.Name != "" || cfg.From != from.Address {
		return nil, fmt.Errorf("smtp: sender %q: want one bare address", cfg.From)
	}
	switch cfg.TLS {
	case "":
		cfg.TLS = TLSStartTLS
	case TLSStartTLS, TLSImplicit:
	case TLSNone:
		if !isLoopback(host) {
			return nil, fmt.Errorf("smtp: TLS %q is allowed only for a relay on loopback, not %q", TLSNone, host)
		}
	default:
		return nil, fmt.Errorf("smtp: TLS mode %q: want %s, %s or %s", cfg.TLS, TLSStartTLS, TLSImplicit, TLSNone)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	} else if cfg.Timeout < 0 {
		return nil, fmt.Errorf("smtp: negative timeout %v", cfg.Timeout)
	}
	if cfg.Hello == "" {
		cfg.Hello = "localhost"
	}
	if (cfg.Username == "") != (cfg.Password == "") {
		return nil, errors.New("smtp: username and password go together")
	}
	tc := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("smtp: CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("smtp: CA file %s holds no PEM certificate", cfg.CAFile)
		}
		tc.RootCAs = pool
	}
	return &Mailer{cfg: cfg, host: host, tls: tc, from: from.Address}, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Send delivers m to the server in one session: connect, EHLO, STARTTLS, AUTH, MAIL, RCPT,
// DATA, QUIT. A connection failure, a timeout or a 4xx reply wraps ports.ErrUnavailable; a
// 5xx reply or a bad message does not.
func (s *Mailer) Send(ctx context.Context, m ports.Mail) error {
	msg, err := s.compose(m)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(s.cfg.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	d := net.Dialer{}
	var conn net.Conn
	if s.cfg.TLS == TLSImplicit {
		conn, err = (&tls.Dialer{NetDialer: &d, Config: s.tls}).DialContext(ctx, "tcp", s.cfg.Addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", s.cfg.Addr)
	}
	if err != nil {
		return fmt.Errorf("smtp: connect %s: %w: %w", s.cfg.Addr, ports.ErrUnavailable, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(deadline)
	// The caller's cancellation ends a session stuck in a read.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if err := s.session(conn, m.To, msg); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("smtp: send: %w: %w", ports.ErrUnavailable, ctx.Err())
		}
		return classify(err)
	}
	return nil
}

func (s *Mailer) session(conn net.Conn, to string, msg []byte) error {
	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello(s.cfg.Hello); err != nil {
		return err
	}
	if s.cfg.TLS == TLSStartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return errNoStartTLS
		}
		if err := c.StartTLS(s.tls); err != nil {
			return err
		}
	}
	if s.cfg.Username != "" {
		// net/smtp's PlainAuth itself refuses to send a password unencrypted except to loopback.
		if err := c.Auth(smtp.PlainAuth("", s.cfg.Username, s.cfg.Password, s.host)); err != nil {
			return err
		}
	}
	if err := c.Mail(s.from); err != nil {
		return err
	}
	if err := c.Rcpt(to); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

var errNoStartTLS = errors.New("smtp: the server does not offer STARTTLS, which this mailer requires (set the TLS mode to tls for port 465)")

// classify wraps a temporary failure (network, 4xx) in ports.ErrUnavailable.
func classify(err error) error {
	var perr *textproto.Error
	if errors.As(err, &perr) {
		if perr.Code >= 400 && perr.Code < 500 {
			return fmt.Errorf("smtp: server answered %d: %w: %s", perr.Code, ports.ErrUnavailable, perr.Msg)
		}
		return fmt.Errorf("smtp: server refused the message (%d %s)", perr.Code, perr.Msg)
	}
	if errors.Is(err, errNoStartTLS) {
		return err
	}
	var tlsErr *tls.CertificateVerificationError
	if errors.As(err, &tlsErr) {
		return fmt.Errorf("smtp: server certificate: %w", err)
	}
	return fmt.Errorf("smtp: send: %w: %w", ports.ErrUnavailable, err)
}

// compose builds the message: headers made here from checked values, a UTF-8 plain-text body
// in quoted-printable with CRLF line ends.
func (s *Mailer) compose(m ports.Mail) ([]byte, error) {
	if strings.ContainsAny(m.To+m.Subject, "\r\n") {
		return nil, errors.New("smtp: a line break in To or Subject")
	}
	to, err := mail.ParseAddress(m.To)
	if err != nil || to.Name != "" || to.Address != m.To {
		return nil, fmt.Errorf("smtp: recipient %q: want one bare address", m.To)
	}
	var id [16]byte
	_, _ = rand.Read(id[:])
	domain := s.from[strings.LastIndexByte(s.from, '@')+1:]
	var b bytes.Buffer
	header := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	header("From", s.from)
	header("To", to.Address)
	header("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	header("Date", time.Now().UTC().Format(time.RFC1123Z))
	header("Message-ID", "<"+hex.EncodeToString(id[:])+"@"+domain+">")
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	header("Auto-Submitted", "auto-generated")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	body := strings.ReplaceAll(strings.ReplaceAll(m.Text, "\r\n", "\n"), "\n", "\r\n")
	if _, err := qp.Write([]byte(body)); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
