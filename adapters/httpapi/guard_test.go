package httpapi

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
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
