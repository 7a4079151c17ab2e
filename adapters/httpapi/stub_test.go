package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate/core/audit"
	"github.com/keygate/keygate/core/auth"
	"github.com/keygate/keygate/core/identity"
	"github.com/keygate/keygate/core/session"
	"github.com/keygate/keygate/core/token"
	"github.com/keygate/keygate/ports"
)

// The router's behaviour with the real core is tested end to end in test/e2e; these stubs
// let this package's tests pin down the HTTP layer alone.

// scriptedService answers every use case with fixed data: one user, alice@example.com with
// password "correct horse", and records the client address and arguments it was given.
type scriptedService struct {
	mu        sync.Mutex
	lastIP    string
	lastHint  string
	lastToken string
	lastAfter string
	lastLimit int
	err       error // when set, every call fails with it
	jwksDoc   []byte
	jwksETag  string
	mode      auth.RegistrationMode // "" is open
}

var alice = identity.User{ID: "u1", Email: "alice@example.com", Name: "Alice", Roles: []string{"admin"},
	CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}

func (s *scriptedService) note(c auth.Client) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastIP = c.IP
	return s.err
}

func (s *scriptedService) Register(_ context.Context, email, password, name string, c auth.Client) (identity.User, error) {
	if err := s.note(c); err != nil {
		return identity.User{}, err
	}
	return identity.User{ID: "u2", Email: email, Name: name, CreatedAt: alice.CreatedAt}, nil
}

func (s *scriptedService) Login(_ context.Context, email, password string, c auth.Client) (auth.TokenPair, error) {
	if err := s.note(c); err != nil {
		return auth.TokenPair{}, err
	}
	if email != alice.Email || password != "correct horse" {
		return auth.TokenPair{}, auth.ErrInvalidCredentials
	}
	return auth.TokenPair{AccessToken: "at-1", ExpiresIn: 15 * time.Minute, RefreshToken: "rt-1"}, nil
}

func (s *scriptedService) Refresh(_ context.Context, rt session.RefreshToken, c auth.Client) (auth.TokenPair, error) {
	if err := s.note(c); err != nil {
		return auth.TokenPair{}, err
	}
	if rt != "rt-1" {
		return auth.TokenPair{}, auth.ErrInvalidGrant
	}
	return auth.TokenPair{AccessToken: "at-2", ExpiresIn: 15 * time.Minute, RefreshToken: "rt-2"}, nil
}

func (s *scriptedService) Logout(_ context.Context, _ token.Claims, c auth.Client) error {
	return s.note(c)
}

func (s *scriptedService) LogoutAll(_ context.Context, _ token.Claims, c auth.Client) error {
	return s.note(c)
}

func (s *scriptedService) ChangePassword(_ context.Context, _ token.Claims, current, next string, c auth.Client) (auth.TokenPair, error) {
	if err := s.note(c); err != nil {
		return auth.TokenPair{}, err
	}
	switch {
	case current != "correct horse":
		return auth.TokenPair{}, auth.ErrWrongPassword
	case len(next) < 8:
		return auth.TokenPair{}, identity.ErrInvalidPassword
	case next == "session gone":
		return auth.TokenPair{}, nil
	}
	return auth.TokenPair{AccessToken: "at-3", ExpiresIn: 15 * time.Minute, RefreshToken: "rt-1"}, nil
}

func (s *scriptedService) Revoke(_ context.Context, raw, hint string, c auth.Client) error {
	s.mu.Lock()
	s.lastToken, s.lastHint = raw, hint
	s.mu.Unlock()
	return s.note(c)
}

func (s *scriptedService) Me(_ context.Context, p token.Claims) (identity.User, error) {
	if s.err != nil {
		return identity.User{}, s.err
	}
	return alice, nil
}

func (s *scriptedService) Sessions(_ context.Context, p token.Claims) ([]session.Session, error) {
	return []session.Session{{ID: "s1", UserID: p.Subject}, {ID: "s2", UserID: p.Subject}}, s.err
}

func (s *scriptedService) RevokeSession(_ context.Context, _ token.Claims, sid string, c auth.Client) error {
	if sid != "s1" {
		return ports.ErrNotFound
	}
	return s.note(c)
}

func (s *scriptedService) ListUsers(_ context.Context, _ token.Claims, after string, limit int) ([]identity.User, error) {
	s.mu.Lock()
	s.lastAfter, s.lastLimit = after, limit
	s.mu.Unlock()
	return []identity.User{alice}, s.err
}

func (s *scriptedService) DisableUser(_ context.Context, _ token.Claims, id string, c auth.Client) error {
	return s.note(c)
}

func (s *scriptedService) RevokeUser(_ context.Context, _ token.Claims, id string, c auth.Client) error {
	return s.note(c)
}

func (s *scriptedService) EnableUser(_ context.Context, _ token.Claims, id string, c auth.Client) error {
	return s.note(c)
}

func (s *scriptedService) GrantRole(_ context.Context, _ token.Claims, id, role string, c auth.Client) error {
	if err := identity.CheckRole(role); err != nil {
		return err
	}
	return s.note(c)
}

func (s *scriptedService) RevokeRole(_ context.Context, _ token.Claims, id, role string, c auth.Client) error {
	if err := identity.CheckRole(role); err != nil {
		return err
	}
	return s.note(c)
}

func (s *scriptedService) AuditOf(_ context.Context, _ token.Claims, id string, limit int) ([]audit.Event, error) {
	return []audit.Event{{ID: 1, Action: audit.ActionLoginSuccess, UserID: id}}, s.err
}

func (s *scriptedService) Registration() auth.RegistrationMode {
	if s.mode == "" {
		return auth.RegisterOpen
	}
	return s.mode
}

func (s *scriptedService) RequestPasswordReset(_ context.Context, _ string, c auth.Client) error {
	return s.note(c)
}

func (s *scriptedService) ResetPassword(_ context.Context, secret, _ string, c auth.Client) error {
	return s.note(c)
}

func (s *scriptedService) VerifyEmail(_ context.Context, secret string, c auth.Client) error {
	return s.note(c)
}

func (s *scriptedService) ResendVerification(_ context.Context, _ token.Claims, c auth.Client) error {
	return s.note(c)
}

func (s *scriptedService) ForcePasswordReset(_ context.Context, _ token.Claims, _ string, c auth.Client) error {
	return s.note(c)
}

func (s *scriptedService) JWKS(context.Context) ([]byte, string, error) {
	if s.err != nil {
		return nil, "", s.err
	}
	return s.jwksDoc, s.jwksETag, nil
}

// tableVerifier accepts the tokens in its map, refuses others with token.ErrBadSignature,
// and answers token.ErrKeysUnavailable for the token "unavailable".
type tableVerifier map[string]token.Claims

func (v tableVerifier) Authenticate(_ context.Context, raw string) (token.Claims, error) {
	if raw == "unavailable" {
		return token.Claims{}, token.ErrKeysUnavailable
	}
	c, ok := v[raw]
	if !ok {
		return token.Claims{}, token.ErrBadSignature
	}
	return c, nil
}

var testVerifier = tableVerifier{
	"user-token":  {Subject: "u3", SessionID: "s1"},
	"admin-token": {Subject: "u1", SessionID: "s9", Roles: []string{"admin"}},
}

// newTestServer serves the auth router over the stubs.
func newTestServer(t *testing.T, svc *scriptedService, cfg Config) *httptest.Server {
	t.Helper()
	if cfg.Discovery == nil {
		cfg.Discovery = []byte(`{"issuer":"https://auth.example.com","jwks_uri":"https://auth.example.com/.well-known/jwks.json"}`)
	}
	srv := httptest.NewServer(NewAuthRouter(svc, testVerifier, cfg))
	t.Cleanup(srv.Close)
	return srv
}

// do sends one request; headers are pairs of name and value (a name may repeat).
func do(t *testing.T, srv *httptest.Server, method, path, body string, headers ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}
