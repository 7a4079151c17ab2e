package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keygate/keygate/ports"
)

func readJSON(t *testing.T, resp *http.Response) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("decode %s body: %v", resp.Request.URL.Path, err)
	}
	return m
}

// TestStrictJSONBodies is the bad-input catalogue of the JSON endpoints (anchors-security
// 2.B): a client that sends anything but one small, exact JSON object gets a 4xx, and the
// use case never runs.
func TestStrictJSONBodies(t *testing.T) {
	srv := newTestServer(t, &scriptedService{}, Config{})
	const ct = "application/json"
	tests := []struct {
		name        string
		path        string
		contentType string
		body        string
		status      int
		code        string
	}{
		{"valid login", "/login", ct, `{"email":"alice@example.com","password":"correct horse"}`, 200, ""},
		{"charset is fine", "/login", "application/json; charset=UTF-8", `{"email":"alice@example.com","password":"correct horse"}`, 200, ""},
		{"L-01 body over 8 KiB", "/login", ct, `{"email":"` + strings.Repeat("a", 9000) + `","password":"x"}`, 413, "body_too_large"},
		{"L-01 100 MB body refused by Content-Length", "/login", ct, strings.Repeat(" ", 100<<20), 413, "body_too_large"},
		{"L-02 nested object as a value", "/login", ct, `{"email":{"a":{"b":{"c":1}}},"password":"x"}`, 400, "invalid_request"},
		{"L-02 deep nesting", "/login", ct, `{"email":` + strings.Repeat("[", 50) + strings.Repeat("]", 50) + `}`, 400, "invalid_request"},
		{"L-03 duplicate keys", "/login", ct, `{"email":"a@b.c","email":"alice@example.com","password":"correct horse"}`, 400, "invalid_request"},
		{"L-03 duplicate keys differing in escapes", "/login", ct, `{"email":"alice@example.com","\u0065mail":"x","password":"correct horse"}`, 400, "invalid_request"},
		// encoding/json matches member names case-insensitively (and folds U+017F to s), so a
		// case variant is the same member for the decoder: a second value a filter in front
		// of keygate would not see.
		{"L-03 duplicate keys differing in case", "/login", ct, `{"email":"a@b.c","EMAIL":"alice@example.com","password":"correct horse"}`, 400, "invalid_request"},
		{"L-03 duplicate keys folding like the decoder", "/login", ct, `{"email":"alice@example.com","password":"wrong horse","paſſword":"correct horse"}`, 400, "invalid_request"},
		// The decoder turns invalid UTF-8 and lone surrogates into U+FFFD, so different
		// passwords would collapse into one.
		{"invalid UTF-8 in a value", "/login", ct, "{\"email\":\"alice@example.com\",\"password\":\"correct horse\xff\"}", 400, "invalid_request"},
		{"lone surrogate escape", "/login", ct, `{"email":"alice@example.com","password":"correct horse\ud800"}`, 400, "invalid_request"},
		{"lone low surrogate escape", "/login", ct, `{"email":"alice@example.com","password":"\udc00correct horse"}`, 400, "invalid_request"},
		{"high surrogate before another escape", "/login", ct, `{"email":"alice@example.com","password":"correct horse\ud800\u0041"}`, 400, "invalid_request"},
		{"escaped backslash before u is no escape", "/login", ct, `{"email":"alice@example.com","password":"correct horse\\ud800"}`, 401, "invalid_credentials"},
		{"register surrogate pair and U+FFFD are fine", "/register", ct, `{"email":"c@x.y","password":"long enough","name":"\ud83d\ude00 �"}`, 201, ""},
		{"L-04 unknown field", "/login", ct, `{"email":"alice@example.com","password":"correct horse","admin":true}`, 400, "invalid_request"},
		{"L-04 trailing object", "/login", ct, `{"email":"alice@example.com","password":"correct horse"}{}`, 400, "invalid_request"},
		{"L-04 trailing garbage", "/login", ct, `{"email":"alice@example.com","password":"correct horse"} x`, 400, "invalid_request"},
		{"L-04 wrong content type", "/login", "text/plain", `{"email":"alice@example.com","password":"correct horse"}`, 415, "unsupported_media_type"},
		{"L-04 form content type", "/login", "application/x-www-form-urlencoded", `email=a&password=b`, 415, "unsupported_media_type"},
		{"L-04 no content type", "/login", "", `{"email":"alice@example.com","password":"correct horse"}`, 415, "unsupported_media_type"},
		{"L-04 other charset", "/login", "application/json; charset=latin1", `{}`, 415, "unsupported_media_type"},
		{"empty body", "/login", ct, ``, 400, "invalid_request"},
		{"array body", "/login", ct, `[]`, 400, "invalid_request"},
		{"null body", "/login", ct, `null`, 400, "invalid_request"},
		{"string body", "/login", ct, `"alice"`, 400, "invalid_request"},
		{"wrong type", "/login", ct, `{"email":1,"password":"x"}`, 400, "invalid_request"},
		{"truncated", "/login", ct, `{"email":"alice@example.com",`, 400, "invalid_request"},
		{"wrong password", "/login", ct, `{"email":"alice@example.com","password":"wrong horse"}`, 401, "invalid_credentials"},
		{"register duplicate keys", "/register", ct, `{"email":"b@x.y","password":"p1","password":"p2"}`, 400, "invalid_request"},
		{"register unknown field roles", "/register", ct, `{"email":"b@x.y","password":"long enough","roles":["admin"]}`, 400, "invalid_request"},
		{"register valid", "/register", ct, `{"email":"b@x.y","password":"long enough","name":"B"}`, 201, ""},
		{"refresh without token", "/refresh", ct, `{}`, 400, "invalid_request"},
		{"refresh unknown field", "/refresh", ct, `{"refresh_token":"rt-1","grant_type":"x"}`, 400, "invalid_request"},
		{"refresh bad token", "/refresh", ct, `{"refresh_token":"nope"}`, 400, "invalid_grant"},
		{"refresh valid", "/refresh", ct, `{"refresh_token":"rt-1"}`, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			if tt.contentType != "" {
				hdr = []string{"Content-Type", tt.contentType}
			}
			resp := do(t, srv, http.MethodPost, tt.path, tt.body, hdr...)
			if resp.StatusCode != tt.status {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.status, b)
			}
			if tt.code == "" {
				return
			}
			if got := resp.Header.Get("Content-Type"); got != "application/problem+json" {
				t.Errorf("Content-Type = %q, want application/problem+json", got)
			}
			if got := readJSON(t, resp)["code"]; got != tt.code {
				t.Errorf("code = %v, want %q", got, tt.code)
			}
		})
	}
}

func TestTokenResponsesAreNotCacheable(t *testing.T) {
	srv := newTestServer(t, &scriptedService{}, Config{})
	resp := do(t, srv, http.MethodPost, "/login", `{"email":"alice@example.com","password":"correct horse"}`,
		"Content-Type", "application/json")
	if resp.StatusCode != 200 {
		t.Fatalf("status = %d", resp.StatusCode)
	}
	for h, want := range map[string]string{
		"Cache-Control": "no-store", "Pragma": "no-cache", "X-Content-Type-Options": "nosniff",
		"Content-Type": "application/json", "X-Frame-Options": "DENY",
	} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	got := readJSON(t, resp)
	want := map[string]any{"access_token": "at-1", "token_type": "Bearer", "expires_in": 900.0, "refresh_token": "rt-1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("token response (-want +got):\n%s", diff)
	}
}

func TestBearerRoutes(t *testing.T) {
	srv := newTestServer(t, &scriptedService{}, Config{})
	tests := []struct {
		name    string
		method  string
		path    string
		headers []string
		status  int
	}{
		{"me without token", "GET", "/me", nil, 401},
		{"me with token", "GET", "/me", []string{"Authorization", "Bearer user-token"}, 200},
		{"me with token in the query only", "GET", "/me?access_token=user-token", nil, 401},
		{"me with two Authorization headers", "GET", "/me", []string{"Authorization", "Bearer user-token", "Authorization", "Bearer user-token"}, 400},
		{"me with a bad token", "GET", "/me", []string{"Authorization", "Bearer forged"}, 401},
		{"me while keys are unavailable", "GET", "/me", []string{"Authorization", "Bearer unavailable"}, 503},
		{"logout", "POST", "/logout", []string{"Authorization", "Bearer user-token"}, 204},
		{"logout all", "POST", "/logout/all", []string{"Authorization", "Bearer user-token"}, 204},
		{"sessions", "GET", "/sessions", []string{"Authorization", "Bearer user-token"}, 200},
		{"revoke own session", "DELETE", "/sessions/s1", []string{"Authorization", "Bearer user-token"}, 204},
		{"revoke someone else's session", "DELETE", "/sessions/s7", []string{"Authorization", "Bearer user-token"}, 404},
		{"admin list as a user", "GET", "/admin/users", []string{"Authorization", "Bearer user-token"}, 403},
		{"admin list without token", "GET", "/admin/users", nil, 401},
		{"admin list", "GET", "/admin/users?limit=1", []string{"Authorization", "Bearer admin-token"}, 200},
		{"admin list bad limit", "GET", "/admin/users?limit=0", []string{"Authorization", "Bearer admin-token"}, 400},
		{"admin list huge limit", "GET", "/admin/users?limit=100000", []string{"Authorization", "Bearer admin-token"}, 400},
		{"admin disable", "POST", "/admin/users/u3/disable", []string{"Authorization", "Bearer admin-token"}, 204},
		{"admin revoke", "POST", "/admin/users/u3/revoke", []string{"Authorization", "Bearer admin-token"}, 204},
		{"admin disable as a user", "POST", "/admin/users/u3/disable", []string{"Authorization", "Bearer user-token"}, 403},
		{"admin audit", "GET", "/admin/users/u3/audit", []string{"Authorization", "Bearer admin-token"}, 200},
		{"admin enable", "POST", "/admin/users/u3/enable", []string{"Authorization", "Bearer admin-token"}, 204},
		{"admin enable as a user", "POST", "/admin/users/u3/enable", []string{"Authorization", "Bearer user-token"}, 403},
		{"admin grant role", "PUT", "/admin/users/u3/roles/auditor", []string{"Authorization", "Bearer admin-token"}, 204},
		{"admin grant bad role", "PUT", "/admin/users/u3/roles/Admin", []string{"Authorization", "Bearer admin-token"}, 400},
		{"admin grant role as a user", "PUT", "/admin/users/u3/roles/admin", []string{"Authorization", "Bearer user-token"}, 403},
		{"admin revoke role", "DELETE", "/admin/users/u3/roles/admin", []string{"Authorization", "Bearer admin-token"}, 204},
		{"admin revoke bad role", "DELETE", "/admin/users/u3/roles/a%20b", []string{"Authorization", "Bearer admin-token"}, 400},
		{"admin roles without a role", "PUT", "/admin/users/u3/roles/", []string{"Authorization", "Bearer admin-token"}, 404},
		{"unknown route", "GET", "/nope", nil, 404},
		{"wrong method", "GET", "/login", nil, 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := do(t, srv, tt.method, tt.path, "", tt.headers...)
			if resp.StatusCode != tt.status {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.status, b)
			}
		})
	}
}

// A 405 names the methods the resource has (RFC 9110 section 15.5.6), so a client can tell
// a wrong method from a wrong path.
func TestMethodNotAllowedListsAllow(t *testing.T) {
	srv := newTestServer(t, &scriptedService{}, Config{})
	tests := []struct {
		name, method, path, want string
	}{
		{"login", "GET", "/login", "POST"},
		{"one session", "PUT", "/sessions/s1", "DELETE"},
		{"admin list, on the admin subrouter", "POST", "/admin/users", "GET, HEAD"},
		{"admin action", "DELETE", "/admin/users/u3/disable", "POST"},
		{"jwks", "POST", "/.well-known/jwks.json", "GET, HEAD"},
		{"HEAD of a POST route", "HEAD", "/login", "POST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := do(t, srv, tt.method, tt.path, "", "Authorization", "Bearer admin-token")
			if resp.StatusCode != http.StatusMethodNotAllowed {
				t.Fatalf("status = %d, want 405", resp.StatusCode)
			}
			if got := resp.Header.Get("Allow"); got != tt.want {
				t.Errorf("Allow = %q, want %q", got, tt.want)
			}
		})
	}
}

// HEAD works wherever GET does (RFC 9110 section 9.3.2): monitors and caches use it.
func TestHeadAnswersLikeGet(t *testing.T) {
	srv := newTestServer(t, &scriptedService{jwksDoc: []byte(`{"keys":[]}`)}, Config{})
	tests := []struct {
		name, path, cacheControl string
	}{
		{"jwks", "/.well-known/jwks.json", "public, max-age=300, stale-if-error=86400"},
		{"discovery", "/.well-known/openid-configuration", "public, max-age=300, stale-if-error=86400"},
		{"health", "/health", "no-store"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := do(t, srv, http.MethodHead, tt.path, "")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, want 200", resp.StatusCode)
			}
			if got := resp.Header.Get("Cache-Control"); got != tt.cacheControl {
				t.Errorf("Cache-Control = %q, want %q", got, tt.cacheControl)
			}
			if b, _ := io.ReadAll(resp.Body); len(b) != 0 {
				t.Errorf("HEAD answered a body: %q", b)
			}
		})
	}
}

func TestSessionsMarkTheCurrentOne(t *testing.T) {
	srv := newTestServer(t, &scriptedService{}, Config{})
	resp := do(t, srv, "GET", "/sessions", "", "Authorization", "Bearer user-token")
	var body struct {
		Sessions []struct {
			ID      string `json:"id"`
			Current bool   `json:"current"`
		} `json:"sessions"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, s := range body.Sessions {
		got[s.ID] = s.Current
	}
	if diff := cmp.Diff(map[string]bool{"s1": true, "s2": false}, got); diff != "" {
		t.Errorf("sessions (-want +got):\n%s", diff)
	}
}

func TestAdminListPagination(t *testing.T) {
	svc := &scriptedService{}
	srv := newTestServer(t, svc, Config{})
	resp := do(t, srv, "GET", "/admin/users?after=u0&limit=1", "", "Authorization", "Bearer admin-token")
	body := readJSON(t, resp)
	if body["next"] != "u1" {
		t.Errorf("next = %v, want u1 (a full page has a next cursor)", body["next"])
	}
	if svc.lastAfter != "u0" || svc.lastLimit != 1 {
		t.Errorf("service got after=%q limit=%d, want u0 and 1", svc.lastAfter, svc.lastLimit)
	}
}

func TestRevokeEndpointRFC7009(t *testing.T) {
	const form = "application/x-www-form-urlencoded"
	tests := []struct {
		name        string
		contentType string
		body        string
		err         error
		status      int
	}{
		{"token and hint", form, "token=abc&token_type_hint=refresh_token", nil, 200},
		{"token only", form, "token=abc", nil, 200},
		{"JSON is not accepted", "application/json", `{"token":"abc"}`, nil, 415},
		{"token missing", form, "token_type_hint=refresh_token", nil, 400},
		{"token repeated", form, "token=a&token=b", nil, 400},
		{"store down: 503, the client keeps the token", form, "token=abc", ports.ErrUnavailable, 503},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &scriptedService{err: tt.err}
			srv := newTestServer(t, svc, Config{})
			resp := do(t, srv, "POST", "/revoke?token=from-query", tt.body, "Content-Type", tt.contentType)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.status == 200 && svc.lastToken != "abc" {
				t.Errorf("revoked %q, want abc (the form's token, never the query's)", svc.lastToken)
			}
			if tt.status == 503 && resp.Header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
		})
	}
}

func TestJWKSCaching(t *testing.T) {
	doc := []byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`)
	svc := &scriptedService{jwksDoc: doc, jwksETag: "v1"}
	srv := newTestServer(t, svc, Config{JWKSMaxAge: 5 * time.Minute})

	resp := do(t, srv, "GET", "/.well-known/jwks.json", "")
	if resp.StatusCode != 200 {
		t.Fatalf("status = %d", resp.StatusCode)
	}
	body, _ := io.ReadAll(resp.Body)
	if string(body) != string(doc) {
		t.Errorf("body = %s, want the service's document", body)
	}
	if got, want := resp.Header.Get("Cache-Control"), "public, max-age=300, stale-if-error=86400"; got != want {
		t.Errorf("Cache-Control = %q, want %q", got, want)
	}
	if got := resp.Header.Get("ETag"); got != `"v1"` {
		t.Errorf("ETag = %q, want quoted v1", got)
	}
	if got := resp.Header.Get("Content-Type"); got != "application/jwk-set+json" {
		t.Errorf("Content-Type = %q", got)
	}

	for _, inm := range []string{`"v1"`, `W/"v1"`, `"v0", "v1"`, `*`} {
		resp := do(t, srv, "GET", "/.well-known/jwks.json", "", "If-None-Match", inm)
		if resp.StatusCode != http.StatusNotModified {
			t.Errorf("If-None-Match %s: status = %d, want 304", inm, resp.StatusCode)
		}
		if resp.Header.Get("ETag") != `"v1"` || resp.Header.Get("Cache-Control") == "no-store" {
			t.Errorf("If-None-Match %s: 304 without ETag or cache lifetime: %v", inm, resp.Header)
		}
	}
	if resp := do(t, srv, "GET", "/.well-known/jwks.json", "", "If-None-Match", `"v0"`); resp.StatusCode != 200 {
		t.Errorf("stale If-None-Match: status = %d, want 200", resp.StatusCode)
	}
}

func TestDiscovery(t *testing.T) {
	doc := `{"issuer":"https://auth.example.com","jwks_uri":"https://auth.example.com/.well-known/jwks.json"}`
	srv := newTestServer(t, &scriptedService{}, Config{Discovery: []byte(doc)})
	resp := do(t, srv, "GET", "/.well-known/openid-configuration", "")
	body, _ := io.ReadAll(resp.Body)
	if string(body) != doc {
		t.Errorf("body = %s, want the configured document", body)
	}
	if got := resp.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q", got)
	}
	if got, want := resp.Header.Get("Cache-Control"), "public, max-age=300, stale-if-error=86400"; got != want {
		t.Errorf("Cache-Control = %q, want %q", got, want)
	}
	if resp := do(t, srv, "GET", "/.well-known/openid-configuration", "", "If-None-Match", resp.Header.Get("ETag")); resp.StatusCode != 304 {
		t.Errorf("If-None-Match with its ETag: status %d, want 304", resp.StatusCode)
	}
}

func TestRequestID(t *testing.T) {
	srv := newTestServer(t, &scriptedService{}, Config{})
	tests := []struct {
		name, sent string
		echoed     bool
	}{
		{"sane id is echoed", "req-123_abc.DEF", true},
		{"CRLF injection is replaced", "a\tb", false},
		{"too long is replaced", strings.Repeat("a", 65), false},
		{"none is generated", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			if tt.sent != "" {
				hdr = []string{RequestIDHeader, tt.sent}
			}
			resp := do(t, srv, "GET", "/health", "", hdr...)
			got := resp.Header.Get(RequestIDHeader)
			if (got == tt.sent) != tt.echoed || got == "" {
				t.Errorf("X-Request-ID = %q for %q, echoed want %v", got, tt.sent, tt.echoed)
			}
		})
	}
}

// The admin listener's /ready reports each check; the public /ready answers the same verdict
// and nothing else: no check name, no error text, with Retry-After when not ready.
func TestReadyReportsEachCheck(t *testing.T) {
	ok := Check{Name: "keys", Fn: func(context.Context) error { return nil }}
	bad := Check{Name: "feed", Fn: func(context.Context) error { return errors.New("feed: not synced") }}
	redisDown := Check{Name: "redis", Fn: func(context.Context) error { return Degraded(errors.New("dial tcp 10.0.0.7:6379: connection refused")) }}
	tests := []struct {
		name   string
		checks []Check
		status int
		public string
		want   map[string]any
	}{
		{"all pass", []Check{ok}, 200, "ready", map[string]any{"status": "ok",
			"checks": map[string]any{"keys": map[string]any{"status": "ok"}}}},
		{"one fails", []Check{ok, bad}, 503, "not ready", map[string]any{"status": "unavailable",
			"checks": map[string]any{"keys": map[string]any{"status": "ok"},
				"feed": map[string]any{"status": "fail", "error": "feed: not synced"}}}},
		{"a lost dependency keeps the replica serving", []Check{ok, redisDown}, 200, "ready", map[string]any{"status": "degraded",
			"checks": map[string]any{"keys": map[string]any{"status": "ok"},
				"redis": map[string]any{"status": "degraded", "error": "dial tcp 10.0.0.7:6379: connection refused"}}}},
		{"a failure outranks a degradation", []Check{bad, redisDown}, 503, "not ready", map[string]any{"status": "unavailable",
			"checks": map[string]any{"feed": map[string]any{"status": "fail", "error": "feed: not synced"},
				"redis": map[string]any{"status": "degraded", "error": "dial tcp 10.0.0.7:6379: connection refused"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			admin := httptest.NewServer(NewAdminRouter(nil, nil, tt.checks))
			t.Cleanup(admin.Close)
			resp := do(t, admin, "GET", "/ready", "")
			if resp.StatusCode != tt.status {
				t.Errorf("admin /ready status = %d, want %d", resp.StatusCode, tt.status)
			}
			if got := resp.Header.Get("Retry-After"); (got != "") != (tt.status == 503) {
				t.Errorf("admin /ready Retry-After = %q with %d", got, tt.status)
			}
			if diff := cmp.Diff(tt.want, readJSON(t, resp)); diff != "" {
				t.Errorf("admin /ready (-want +got):\n%s", diff)
			}

			srv := newTestServer(t, &scriptedService{}, Config{Checks: tt.checks})
			resp = do(t, srv, "GET", "/ready", "")
			if resp.StatusCode != tt.status {
				t.Errorf("public /ready status = %d, want %d", resp.StatusCode, tt.status)
			}
			if got := resp.Header.Get("Retry-After"); (got != "") != (tt.status == 503) {
				t.Errorf("public /ready Retry-After = %q with %d", got, tt.status)
			}
			if diff := cmp.Diff(map[string]any{"status": tt.public}, readJSON(t, resp)); diff != "" {
				t.Errorf("public /ready (-want +got):\n%s", diff)
			}
		})
	}
}

// The public router serves no metrics (the admin router does), and the admin router none of
// the API.
func TestMetricsOnlyOnTheAdminRouter(t *testing.T) {
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "keygate_up 1\n") })
	srv := newTestServer(t, &scriptedService{}, Config{})
	if resp := do(t, srv, "GET", "/metrics", ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("public /metrics = %d, want 404", resp.StatusCode)
	}
	admin := httptest.NewServer(NewAdminRouter(nil, metrics, nil))
	t.Cleanup(admin.Close)
	resp := do(t, admin, "GET", "/metrics", "")
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "keygate_up 1") {
		t.Errorf("admin /metrics = %d %q, want 200 with the metrics", resp.StatusCode, b)
	}
	for _, path := range []string{"/health", "/ready"} {
		if resp := do(t, admin, "GET", path, ""); resp.StatusCode != http.StatusOK {
			t.Errorf("admin %s = %d, want 200", path, resp.StatusCode)
		}
	}
	if resp := do(t, admin, "GET", "/.well-known/jwks.json", ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("admin JWKS = %d, want 404", resp.StatusCode)
	}
}

func TestClientAddrFromTrustedProxiesOnly(t *testing.T) {
	trusted, err := ParseTrustedProxies("10.0.0.0/8, 192.168.1.1")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		remote string
		xff    []string
		want   string
	}{
		{"direct client", "203.0.113.5:4000", nil, "203.0.113.5"},
		{"untrusted peer's XFF ignored", "203.0.113.5:4000", []string{"1.2.3.4"}, "203.0.113.5"},
		{"trusted proxy's XFF used", "10.1.2.3:80", []string{"198.51.100.7"}, "198.51.100.7"},
		{"spoofed left entries ignored", "10.1.2.3:80", []string{"6.6.6.6, 198.51.100.7"}, "198.51.100.7"},
		{"chain of trusted proxies", "10.1.2.3:80", []string{"198.51.100.7, 192.168.1.1", "10.9.9.9"}, "198.51.100.7"},
		{"malformed entry stops the walk", "10.1.2.3:80", []string{"6.6.6.6, junk"}, "10.1.2.3"},
		{"only proxies", "10.1.2.3:80", []string{"10.4.4.4"}, "10.4.4.4"},
		{"IPv6 client", "[2001:db8::1]:443", nil, "2001:db8::1"},
		{"IPv4-mapped proxy", "[::ffff:10.0.0.1]:80", []string{"198.51.100.7"}, "198.51.100.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := ClientAddr(r, trusted); got != tt.want {
				t.Errorf("ClientAddr = %q, want %q", got, tt.want)
			}
		})
	}
	if _, err := ParseTrustedProxies("10.0.0.0/33"); err == nil {
		t.Error("ParseTrustedProxies accepted a bad CIDR")
	}
}

func TestRouterPassesTheClientAddress(t *testing.T) {
	svc := &scriptedService{}
	srv := newTestServer(t, svc, Config{}) // no trusted proxy: XFF must be ignored
	do(t, srv, http.MethodPost, "/login", `{"email":"alice@example.com","password":"correct horse"}`,
		"Content-Type", "application/json", "X-Forwarded-For", "6.6.6.6")
	if svc.lastIP != "127.0.0.1" {
		t.Errorf("client IP = %q, want the peer 127.0.0.1 (a client cannot choose its rate-limit bucket)", svc.lastIP)
	}
}

func TestPanicBecomesOpaque500(t *testing.T) {
	r := NewRouter(nil, nil)
	r.Get("/boom", func(http.ResponseWriter, *http.Request) { panic("secret detail") })
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("GET", "/boom", nil))
	if w.Code != 500 || strings.Contains(w.Body.String(), "secret") {
		t.Errorf("panic answered %d %s, want an opaque 500", w.Code, w.Body)
	}
}

func TestAccessLogCarriesTheRequestID(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	r := NewRouter(log, nil)
	r.Get("/api/things/{id}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	req := httptest.NewRequest(http.MethodGet, "/api/things/42", nil)
	req.Header.Set(RequestIDHeader, "from-nginx-1")
	r.ServeHTTP(httptest.NewRecorder(), req)
	r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/health", nil)) // debug: not logged

	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("want exactly one JSON line, got %q: %v", buf.String(), err)
	}
	for k, want := range map[string]any{"msg": "request", "request_id": "from-nginx-1", "method": "GET",
		"route": "/api/things/{id}", "status": float64(http.StatusTeapot)} {
		if line[k] != want {
			t.Errorf("%s = %v, want %v (line %v)", k, line[k], want, line)
		}
	}
}

// POST /password: the bearer's password change; every refusal is a problem document with a
// stable code, and a success carries the session's new access token.
func TestChangePasswordRoute(t *testing.T) {
	srv := newTestServer(t, &scriptedService{}, Config{})
	const ct = "application/json"
	tests := []struct {
		name   string
		bearer string
		ct     string
		body   string
		status int
		code   string
	}{
		{"changed", "user-token", ct, `{"current_password":"correct horse","new_password":"a new passphrase"}`, 200, ""},
		{"changed, the session gone meanwhile", "user-token", ct, `{"current_password":"correct horse","new_password":"session gone"}`, 204, ""},
		{"wrong current password", "user-token", ct, `{"current_password":"wrong horse","new_password":"a new passphrase"}`, 403, "wrong_password"},
		{"new password too short", "user-token", ct, `{"current_password":"correct horse","new_password":"short"}`, 400, "invalid_password"},
		{"no bearer token", "", ct, `{"current_password":"correct horse","new_password":"a new passphrase"}`, 401, "unauthorized"},
		{"bad bearer token", "forged", ct, `{"current_password":"correct horse","new_password":"a new passphrase"}`, 401, "invalid_token"},
		{"unknown field", "user-token", ct, `{"current_password":"correct horse","new_password":"a new passphrase","email":"x@y.z"}`, 400, "invalid_request"},
		{"duplicate field", "user-token", ct, `{"current_password":"correct horse","new_password":"a","new_password":"a new passphrase"}`, 400, "invalid_request"},
		{"not JSON", "user-token", "application/x-www-form-urlencoded", `current_password=x&new_password=y`, 415, "unsupported_media_type"},
		{"wrong type", "user-token", ct, `{"current_password":1,"new_password":"a new passphrase"}`, 400, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := []string{"Content-Type", tt.ct}
			if tt.bearer != "" {
				hdr = append(hdr, "Authorization", "Bearer "+tt.bearer)
			}
			resp := do(t, srv, http.MethodPost, "/password", tt.body, hdr...)
			if resp.StatusCode != tt.status {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.status, b)
			}
			switch {
			case tt.code != "":
				if got := resp.Header.Get("Content-Type"); got != "application/problem+json" {
					t.Errorf("Content-Type = %q", got)
				}
				if got := readJSON(t, resp)["code"]; got != tt.code {
					t.Errorf("code = %v, want %q", got, tt.code)
				}
			case tt.status == 200:
				m := readJSON(t, resp)
				if m["access_token"] != "at-3" || m["refresh_token"] != "rt-1" || resp.Header.Get("Cache-Control") != "no-store" {
					t.Errorf("body %v, Cache-Control %q", m, resp.Header.Get("Cache-Control"))
				}
			}
		})
	}
}
