package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/keygate/keygate/adapters/httpapi"
	"github.com/keygate/keygate/adapters/httpapi/openapitest"
)

// TestOpenAPIRealFlow runs authd on the memory profile (the real core and wiring) and checks a
// user's and an admin's session against the OpenAPI document: every answer has a documented
// status, media type, required headers and a body valid against its schema. (Every documented
// status is provoked in adapters/httpapi's TestOpenAPIResponses; this shows the real core's
// answers fit the same document.)
func TestOpenAPIRealFlow(t *testing.T) {
	const verifierToken = "verifier-credential-0123456789abcdef"
	base, _ := start(t, map[string]string{"PORT": "0", "KEYGATE_DEV": "1",
		"KEYGATE_ADMIN_EMAIL": "admin@example.com", "KEYGATE_ADMIN_PASSWORD": "admin password 1",
		"KEYGATE_VERIFIER_TOKENS": verifierToken})
	doc := openapitest.Load(t, httpapi.OpenAPI(), "adapters/httpapi/openapi/authd.json")
	checker := openapitest.NewChecker(doc, "adapters/httpapi/openapi/authd.json")
	call := func(op openapitest.Operation, path, ct, body string, want int, header ...string) []byte {
		t.Helper()
		method, tmpl, _ := strings.Cut(string(op), " ")
		if path == "" {
			path = tmpl
		}
		req, err := http.NewRequestWithContext(t.Context(), method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Add(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b := checker.Check(t, op, resp)
		if want != 0 && resp.StatusCode != want {
			t.Errorf("%s %s: %d, want %d (%s)", method, path, resp.StatusCode, want, b)
		}
		return b
	}
	tokens := func(b []byte) (access, refresh string) {
		t.Helper()
		var p struct {
			Access  string `json:"access_token"`
			Refresh string `json:"refresh_token"`
		}
		if err := json.Unmarshal(b, &p); err != nil || p.Access == "" {
			t.Fatalf("no token pair in %s (%v)", b, err)
		}
		return p.Access, p.Refresh
	}
	const ct = "application/json"
	call("GET /health", "", "", "", 200)
	call("GET /ready", "", "", "", 200)
	call("GET /openapi.json", "", "", "", 200)
	call("GET /.well-known/jwks.json", "", "", "", 200)
	call("GET /.well-known/openid-configuration", "", "", "", 200)
	call("GET /.well-known/oauth-authorization-server", "", "", "", 200)

	u := call("POST /register", "", ct, `{"email":"me@example.com","password":"correct horse battery","name":"Me"}`, 201)
	var user struct{ ID string }
	_ = json.Unmarshal(u, &user)
	call("POST /register", "", ct, `{"email":"me@example.com","password":"correct horse battery"}`, 409)
	call("POST /register", "", ct, `{"email":"not an address","password":"correct horse battery"}`, 400)
	call("POST /register", "", ct, `{"email":"x@example.com","password":"short"}`, 400)
	call("POST /login", "", ct, `{"email":"me@example.com","password":"wrong horse battery"}`, 401)
	access, refresh := tokens(call("POST /login", "", ct, `{"email":"me@example.com","password":"correct horse battery"}`, 200))
	me := []string{"Authorization", "Bearer " + access}
	call("GET /me", "", "", "", 200, me...)
	call("GET /sessions", "", "", "", 200, me...)
	call("GET /me", "", "", "", 401)
	call("GET /me", "", "", "", 401, "Authorization", "Bearer "+access+"x")
	call("GET /admin/users", "", "", "", 403, me...)
	call("DELETE /sessions/{sid}", "/sessions/no-such-session", "", "", 404, me...)
	call("POST /introspect", "", "application/x-www-form-urlencoded", "token="+access, 200, "Authorization", "Bearer "+verifierToken)
	call("POST /introspect", "", "application/x-www-form-urlencoded", "token="+access, 401)
	access2, _ := tokens(call("POST /refresh", "", ct, `{"refresh_token":"`+refresh+`"}`, 200))
	call("POST /refresh", "", ct, `{"refresh_token":"kgr1.forged.1.AAAA"}`, 400)
	call("POST /revoke", "", "application/x-www-form-urlencoded", "token=unknown", 200)
	call("POST /password", "", ct, `{"current_password":"wrong horse battery","new_password":"another horse battery"}`, 403, me...)
	call("POST /password", "", ct, `{"current_password":"correct horse battery","new_password":"short"}`, 400, me...)

	admin, _ := tokens(call("POST /login", "", ct, `{"email":"admin@example.com","password":"admin password 1"}`, 200))
	as := []string{"Authorization", "Bearer " + admin}
	call("GET /admin/users", "/admin/users?limit=1", "", "", 200, as...)
	call("GET /admin/users/{id}/audit", "/admin/users/"+user.ID+"/audit", "", "", 200, as...)
	call("POST /admin/users/{id}/revoke", "/admin/users/"+user.ID+"/revoke", "", "", 204, as...)
	call("POST /admin/users/{id}/disable", "/admin/users/no-such-user/disable", "", "", 404, as...)
	call("POST /admin/users/{id}/disable", "/admin/users/"+user.ID+"/disable", "", "", 204, as...)
	call("POST /logout/all", "", "", "", 0, "Authorization", "Bearer "+access2) // 204, or 401 once the revocation is seen
	call("POST /logout", "", "", "", 204, as...)
	admin2, _ := tokens(call("POST /login", "", ct, `{"email":"admin@example.com","password":"admin password 1"}`, 200))
	call("POST /password", "", ct, `{"current_password":"admin password 1","new_password":"admin password 2"}`, 200, "Authorization", "Bearer "+admin2)
}
