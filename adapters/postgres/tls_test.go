package postgres_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keygate/keygate/adapters/postgres"
	"github.com/keygate/keygate/test/containers"
)

// testCA is a CA that signs a server certificate for 127.0.0.1 and localhost.
type testCA struct {
	pool       *x509.CertPool // the CA's certificate, for RootCAs
	serverCert []byte         // the server's certificate, PEM
	serverKey  []byte         // the server's key, PEM
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "keygate test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srvTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), DNSNames: []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return &testCA{pool: pool,
		serverCert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srvDER}),
		serverKey:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})}
}

// TestTLS runs PostgreSQL with ssl=on and a certificate of a CA made here: with Config.TLS
// and that CA every connection is encrypted; with another CA's roots the connection is
// refused (the server's certificate is verified); without TLS the same server is plaintext.
func TestTLS(t *testing.T) {
	srv := containers.StartPostgres(t)
	ca := newTestCA(t)
	ctx := t.Context()
	for path, b := range map[string][]byte{"/tmp/kg-server.crt": ca.serverCert, "/tmp/kg-server.key": ca.serverKey} {
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
		ssl, err = encrypted(cfg(&tls.Config{MinVersion: tls.VersionTLS12, RootCAs: ca.pool}))
		if (err == nil && ssl) || time.Now().After(deadline) {
			break
		}
	}
	if err != nil || !ssl {
		t.Fatalf("with TLS and the server's CA: encrypted %v, error %v; want an encrypted connection", ssl, err)
	}
	other := newTestCA(t)
	if ssl, err := encrypted(cfg(&tls.Config{MinVersion: tls.VersionTLS12, RootCAs: other.pool})); err == nil {
		t.Errorf("with another CA's roots: connected (encrypted %v), want a certificate error", ssl)
	}
	if ssl, err := encrypted(cfg(nil)); err != nil || ssl {
		t.Errorf("without TLS: encrypted %v, error %v; want a plaintext connection (the control)", ssl, err)
	}
}
