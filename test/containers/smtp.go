package containers

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/keygate/keygate/ports"
)

// EnvSMTPImage names the SMTP server image; there is no official one: test/testbed/up.sh
// builds keygate-testbed/smtp:aiosmtpd (aiosmtpd from Debian, STARTTLS and AUTH required).
const EnvSMTPImage = "KEYGATE_SMTP_IMAGE"

// DefaultSMTPImage is the testbed's image.
const DefaultSMTPImage = "keygate-testbed/smtp:aiosmtpd"

// SMTP is a submission server in a container that requires STARTTLS and AUTH, with a
// certificate from a CA made for the test.
type SMTP struct {
	*Container
	Addr     string // host:port (127.0.0.1)
	CAFile   string // PEM of the CA that signed the server's certificate
	User     string
	Password string
}

// StartSMTP starts a fresh SMTP server for t, terminated when t ends.
func StartSMTP(t testing.TB) *SMTP {
	t.Helper()
	RequireDocker(t)
	dir := t.TempDir()
	caFile, certFile, keyFile := testCertificates(t, dir)
	s := &SMTP{CAFile: caFile, User: "keygate", Password: "smtp-password-for-tests"}
	c := start(t, Image(EnvSMTPImage, DefaultSMTPImage),
		testcontainers.WithExposedPorts("2525/tcp"),
		testcontainers.WithEnv(map[string]string{"SMTP_CERT": "/etc/smtpd/cert.pem", "SMTP_KEY": "/etc/smtpd/key.pem",
			"SMTP_USER": s.User, "SMTP_PASSWORD": s.Password}),
		testcontainers.WithFiles(
			testcontainers.ContainerFile{HostFilePath: certFile, ContainerFilePath: "/etc/smtpd/cert.pem", FileMode: 0o644},
			testcontainers.ContainerFile{HostFilePath: keyFile, ContainerFilePath: "/etc/smtpd/key.pem", FileMode: 0o644}),
		testcontainers.WithWaitStrategy(wait.ForLog("smtpd: ready").WithStartupTimeout(time.Minute)),
	)
	port, err := c.MappedPort(context.Background(), "2525/tcp")
	if err != nil {
		t.Fatalf("containers: smtp port: %v", err)
	}
	s.Container = c
	s.Addr = net.JoinHostPort("127.0.0.1", port.Port())
	return s
}

// Received waits up to 10 s for at least n messages and returns every message the server
// accepted so far, decoded (Subject from its encoded words, body from quoted-printable, CRLF
// as "\n"), oldest first. Each also says whether it came over TLS and after AUTH.
func (s *SMTP) Received(t testing.TB, n int) []ports.Mail {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := s.received(t)
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *SMTP) received(t testing.TB) []ports.Mail {
	t.Helper()
	r, err := s.Logs(context.Background())
	if err != nil {
		t.Fatalf("containers: smtp logs: %v", err)
	}
	defer r.Close()
	var out []ports.Mail
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '{'); i >= 0 {
			line = line[i:]
		} else {
			continue
		}
		var rec struct {
			To   []string `json:"to"`
			Data string   `json:"data"`
			TLS  bool     `json:"tls"`
			User *string  `json:"user"`
		}
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		if !rec.TLS || rec.User == nil || *rec.User != s.User {
			t.Errorf("containers: smtp accepted a message without TLS and AUTH: %s", line)
		}
		msg, err := mail.ReadMessage(strings.NewReader(rec.Data))
		if err != nil {
			t.Fatalf("containers: smtp: message does not parse: %v\n%s", err, rec.Data)
		}
		subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
		if err != nil {
			t.Fatalf("containers: smtp: subject: %v", err)
		}
		body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
		if err != nil {
			t.Fatalf("containers: smtp: body: %v", err)
		}
		if len(rec.To) != 1 || rec.To[0] != msg.Header.Get("To") {
			t.Errorf("containers: smtp: envelope recipients %q, header To %q", rec.To, msg.Header.Get("To"))
		}
		out = append(out, ports.Mail{To: msg.Header.Get("To"), Subject: subject,
			Text: strings.ReplaceAll(string(body), "\r\n", "\n")})
	}
	return out
}

// testCertificates writes a CA and a server certificate for 127.0.0.1 and localhost, signed
// by it, into dir.
func testCertificates(t testing.TB, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	must := func(err error) {
		if err != nil {
			t.Fatalf("containers: certificates: %v", err)
		}
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	now := time.Now()
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "keygate test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	must(err)
	caCert, err := x509.ParseCertificate(caDER)
	must(err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "smtp.test"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), DNSNames: []string{"localhost", "smtp.test"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	must(err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	must(err)
	write := func(name, typ string, b []byte) string {
		p := filepath.Join(dir, name)
		must(os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o644))
		return p
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("cert.pem", "CERTIFICATE", der), write("key.pem", "PRIVATE KEY", keyDER)
}
