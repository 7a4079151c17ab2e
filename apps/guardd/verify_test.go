package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/adapters/memory"
	"github.com/keygate/keygate/adapters/system"
	"github.com/keygate/keygate/apps/verifier"
	"github.com/keygate/keygate/core/guard"
	"github.com/keygate/keygate/core/revocation"
	"github.com/keygate/keygate/test/apptest"
)

// sidecar is guardd's real handler on an in-process revocation store and bus.
type sidecar struct {
	srv   *httptest.Server
	v     *verifier.Verifier
	store *memory.RevocationStore
	bus   *memory.EventBus
	authd *apptest.Issuer
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newSidecar(t testing.TB, held bool) *sidecar {
	t.Helper()
	s := &sidecar{authd: apptest.NewIssuer(held), store: memory.NewRevocationStore(system.Clock{}, nil),
		bus: memory.NewEventBus(memory.EventBusConfig{})}
	t.Cleanup(s.authd.Close)
	v, err := verifier.New(verifier.Config{Guard: guard.Config{Issuer: s.authd.URL, Audiences: []string{"billing"}},
		Revocations: s.store, Events: s.bus, Log: quiet(), Name: "guardd"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	s.v = v
	s.srv = httptest.NewServer(NewHandler(v, quiet()))
	t.Cleanup(s.srv.Close)
	if !held {
		s.waitLoaded(t)
	}
	return s
}

func (s *sidecar) waitLoaded(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.v.WaitLoaded(ctx); err != nil {
		t.Fatal(err)
	}
}

func (s *sidecar) ask(t testing.TB, method, path string, header map[string]string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, s.srv.URL+path, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

// TestVerifyAnswersEveryConvention: nginx auth_request and Traefik forwardAuth ask GET
// /verify with the original request in X-Original-* / X-Forwarded-* headers; Envoy's
// ext_authz asks with the original method on /verify plus the original path. Each gets 200
// and the caller's identity in the documented headers.
func TestVerifyAnswersEveryConvention(t *testing.T) {
	s := newSidecar(t, false)
	tok := s.authd.Sign("user-42", "sid-1", "billing")
	tests := []struct {
		name, method, path string
		header             map[string]string
	}{
		{"nginx auth_request", "GET", "/verify", map[string]string{"X-Original-URI": "/api/invoices?x=1", "X-Original-Method": "POST"}},
		{"traefik forwardAuth", "GET", "/verify", map[string]string{"X-Forwarded-Method": "DELETE", "X-Forwarded-Uri": "/api/invoices/7",
			"X-Forwarded-Host": "shop.example.com", "X-Forwarded-Proto": "https"}},
		{"envoy ext_authz POST", "POST", "/verify/api/invoices", nil},
		{"envoy ext_authz PUT with query", "PUT", "/verify/api/invoices/7?force=1", nil},
		{"envoy ext_authz HEAD", "HEAD", "/verify/api/invoices", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := bearer(tok)
			for k, v := range tt.header {
				h[k] = v
			}
			resp := s.ask(t, tt.method, tt.path, h)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s %s = %d, want 200", tt.method, tt.path, resp.StatusCode)
			}
			want := map[string]string{HeaderSubject: "user-42", HeaderSession: "sid-1", HeaderRoles: "user", HeaderScope: "openid",
				HeaderClientID: "keygate", HeaderTokenID: "jti-sid-1", HeaderAudiences: "billing"}
			for name, v := range want {
				if got := resp.Header.Get(name); got != v {
					t.Errorf("%s = %q, want %q", name, got, v)
				}
			}
			if exp := resp.Header.Get(HeaderExpires); exp == "" || resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("expires %q, cache-control %q", exp, resp.Header.Get("Cache-Control"))
			}
		})
	}
}

// TestVerifyRefuses: no token, a bad token, another service's token and a revoked token are
// 401 with WWW-Authenticate and no identity header; never 200.
func TestVerifyRefuses(t *testing.T) {
	s := newSidecar(t, false)
	tok := s.authd.Sign("user-42", "sid-out", "billing")
	ctx := t.Context()
	e := revocation.Entry{Kind: revocation.KindSession, Key: "sid-out", ExpiresAt: time.Now().Add(time.Hour)}
	seq, err := s.store.Revoke(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.bus.Publish(ctx, revocation.Event{Kind: revocation.EventRevoked, Entry: e, Seq: seq, PublishedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); s.ask(t, "GET", "/verify", bearer(tok)).StatusCode != http.StatusUnauthorized; {
		if time.Now().After(deadline) {
			t.Fatal("revoked token still accepted after 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	tests := []struct {
		name   string
		header map[string]string
		status int
		auth   string
	}{
		{"no token", nil, 401, "Bearer"},
		{"basic scheme", map[string]string{"Authorization": "Basic dTpw"}, 401, "Bearer"},
		{"forged", bearer("not-a-token"), 401, `Bearer error="invalid_token"`},
		{"other audience", bearer(s.authd.Sign("user-42", "sid-2", "orders")), 401, `Bearer error="invalid_token"`},
		{"revoked", bearer(tok), 401, `Bearer error="invalid_token"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := s.ask(t, "GET", "/verify", tt.header)
			if resp.StatusCode != tt.status || resp.Header.Get("WWW-Authenticate") != tt.auth {
				t.Errorf("status %d WWW-Authenticate %q, want %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), tt.status, tt.auth)
			}
			for _, h := range IdentityHeaders {
				if _, ok := resp.Header[h]; ok {
					t.Errorf("refusal carries %s", h)
				}
			}
		})
	}
}

// TestVerifyBeforeFirstLoadIs503: until the keys are loaded, every question gets 503 with
// Retry-After, and /ready is 503 too.
func TestVerifyBeforeFirstLoadIs503(t *testing.T) {
	s := newSidecar(t, true)
	tok := s.authd.Sign("user-42", "sid-1", "billing")
	for _, path := range []string{"/verify", "/verify/api/x"} {
		resp := s.ask(t, "GET", path, bearer(tok))
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s before the first load: %d Retry-After %q, want 503 with Retry-After", path, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
	if st := s.ask(t, "GET", "/ready", nil).StatusCode; st != http.StatusServiceUnavailable {
		t.Errorf("/ready = %d, want 503", st)
	}
	s.authd.Open()
	s.waitLoaded(t)
	if st := s.ask(t, "GET", "/verify", bearer(tok)).StatusCode; st != http.StatusOK {
		t.Errorf("after the first load: %d, want 200", st)
	}
	for path, want := range map[string]int{"/health": 200, "/ready": 200, "/metrics": 404} {
		if st := s.ask(t, "GET", path, nil).StatusCode; st != want {
			t.Errorf("%s = %d, want %d", path, st, want)
		}
	}
}

func TestHeaderValueCannotBreakAHeader(t *testing.T) {
	for in, want := range map[string]string{
		"user-42":        "user-42",
		"openid profile": "openid profile",
		"a\r\nX-Evil: 1": "a%0D%0AX-Evil: 1",
		"50%":            "50%25",
		"zoë":            "zo%C3%AB",
	} {
		if got := headerValue(in); got != want || strings.ContainsAny(got, "\r\n") {
			t.Errorf("headerValue(%q) = %q, want %q", in, got, want)
		}
	}
}
