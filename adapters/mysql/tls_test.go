package mysql_test

import (
	"crypto/tls"
	"testing"
	"time"

	mysqladapter "github.com/keygate/keygate/adapters/mysql"
	"github.com/keygate/keygate/test/containers"
)

// TestTLS runs MariaDB with a certificate of a CA made here: with Config.TLS and that CA the
// session is encrypted (Ssl_cipher); with another CA's roots the connection is refused (the
// server's certificate is verified); without TLS the same server is plaintext.
func TestTLS(t *testing.T) {
	ca := containers.NewServerTLS(t)
	srv := containers.StartMariaDBTLS(t, ca)
	name := srv.CreateDatabase(t)
	cfg := func(tc *tls.Config) mysqladapter.Config {
		return mysqladapter.Config{Host: srv.Host, Port: srv.Port, User: srv.User, Password: srv.Password, Name: name,
			TLS: tc, DialTimeout: 5 * time.Second}
	}
	cipher := func(c mysqladapter.Config) (string, error) {
		db, cleanup, err := mysqladapter.Open(t.Context(), c)
		if err != nil {
			return "", err
		}
		defer cleanup()
		var variable, value string
		err = db.QueryRowContext(t.Context(), "SHOW SESSION STATUS LIKE 'Ssl_cipher'").Scan(&variable, &value)
		return value, err
	}
	if got, err := cipher(cfg(&tls.Config{MinVersion: tls.VersionTLS12, RootCAs: ca.Roots})); err != nil || got == "" {
		t.Fatalf("with TLS and the server's CA: cipher %q, error %v; want an encrypted session", got, err)
	}
	other := containers.NewServerTLS(t)
	if got, err := cipher(cfg(&tls.Config{MinVersion: tls.VersionTLS12, RootCAs: other.Roots})); err == nil {
		t.Errorf("with another CA's roots: connected (cipher %q), want a certificate error", got)
	}
	if got, err := cipher(cfg(nil)); err != nil || got != "" {
		t.Errorf("without TLS: cipher %q, error %v; want a plaintext session (the control)", got, err)
	}
}
