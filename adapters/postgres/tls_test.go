package postgres_test

import (
	"context"
	"crypto/tls"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keygate/keygate/adapters/postgres"
	"github.com/keygate/keygate/test/containers"
)

// TestTLS runs PostgreSQL with ssl=on and a certificate of a CA made here: with Config.TLS
// and that CA every connection is encrypted; with another CA's roots the connection is
// refused (the server's certificate is verified); without TLS the same server is plaintext.
func TestTLS(t *testing.T) {
	srv := containers.StartPostgres(t)
	ca := containers.NewServerTLS(t)
	ctx := t.Context()
	for path, b := range map[string][]byte{"/tmp/kg-server.crt": ca.CertPEM, "/tmp/kg-server.key": ca.KeyPEM} {
		if err := srv.CopyToContainer(ctx, b, path, 0o600); err != nil {
			t.Fatalf("copy %s: %v", path, err)
		}
	}
	srv.Exec(t, "chown", "postgres:postgres", "/tmp/kg-server.crt", "/tmp/kg-server.key")
	admin, err := pgx.Connect(ctx, srv.URL(""))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.WithoutCancel(ctx))
	for _, q := range []string{`ALTER SYSTEM SET ssl_cert_file = '/tmp/kg-server.crt'`,
		`ALTER SYSTEM SET ssl_key_file = '/tmp/kg-server.key'`, `ALTER SYSTEM SET ssl = on`, `SELECT pg_reload_conf()`} {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	name := srv.CreateDatabase(t)
	cfg := func(tc *tls.Config) postgres.Config {
		return postgres.Config{Host: srv.Host, Port: srv.Port, User: srv.User, Password: srv.Password, Name: name,
			SSLMode: "disable", TLS: tc, DialTimeout: 5 * time.Second}
	}
	encrypted := func(c postgres.Config) (bool, error) {
		pool, cleanup, err := postgres.Open(ctx, c)
		if err != nil {
			return false, err
		}
		defer cleanup()
		var ssl bool
		err = pool.QueryRow(ctx, `SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()`).Scan(&ssl)
		return ssl, err
	}
	// The reload takes effect for new connections; give it a moment.
	var ssl bool
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		ssl, err = encrypted(cfg(&tls.Config{MinVersion: tls.VersionTLS12, RootCAs: ca.Roots}))
		if (err == nil && ssl) || time.Now().After(deadline) {
			break
		}
	}
	if err != nil || !ssl {
		t.Fatalf("with TLS and the server's CA: encrypted %v, error %v; want an encrypted connection", ssl, err)
	}
	other := containers.NewServerTLS(t)
	if ssl, err := encrypted(cfg(&tls.Config{MinVersion: tls.VersionTLS12, RootCAs: other.Roots})); err == nil {
		t.Errorf("with another CA's roots: connected (encrypted %v), want a certificate error", ssl)
	}
	if ssl, err := encrypted(cfg(nil)); err != nil || ssl {
		t.Errorf("without TLS: encrypted %v, error %v; want a plaintext connection (the control)", ssl, err)
	}
}
