package verifier_test

import (
	"context"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/adapters/memory"
	"github.com/keygate/keygate/adapters/system"
	"github.com/keygate/keygate/apps/verifier"
	"github.com/keygate/keygate/test/apptest"
)

// TestKeysOverHTTPSWithAPrivateCA: the JWKS served over https:// by a certificate of a
// private CA is fetched with KEYGATE_JWKS_CA_FILE, and not without it (the service keeps
// answering 503 rather than trusting an unknown certificate).
func TestKeysOverHTTPSWithAPrivateCA(t *testing.T) {
	authd := apptest.NewIssuer(false)
	defer authd.Close()
	target, _ := url.Parse(authd.URL)
	front := httptest.NewUnstartedServer(httputil.NewSingleHostReverseProxy(target))
	front.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes of the second half
	front.StartTLS()
	defer front.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: front.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	start := func(env map[string]string) (*verifier.Verifier, *httptest.Server) {
		env["KEYGATE_ISSUER"], env["KEYGATE_JWKS_URL"], env["KEYGATE_DEV"] = authd.URL, front.URL+"/.well-known/jwks.json", "1"
		cfg, err := verifier.FromEnv(apptest.Getenv(env), "billing")
		if err != nil {
			t.Fatal(err)
		}
		cfg.Revocations, cfg.Events, cfg.Log = memory.NewRevocationStore(system.Clock{}, nil), memory.NewEventBus(memory.EventBusConfig{}), quiet()
		v, err := verifier.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(v.Close)
		return v, serve(t, v)
	}
	tok := authd.Sign("alice", "sid-1", "billing")

	v, srv := start(map[string]string{"KEYGATE_JWKS_CA_FILE": ca})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := v.WaitLoaded(ctx); err != nil {
		t.Fatalf("keys over https with the CA file: %v", err)
	}
	if st := get(t, srv.URL+"/api/x", tok).StatusCode; st != http.StatusOK {
		t.Errorf("valid token, keys over https with the CA file: %d, want 200", st)
	}

	v, srv = start(map[string]string{})
	ctx, cancel = context.WithTimeout(t.Context(), 1500*time.Millisecond)
	defer cancel()
	if err := v.WaitLoaded(ctx); err == nil {
		t.Fatal("keys loaded from a server whose certificate no trusted CA signed")
	}
	if st := get(t, srv.URL+"/api/x", tok).StatusCode; st != http.StatusServiceUnavailable {
		t.Errorf("valid token, keys server untrusted: %d, want 503", st)
	}
}

// TestFromEnvHoldsKeysToHTTPS: outside dev mode the keys come over https:// (or loopback), or
// the operator says the plain http:// path is trusted, and is warned.
func TestFromEnvHoldsKeysToHTTPS(t *testing.T) {
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		env      map[string]string
		failing  string // the variable the error names; "" for none
		warnings int
	}{
		{"https JWKS URL", map[string]string{"KEYGATE_JWKS_URL": "https://authd.internal/.well-known/jwks.json"}, "", 0},
		{"plain http JWKS URL", map[string]string{"KEYGATE_JWKS_URL": "http://authd:8080/.well-known/jwks.json"}, "KEYGATE_JWKS_URL", 0},
		{"plain http allowed", map[string]string{"KEYGATE_JWKS_URL": "http://authd:8080/.well-known/jwks.json", "KEYGATE_JWKS_ALLOW_HTTP": "1"}, "", 1},
		{"loopback", map[string]string{"KEYGATE_JWKS_URL": "http://127.0.0.1:8080/.well-known/jwks.json"}, "", 0},
		{"issuer discovery over http", map[string]string{"KEYGATE_ISSUER": "http://auth.example.com"}, "KEYGATE_ISSUER", 0},
		{"dev mode", map[string]string{"KEYGATE_JWKS_URL": "http://authd:8080/.well-known/jwks.json", "KEYGATE_DEV": "1"}, "", 0},
		{"missing CA file", map[string]string{"KEYGATE_JWKS_CA_FILE": filepath.Join(t.TempDir(), "none.pem")}, "KEYGATE_JWKS_CA_FILE", 0},
		{"CA file without a certificate", map[string]string{"KEYGATE_JWKS_CA_FILE": notPEM}, "KEYGATE_JWKS_CA_FILE", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"KEYGATE_ISSUER": "https://auth.example.com", "KEYGATE_AUDIENCE": "billing", "REDIS_ADDR": "redis:6379"}
			for k, v := range tt.env {
				env[k] = v
			}
			c, err := verifier.FromEnv(apptest.Getenv(env), "")
			switch {
			case tt.failing == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.failing != "" && (err == nil || !strings.Contains(err.Error(), "config: "+tt.failing+":")):
				t.Fatalf("error %v, want one naming %s", err, tt.failing)
			case tt.failing == "":
				var n int
				for _, w := range c.Warnings {
					if strings.Contains(w, "KEYGATE_JWKS_ALLOW_HTTP") {
						n++
					}
				}
				if n != tt.warnings {
					t.Errorf("warnings %q, want %d about KEYGATE_JWKS_ALLOW_HTTP", c.Warnings, tt.warnings)
				}
			}
		})
	}
}
