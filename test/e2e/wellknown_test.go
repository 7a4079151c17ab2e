package e2e

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
)

func TestJWKSAndDiscovery(t *testing.T) {
	s := startStack(t, nil)

	d := want(t, s.call(t, "GET", s.auth+"/.well-known/openid-configuration", "", nil), 200, "discovery")
	doc := d.json(t)
	if doc["issuer"] != s.auth || doc["jwks_uri"] != s.auth+"/.well-known/jwks.json" {
		t.Errorf("discovery = %v, want issuer %s and its jwks_uri", doc, s.auth)
	}
	if v, ok := doc["id_token_signing_alg_values_supported"]; ok {
		t.Errorf("id_token_signing_alg_values_supported = %v advertised, but keygate issues no ID token", v)
	}
	m := want(t, s.call(t, "GET", s.auth+"/.well-known/oauth-authorization-server", "", nil), 200, "RFC 8414 metadata")
	if string(m.body) != string(d.body) {
		t.Errorf("RFC 8414 metadata %s differs from the discovery document %s", m.body, d.body)
	}

	r := want(t, s.call(t, "GET", s.auth+"/.well-known/jwks.json", "", nil), 200, "jwks")
	if got, want := r.header.Get("Cache-Control"), "public, max-age=300, stale-if-error=86400"; got != want {
		t.Errorf("Cache-Control = %q, want %q", got, want)
	}
	ct := r.header.Get("Content-Type")
	if ct != "application/jwk-set+json" && ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	etag := r.header.Get("ETag")
	if etag == "" {
		t.Fatal("JWKS without ETag")
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(r.body, &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) == 0 {
		t.Fatal("empty JWKS")
	}
	for _, k := range set.Keys {
		if k["kty"] != "OKP" || k["crv"] != "Ed25519" || k["alg"] != "EdDSA" || k["use"] != "sig" || k["kid"] == nil {
			t.Errorf("key %v", k)
		}
		if x, _ := k["x"].(string); len(mustB64(t, x)) != 32 {
			t.Errorf("key x %v is not 32 bytes", k["x"])
		}
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
			if _, ok := k[private]; ok {
				t.Errorf("JWKS publishes private member %q", private)
			}
		}
	}

	nm := s.call(t, "GET", s.auth+"/.well-known/jwks.json", "", nil, "If-None-Match", etag)
	want(t, nm, 304, "JWKS with its ETag")
	if len(nm.body) != 0 || nm.header.Get("ETag") != etag {
		t.Errorf("304 body %q, ETag %q", nm.body, nm.header.Get("ETag"))
	}
}

func mustB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Errorf("not base64url: %q", s)
	}
	return b
}

// TestOperationsEndpoints: every service answers /health and a terse /ready on its public
// port, and serves no /metrics there; its admin listener answers /ready with details, and
// /metrics with the names of docs/configuration.md.
func TestOperationsEndpoints(t *testing.T) {
	s := startStack(t, nil)
	s.register(t, "ops@example.com", "correct horse battery")
	tok := s.login(t, "ops@example.com", "correct horse battery")
	s.ordersStatus(t, tok.access)

	for name, base := range map[string]string{"authd": s.auth, "orders": s.orders, "payments": s.payments} {
		want(t, s.call(t, "GET", base+"/health", "", nil), 200, name+" /health")
		r := want(t, s.call(t, "GET", base+"/ready", "", nil), 200, name+" /ready")
		if got := strings.TrimSpace(string(r.body)); got != `{"status":"ready"}` {
			t.Errorf("%s public /ready = %s, want only the status", name, got)
		}
		want(t, s.call(t, "GET", base+"/metrics", "", nil), 404, name+" public /metrics")

		admin := s.admin[name]
		want(t, s.call(t, "GET", admin+"/health", "", nil), 200, name+" admin /health")
		r = want(t, s.call(t, "GET", admin+"/ready", "", nil), 200, name+" admin /ready")
		if checks, _ := r.json(t)["checks"].(map[string]any); len(checks) < 2 {
			t.Errorf("%s admin /ready without details: %s", name, r.body)
		}
		m := want(t, s.call(t, "GET", admin+"/metrics", "", nil), 200, name+" admin /metrics")
		for _, metric := range []string{"http_request_duration_seconds", "keygate_revocation_entries"} {
			if !strings.Contains(string(m.body), metric) {
				t.Errorf("%s /metrics lacks %s", name, metric)
			}
		}
	}
	m := s.call(t, "GET", s.admin["orders"]+"/metrics", "", nil)
	if !strings.Contains(string(m.body), `keygate_token_validations_total{result="ok"}`) {
		t.Errorf("orders /metrics has no ok validation after a valid call")
	}
}
