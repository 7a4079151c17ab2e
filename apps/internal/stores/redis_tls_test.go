package stores

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/apps/internal/env"
)

// writeCA writes a self-signed CA certificate as PEM and returns its path.
func writeCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "keygate test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadRedisTLS(t *testing.T) {
	ca := writeCA(t)
	notPEM := filepath.Join(t.TempDir(), "ca.txt")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		env       map[string]string
		wantAddrs []string
		wantTLS   bool
		wantCA    bool
		wantErr   string // the variable the error names; "" for none
	}{
		{"plain", map[string]string{"REDIS_ADDR": "redis:6379"}, []string{"redis:6379"}, false, false, ""},
		{"rediss addresses", map[string]string{"REDIS_ADDR": "rediss://r-0:26379,rediss://r-1:26379", "REDIS_MASTER_NAME": "keygate"},
			[]string{"r-0:26379", "r-1:26379"}, true, false, ""},
		{"REDIS_TLS=1", map[string]string{"REDIS_ADDR": "redis:6379", "REDIS_TLS": "1"}, []string{"redis:6379"}, true, false, ""},
		{"a CA file", map[string]string{"REDIS_ADDR": "rediss://redis:6379", "REDIS_CA_FILE": ca}, []string{"redis:6379"}, true, true, ""},
		{"mixed schemes", map[string]string{"REDIS_ADDR": "rediss://a:6379,b:6379"}, nil, false, false, "REDIS_ADDR"},
		{"another scheme", map[string]string{"REDIS_ADDR": "redis://a:6379"}, nil, false, false, "REDIS_ADDR"},
		{"missing CA file", map[string]string{"REDIS_ADDR": "redis:6379", "REDIS_CA_FILE": filepath.Join(t.TempDir(), "none.pem")}, nil, false, false, "REDIS_CA_FILE"},
		{"CA file without a certificate", map[string]string{"REDIS_ADDR": "redis:6379", "REDIS_CA_FILE": notPEM}, nil, false, false, "REDIS_CA_FILE"},
		{"TLS without an address", map[string]string{"REDIS_TLS": "1"}, nil, false, false, "REDIS_TLS"},
		{"bad REDIS_TLS", map[string]string{"REDIS_ADDR": "redis:6379", "REDIS_TLS": "maybe"}, nil, false, false, "REDIS_TLS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := env.New(func(k string) string { return tt.env[k] })
			cfg, _ := LoadRedis(r, func(k string) string { return tt.env[k] })
			err := r.Err()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("error %v", err)
			}
			if !slices.Equal(cfg.Addrs, tt.wantAddrs) {
				t.Errorf("addrs %q, want %q", cfg.Addrs, tt.wantAddrs)
			}
			if got := cfg.TLS != nil; got != tt.wantTLS {
				t.Fatalf("TLS %v, want %v", got, tt.wantTLS)
			}
			if cfg.TLS == nil {
				return
			}
			if cfg.TLS.InsecureSkipVerify || cfg.TLS.MinVersion < 0x0303 {
				t.Errorf("TLS config %+v: must verify the server, TLS 1.2 at least", cfg.TLS)
			}
			if got := cfg.TLS.RootCAs != nil; got != tt.wantCA {
				t.Errorf("custom roots %v, want %v", got, tt.wantCA)
			}
		})
	}
}
