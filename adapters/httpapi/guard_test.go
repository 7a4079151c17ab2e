package httpapi

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/core/token"
)

// TestRequireToken runs the middleware on a plain net/http mux: what a team's service sees.
func TestRequireToken(t *testing.T) {
	mux := http.NewServeMux()
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := Claims(r.Context())
		fmt.Fprintf(w, "hello %s %v", c.Subject, ok)
	})
	mux.Handle("/api/", RequireToken(testVerifier)(api))
	mux.Handle("/api/admin", RequireToken(testVerifier)(RequireRole("admin")(api)))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	const invalid = `Bearer error="invalid_token"`
	tests := []struct {
		name    string
		path    string
		headers []string
		status  int
		www     string
		body    string
	}{
		{"valid token", "/api/x", []string{"Authorization", "Bearer user-token"}, 200, "", "hello u3 true"},
		{"scheme in lower case", "/api/x", []string{"Authorization", "bearer user-token"}, 200, "", "hello u3 true"},
		{"scheme in upper case", "/api/x", []string{"Authorization", "BEARER user-token"}, 200, "", "hello u3 true"},
		{"no header", "/api/x", nil, 401, "Bearer", ""},
		{"basic scheme", "/api/x", []string{"Authorization", "Basic dXNlcjpwYXNz"}, 401, "Bearer", ""},
		{"scheme without token", "/api/x", []string{"Authorization", "Bearer"}, 401, "Bearer", ""},
		{"scheme with blank token", "/api/x", []string{"Authorization", "Bearer   "}, 401, "Bearer", ""},
		{"two headers", "/api/x", []string{"Authorization", "Bearer user-token", "Authorization", "Bearer admin-token"}, 400, `Bearer error="invalid_request"`, ""},
		{"token in the query is ignored", "/api/x?access_token=user-token", nil, 401, "Bearer", ""},
		{"refused token", "/api/x", []string{"Authorization", "Bearer forged"}, 401, invalid, ""},
		{"keys unavailable: 503, not 401", "/api/x", []string{"Authorization", "Bearer unavailable"}, 503, "", ""},
		{"role present", "/api/admin", []string{"Authorization", "Bearer admin-token"}, 200, "", "hello u1 true"},
		{"role missing", "/api/admin", []string{"Authorization", "Bearer user-token"}, 403, `Bearer error="insufficient_scope"`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := do(t, srv, "GET", tt.path, "", tt.headers...)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.status, body)
			}
			if got := resp.Header.Get("WWW-Authenticate"); got != tt.www {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tt.www)
			}
			if tt.body != "" && string(body) != tt.body {
				t.Errorf("body = %q, want %q", body, tt.body)
			}
			if tt.status == 503 && resp.Header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
			if tt.status == 401 && strings.Contains(string(body), "signature") {
				t.Errorf("401 says why the token was refused: %s", body)
			}
		})
	}
}

func TestClaimsOutsideTheMiddleware(t *testing.T) {
	if _, ok := Claims(t.Context()); ok {
		t.Error("Claims reported claims in a context RequireToken never saw")
	}
}

func TestRequireRoleWithoutRequireToken(t *testing.T) {
	h := RequireRole("admin")(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		t.Error("handler ran without claims")
	}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if w.Code != 401 {
		t.Errorf("status = %d, want 401", w.Code)
	}
}

// TestClaimsThroughDerivedContexts: the claims RequireToken hands on survive the contexts a
// handler derives (values, cancellation, timeouts), and cancelling the request still reaches
// the handler's context.
func TestClaimsThroughDerivedContexts(t *testing.T) {
	type otherKey struct{}
	var got token.Claims
	var ok, cancelled bool
	h := RequireToken(testVerifier)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := context.WithValue(r.Context(), otherKey{}, "x")
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		got, ok = Claims(ctx)
		if ctx.Value(otherKey{}) != "x" {
			t.Error("a value set below the claims is lost")
		}
		<-ctx.Done() // the request's context is cancelled below
		cancelled = true
	}))
	ctx, cancel := context.WithCancel(t.Context())
	r := httptest.NewRequestWithContext(ctx, http.MethodGet, "/api/x", nil)
	r.Header.Set("Authorization", "Bearer admin-token")
	cancel()
	h.ServeHTTP(httptest.NewRecorder(), r)
	if !ok || got.Subject != "u1" || !got.HasRole("admin") || !cancelled {
		t.Errorf("Claims = %+v, %v; cancelled %v; want u1 with admin, true; true", got, ok, cancelled)
	}
	if _, ok := Claims(t.Context()); ok {
		t.Error("Claims found in a context RequireToken never saw")
	}
}
