package httpapi

import (
	"context"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/go-chi/chi/v5"

	"github.com/keygate/keygate/adapters/httpapi/openapitest"
	"github.com/keygate/keygate/core/auth"
	"github.com/keygate/keygate/core/remote"
	"github.com/keygate/keygate/core/revocation"
	"github.com/keygate/keygate/core/token"
	"github.com/keygate/keygate/ports"
)

const openAPIFile = "adapters/httpapi/openapi/authd.json"

// howToDocument is what a failure of the OpenAPI tests tells whoever adds a route or a status.
const howToDocument = "Add the operation under paths in " + openAPIFile + " (requestBody schema, and every " +
	"status its handler can return: problem answers reuse components/responses, e.g. BadRequest, Unauthorized, " +
	"Forbidden, NotFound, BodyTooLarge, UnsupportedMediaType, RateLimited, Internal, Unavailable), then add " +
	"one row per status to openAPICases in adapters/httpapi/openapi_test.go that provokes it " +
	"(or list the pair in openAPIUnprovokable with the reason)."

// TestOpenAPIDocumentIsValid: the document served at /openapi.json is valid OpenAPI 3.1 and
// is what OpenAPI returns.
func TestOpenAPIDocumentIsValid(t *testing.T) {
	doc := openapitest.Load(t, OpenAPI(), openAPIFile)
	if got := doc.Components.SecuritySchemes; got["bearerAuth"] == nil || got["verifierCredential"] == nil {
		t.Errorf("security schemes = %v, want bearerAuth and verifierCredential", slices.Sorted(maps.Keys(got)))
	}
	srv := newTestServer(t, &scriptedService{}, Config{})
	resp := do(t, srv, http.MethodGet, "/openapi.json", "")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /openapi.json: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	served := openapitest.Load(t, mustRead(t, resp), "GET /openapi.json")
	if served.Info.Title != doc.Info.Title || served.Paths.Len() != doc.Paths.Len() {
		t.Errorf("/openapi.json serves another document than OpenAPI()")
	}
}

// TestOpenAPIRoutesDocumented: every route the auth router registers (with every optional
// route on) is documented, and every documented operation is registered.
func TestOpenAPIRoutesDocumented(t *testing.T) {
	doc := openapitest.Load(t, OpenAPI(), openAPIFile)
	routes, ok := NewAuthRouter(&scriptedService{}, testVerifier, openAPIConfig(t, openAPISetups["ok"])).(chi.Routes)
	if !ok {
		t.Fatal("NewAuthRouter does not return a chi router")
	}
	openapitest.CheckRoutes(t, doc, routes, nil, openAPIFile, howToDocument)
}

// TestOpenAPIProblemCodes: the problem codes the document names are exactly the codes of the
// error table (errors.go), and every problem type is urn:keygate:problem:<code>.
func TestOpenAPIProblemCodes(t *testing.T) {
	doc := openapitest.Load(t, OpenAPI(), openAPIFile)
	table := map[string]bool{}
	for _, code := range ProblemCodes() {
		table[code] = true
	}
	problem := doc.Components.Schemas["Problem"]
	if problem == nil || problem.Value.Properties["code"] == nil {
		t.Fatalf("%s: components.schemas.Problem.properties.code is missing", openAPIFile)
	}
	if pat := problem.Value.Properties["type"].Value.Pattern; !strings.HasPrefix(strings.TrimPrefix(pat, "^"), problemType) {
		t.Errorf("Problem.type pattern %q does not start with %q", pat, problemType)
	}
	documented := map[string]bool{}
	for _, c := range problem.Value.Properties["code"].Value.Enum {
		documented[c.(string)] = true
	}
	for code := range table {
		if !documented[code] {
			t.Errorf("problem code %q is in the error table (errors.go) but not in %s: add it to components.schemas.Problem.properties.code.enum, and to the code enum of each response that can carry it", code, openAPIFile)
		}
	}
	for code := range documented {
		if !table[code] {
			t.Errorf("%s names problem code %q, which the error table (errors.go) does not have", openAPIFile, code)
		}
	}
	// Every response's own code enum names only table codes.
	check := func(where string, r *openapi3.ResponseRef) {
		for _, mt := range r.Value.Content {
			s := mt.Schema.Value
			if s == nil || s.Properties["code"] == nil {
				continue
			}
			for _, c := range s.Properties["code"].Value.Enum {
				if !table[c.(string)] {
					t.Errorf("%s: problem code %q is not in the error table", where, c)
				}
			}
		}
	}
	for name, r := range doc.Components.Responses {
		check("components.responses."+name, r)
	}
	for path, item := range doc.Paths.Map() {
		for method, o := range item.Operations() {
			for status, r := range o.Responses.Map() {
				check(method+" "+path+" "+status, r)
			}
		}
	}
}

// openAPISetup is the state of the auth router a case runs against.
type openAPISetup struct {
	err         error // every use case fails with it (scriptedService.err)
	relayErr    error // the revocation feed fails with it before the first event
	introErr    error // introspection fails with it
	failCheck   bool  // /ready has a failing check
	noVerifiers bool  // verifier access off (KEYGATE_VERIFIER_TOKENS unset)
	mode        auth.RegistrationMode
}

var openAPISetups = map[string]openAPISetup{
	"ok":          {},
	"boom":        {err: errors.New("boom"), relayErr: errors.New("boom"), introErr: errors.New("boom")},
	"unavailable": {err: ports.ErrUnavailable, relayErr: remote.ErrNotReady, introErr: ports.ErrUnavailable, failCheck: true},
	"limited":     {err: &auth.RateLimitedError{RetryAfter: 2 * time.Second}, introErr: &remote.RateLimitedError{RetryAfter: 2 * time.Second}},
	"taken":       {err: auth.ErrEmailTaken},
	"notfound":    {err: ports.ErrNotFound},
	"conflict":    {err: ports.ErrConflict},
	"lastadmin":   {err: auth.ErrLastAdmin},
	"noverifiers": {noVerifiers: true},

	"verifymode":    {mode: auth.RegisterVerify},
	"invalidlink":   {err: auth.ErrInvalidLink},
	"maildisabled":  {err: auth.ErrMailDisabled},
	"resetrequired": {err: auth.ErrPasswordResetRequired},
}

const openAPIVerifierToken = "verifier-credential-0123456789abcdef"

func openAPIConfig(t *testing.T, s openAPISetup) Config {
	t.Helper()
	cfg := Config{
		Discovery:    openAPIDiscovery,
		Relay:        stubRelay{err: s.relayErr},
		Introspector: stubIntrospector{err: s.introErr},
		Checks:       []Check{{Name: "store", Fn: func(context.Context) error { return Degraded(nil) }}},
	}
	if s.failCheck {
		cfg.Checks = append(cfg.Checks, Check{Name: "signing_keys", Fn: func(context.Context) error { return errors.New("no keys") }})
	}
	if !s.noVerifiers {
		va, err := NewVerifierAccess([]string{openAPIVerifierToken})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Verifiers = va
	}
	return cfg
}

// stubRelay streams one snapshot, or fails with err before the first event.
type stubRelay struct{ err error }

func (r stubRelay) Follow(_ context.Context, _ uint64, _ bool, send func(remote.Message) error) error {
	if r.err != nil {
		return r.err
	}
	return send(remote.Message{Kind: remote.MsgSnapshot, Seq: 7, Entries: []revocation.Entry{
		{Kind: revocation.KindSession, Key: "s1", ExpiresAt: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}}})
}

// stubIntrospector finds "user-token" active, any other token inactive, or fails with err.
type stubIntrospector struct{ err error }

func (in stubIntrospector) Introspect(_ context.Context, _, raw string) (remote.Introspection, error) {
	if in.err != nil {
		return remote.Introspection{}, in.err
	}
	if raw != "user-token" {
		return remote.Introspection{}, nil
	}
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	return remote.Introspection{Active: true, Claims: token.Claims{Issuer: "https://auth.example.com", Subject: "u3",
		Audience: []string{"orders"}, ExpiresAt: now.Add(time.Hour), IssuedAt: now, ID: "j1", SessionID: "s1", Roles: []string{"user"}}}, nil
}

// openAPICase is one request whose answer is checked against the document.
type openAPICase struct {
	setup   string                // a key of openAPISetups
	op      openapitest.Operation // the documented operation
	path    string                // the request's path, when it differs from op's template
	body    string
	headers []string // pairs of name and value
	status  int      // the status the case provokes
}

const (
	jsonCT = "application/json"
	formCT = "application/x-www-form-urlencoded"
)

var (
	asUser     = []string{"Authorization", "Bearer user-token"}
	asAdmin    = []string{"Authorization", "Bearer admin-token"}
	asVerifier = []string{"Authorization", "Bearer " + openAPIVerifierToken}
	twoAuth    = []string{"Authorization", "Bearer user-token", "Authorization", "Bearer admin-token"}
	bigBody    = strings.Repeat("a", MaxBodyBytes+1)
)

func with(h []string, more ...string) []string { return append(slices.Clone(h), more...) }

// openAPICases provokes every documented (operation, status) pair of the auth API.
func openAPICases() []openAPICase {
	cs := []openAPICase{
		{setup: "ok", op: "GET /health", status: 200},
		{setup: "ok", op: "GET /ready", status: 200},
		{setup: "unavailable", op: "GET /ready", status: 503},
		{setup: "ok", op: "GET /openapi.json", status: 200},

		{setup: "ok", op: "GET /.well-known/jwks.json", status: 200},
		{setup: "ok", op: "GET /.well-known/jwks.json", headers: []string{"If-None-Match", `"v1"`}, status: 304},
		{setup: "boom", op: "GET /.well-known/jwks.json", status: 500},
		{setup: "unavailable", op: "GET /.well-known/jwks.json", status: 503},

		{setup: "ok", op: "GET /revocations/feed", headers: asVerifier, status: 200},
		{setup: "ok", op: "GET /revocations/feed", headers: with(asVerifier, asVerifier...), status: 400},
		{setup: "ok", op: "GET /revocations/feed", headers: asUser, status: 401},
		{setup: "noverifiers", op: "GET /revocations/feed", headers: asVerifier, status: 404},
		{setup: "boom", op: "GET /revocations/feed", headers: asVerifier, status: 500},
		{setup: "unavailable", op: "GET /revocations/feed", headers: asVerifier, status: 503},

		{setup: "ok", op: "POST /introspect", headers: with(asVerifier, "Content-Type", formCT), body: "token=user-token", status: 200},
		{setup: "ok", op: "POST /introspect", headers: with(asVerifier, "Content-Type", formCT), body: "token=other", status: 200},
		{setup: "ok", op: "POST /introspect", headers: with(asVerifier, "Content-Type", formCT), body: "token_type_hint=access_token", status: 400},
		{setup: "ok", op: "POST /introspect", headers: []string{"Content-Type", formCT}, body: "token=x", status: 401},
		{setup: "noverifiers", op: "POST /introspect", headers: with(asVerifier, "Content-Type", formCT), body: "token=x", status: 404},
		{setup: "ok", op: "POST /introspect", headers: with(asVerifier, "Content-Type", formCT), body: "token=" + bigBody, status: 413},
		{setup: "ok", op: "POST /introspect", headers: with(asVerifier, "Content-Type", jsonCT), body: `{"token":"x"}`, status: 415},
		{setup: "limited", op: "POST /introspect", headers: with(asVerifier, "Content-Type", formCT), body: "token=x", status: 429},
		{setup: "boom", op: "POST /introspect", headers: with(asVerifier, "Content-Type", formCT), body: "token=x", status: 500},
		{setup: "unavailable", op: "POST /introspect", headers: with(asVerifier, "Content-Type", formCT), body: "token=x", status: 503},

		{setup: "ok", op: "POST /register", body: `{"email":"b@x.y","password":"long enough","name":"B"}`, status: 201},
		{setup: "ok", op: "POST /register", body: `{"email":"b@x.y","password":"long enough","roles":["admin"]}`, status: 400},
		{setup: "taken", op: "POST /register", body: `{"email":"b@x.y","password":"long enough"}`, status: 409},
		{setup: "verifymode", op: "POST /register", body: `{"email":"b@x.y","password":"long enough"}`, status: 202},
		{setup: "resetrequired", op: "POST /login", body: `{"email":"alice@example.com","password":"correct horse"}`, status: 403},

		{setup: "ok", op: "POST /password/reset", body: `{"email":"b@x.y"}`, status: 202},
		{setup: "ok", op: "POST /password/reset", body: `{"email":1}`, status: 400},
		{setup: "maildisabled", op: "POST /password/reset", body: `{"email":"b@x.y"}`, status: 404},
		{setup: "ok", op: "POST /password/reset/confirm", body: `{"token":"t","new_password":"long enough"}`, status: 204},
		{setup: "invalidlink", op: "POST /password/reset/confirm", body: `{"token":"t","new_password":"long enough"}`, status: 400},
		{setup: "maildisabled", op: "POST /password/reset/confirm", body: `{"token":"t","new_password":"long enough"}`, status: 404},
		{setup: "ok", op: "POST /email/verify", body: `{"token":"t"}`, status: 204},
		{setup: "invalidlink", op: "POST /email/verify", body: `{"token":"t"}`, status: 400},
		{setup: "maildisabled", op: "POST /email/verify", body: `{"token":"t"}`, status: 404},
		{setup: "ok", op: "POST /email/verify/resend", headers: asUser, status: 202},
		{setup: "maildisabled", op: "POST /email/verify/resend", headers: asUser, status: 404},
		{setup: "limited", op: "POST /email/verify/resend", headers: asUser, status: 429},
		{setup: "ok", op: "POST /admin/users/{id}/reset-password", path: "/admin/users/u1/reset-password", headers: asAdmin, status: 204},
		{setup: "maildisabled", op: "POST /admin/users/{id}/reset-password", path: "/admin/users/u1/reset-password", headers: asAdmin, status: 404},
		{setup: "ok", op: "POST /login", body: `{"email":"alice@example.com","password":"correct horse"}`, status: 200},
		{setup: "ok", op: "POST /login", body: `{"email":"alice@example.com"`, status: 400},
		{setup: "ok", op: "POST /login", body: `{"email":"alice@example.com","password":"wrong horse"}`, status: 401},
		{setup: "ok", op: "POST /refresh", body: `{"refresh_token":"rt-1"}`, status: 200},
		{setup: "ok", op: "POST /refresh", body: `{"refresh_token":"nope"}`, status: 400},
		{setup: "ok", op: "POST /revoke", headers: []string{"Content-Type", formCT}, body: "token=rt-1&token_type_hint=refresh_token", status: 200},
		{setup: "ok", op: "POST /revoke", headers: []string{"Content-Type", formCT}, body: "token_type_hint=refresh_token", status: 400},

		{setup: "ok", op: "GET /me", headers: asUser, status: 200},
		{setup: "notfound", op: "GET /me", headers: asUser, status: 404},
		{setup: "ok", op: "GET /sessions", headers: asUser, status: 200},
		{setup: "ok", op: "POST /logout", headers: asUser, status: 204},
		{setup: "ok", op: "POST /logout/all", headers: asUser, status: 204},
		{setup: "ok", op: "DELETE /sessions/{sid}", path: "/sessions/s1", headers: asUser, status: 204},
		{setup: "ok", op: "DELETE /sessions/{sid}", path: "/sessions/s2", headers: asUser, status: 404},

		{setup: "ok", op: "GET /admin/users", path: "/admin/users?limit=1", headers: asAdmin, status: 200},
		{setup: "ok", op: "GET /admin/users", path: "/admin/users?limit=0", headers: asAdmin, status: 400},
		{setup: "ok", op: "GET /admin/users/{id}/audit", path: "/admin/users/u1/audit", headers: asAdmin, status: 200},
		{setup: "ok", op: "POST /admin/users/{id}/disable", path: "/admin/users/u1/disable", headers: asAdmin, status: 204},
		{setup: "notfound", op: "POST /admin/users/{id}/disable", path: "/admin/users/u9/disable", headers: asAdmin, status: 404},
		{setup: "lastadmin", op: "POST /admin/users/{id}/disable", path: "/admin/users/u1/disable", headers: asAdmin, status: 409},
		{setup: "ok", op: "POST /admin/users/{id}/revoke", path: "/admin/users/u1/revoke", headers: asAdmin, status: 204},
		{setup: "notfound", op: "POST /admin/users/{id}/revoke", path: "/admin/users/u9/revoke", headers: asAdmin, status: 404},
		{setup: "ok", op: "POST /admin/users/{id}/enable", path: "/admin/users/u1/enable", headers: asAdmin, status: 204},
		{setup: "notfound", op: "POST /admin/users/{id}/enable", path: "/admin/users/u9/enable", headers: asAdmin, status: 404},
		{setup: "ok", op: "PUT /admin/users/{id}/roles/{role}", path: "/admin/users/u1/roles/auditor", headers: asAdmin, status: 204},
		{setup: "ok", op: "PUT /admin/users/{id}/roles/{role}", path: "/admin/users/u1/roles/Auditor", headers: asAdmin, status: 400},
		{setup: "notfound", op: "PUT /admin/users/{id}/roles/{role}", path: "/admin/users/u9/roles/auditor", headers: asAdmin, status: 404},
		{setup: "ok", op: "DELETE /admin/users/{id}/roles/{role}", path: "/admin/users/u1/roles/admin", headers: asAdmin, status: 204},
		{setup: "ok", op: "DELETE /admin/users/{id}/roles/{role}", path: "/admin/users/u1/roles/a%20b", headers: asAdmin, status: 400},
		{setup: "notfound", op: "DELETE /admin/users/{id}/roles/{role}", path: "/admin/users/u9/roles/admin", headers: asAdmin, status: 404},
		{setup: "lastadmin", op: "DELETE /admin/users/{id}/roles/{role}", path: "/admin/users/u1/roles/admin", headers: asAdmin, status: 409},
	}
	pw := func(current, next string) string {
		return `{"current_password":"` + current + `","new_password":"` + next + `"}`
	}
	userJSON := with(asUser, "Content-Type", jsonCT)
	cs = append(cs,
		openAPICase{setup: "ok", op: "POST /password", headers: userJSON, body: pw("correct horse", "new horse battery"), status: 200},
		openAPICase{setup: "ok", op: "POST /password", headers: userJSON, body: pw("correct horse", "session gone"), status: 204},
		openAPICase{setup: "ok", op: "POST /password", headers: userJSON, body: pw("correct horse", "short"), status: 400},
		openAPICase{setup: "ok", op: "POST /password", headers: with(twoAuth, "Content-Type", jsonCT), body: pw("correct horse", "new horse battery"), status: 400},
		openAPICase{setup: "ok", op: "POST /password", headers: []string{"Content-Type", jsonCT}, body: pw("correct horse", "new horse battery"), status: 401},
		openAPICase{setup: "ok", op: "POST /password", headers: userJSON, body: pw("wrong horse", "new horse battery"), status: 403},
		openAPICase{setup: "notfound", op: "POST /password", headers: userJSON, body: pw("correct horse", "new horse battery"), status: 404},
		openAPICase{setup: "conflict", op: "POST /password", headers: userJSON, body: pw("correct horse", "new horse battery"), status: 409},
		openAPICase{setup: "ok", op: "POST /password", headers: userJSON, body: bigBody, status: 413},
		openAPICase{setup: "ok", op: "POST /password", headers: with(asUser, "Content-Type", formCT), body: "current_password=x", status: 415},
		openAPICase{setup: "limited", op: "POST /password", headers: userJSON, body: pw("correct horse", "new horse battery"), status: 429},
		openAPICase{setup: "boom", op: "POST /password", headers: userJSON, body: pw("correct horse", "new horse battery"), status: 500},
		openAPICase{setup: "ok", op: "POST /password", headers: with([]string{"Authorization", "Bearer unavailable"}, "Content-Type", jsonCT), body: pw("correct horse", "new horse battery"), status: 503},
	)
	for _, p := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
		op := openapitest.Operation("GET " + p)
		cs = append(cs, openAPICase{setup: "ok", op: op, status: 200},
			openAPICase{setup: "ok", op: op, headers: []string{"If-None-Match", contentETag(openAPIDiscovery)}, status: 304})
	}
	// The JSON and form bodies: too large, another media type, and the use case's failures.
	for _, b := range []struct {
		op   openapitest.Operation
		ct   string
		body string
	}{
		{"POST /register", jsonCT, `{"email":"b@x.y","password":"long enough"}`},
		{"POST /login", jsonCT, `{"email":"alice@example.com","password":"correct horse"}`},
		{"POST /refresh", jsonCT, `{"refresh_token":"rt-1"}`},
		{"POST /revoke", formCT, "token=rt-1"},
		{"POST /password/reset", jsonCT, `{"email":"b@x.y"}`},
		{"POST /password/reset/confirm", jsonCT, `{"token":"t","new_password":"long enough"}`},
		{"POST /email/verify", jsonCT, `{"token":"t"}`},
	} {
		other := formCT
		if b.ct == formCT {
			other = jsonCT
		}
		cs = append(cs,
			openAPICase{setup: "ok", op: b.op, headers: []string{"Content-Type", b.ct}, body: bigBody, status: 413},
			openAPICase{setup: "ok", op: b.op, headers: []string{"Content-Type", other}, body: b.body, status: 415},
			openAPICase{setup: "boom", op: b.op, headers: []string{"Content-Type", b.ct}, body: b.body, status: 500},
			openAPICase{setup: "unavailable", op: b.op, headers: []string{"Content-Type", b.ct}, body: b.body, status: 503})
		if b.op != "POST /refresh" {
			cs = append(cs, openAPICase{setup: "limited", op: b.op, headers: []string{"Content-Type", b.ct}, body: b.body, status: 429})
		}
	}
	// The Bearer routes: two Authorization headers, none, a refused token, a verifier that
	// cannot decide, the use case failing; the admin routes also a token without the role.
	bearerOps := []struct {
		op    openapitest.Operation
		path  string
		admin bool
	}{
		{"POST /logout", "/logout", false},
		{"POST /logout/all", "/logout/all", false},
		{"GET /me", "/me", false},
		{"GET /sessions", "/sessions", false},
		{"DELETE /sessions/{sid}", "/sessions/s1", false},
		{"GET /admin/users", "/admin/users", true},
		{"GET /admin/users/{id}/audit", "/admin/users/u1/audit", true},
		{"POST /admin/users/{id}/disable", "/admin/users/u1/disable", true},
		{"POST /admin/users/{id}/revoke", "/admin/users/u1/revoke", true},
		{"POST /admin/users/{id}/enable", "/admin/users/u1/enable", true},
		{"PUT /admin/users/{id}/roles/{role}", "/admin/users/u1/roles/auditor", true},
		{"DELETE /admin/users/{id}/roles/{role}", "/admin/users/u1/roles/auditor", true},
		{"POST /email/verify/resend", "/email/verify/resend", false},
		{"POST /admin/users/{id}/reset-password", "/admin/users/u1/reset-password", true},
	}
	for _, b := range bearerOps {
		who := asUser
		if b.admin {
			who = asAdmin
			cs = append(cs, openAPICase{setup: "ok", op: b.op, path: b.path, headers: asUser, status: 403})
		}
		cs = append(cs,
			openAPICase{setup: "ok", op: b.op, path: b.path, headers: twoAuth, status: 400},
			openAPICase{setup: "ok", op: b.op, path: b.path, status: 401},
			openAPICase{setup: "ok", op: b.op, path: b.path, headers: []string{"Authorization", "Bearer forged"}, status: 401},
			openAPICase{setup: "ok", op: b.op, path: b.path, headers: []string{"Authorization", "Bearer unavailable"}, status: 503},
			openAPICase{setup: "boom", op: b.op, path: b.path, headers: who, status: 500})
	}
	return cs
}

// openAPIUnprovokable lists the documented (operation, status) pairs no case can provoke
// in-process, each with the reason. Every pair is provoked today.
var openAPIUnprovokable = map[openapitest.Pair]string{}

var openAPIDiscovery = []byte(`{"issuer":"https://auth.example.com","jwks_uri":"https://auth.example.com/.well-known/jwks.json"}`)

// TestOpenAPIResponses drives real requests through the auth router and checks every answer
// against the document: a documented status, the documented media type and required headers,
// a body valid against the schema (JSON Schema 2020-12); then that every documented
// (operation, status) pair was provoked.
func TestOpenAPIResponses(t *testing.T) {
	doc := openapitest.Load(t, OpenAPI(), openAPIFile)
	checker := openapitest.NewChecker(doc, openAPIFile)
	servers := map[string]*httptest.Server{}
	server := func(name string) *httptest.Server {
		if srv, ok := servers[name]; ok {
			return srv
		}
		s, ok := openAPISetups[name]
		if !ok {
			t.Fatalf("no setup %q", name)
		}
		svc := &scriptedService{err: s.err, jwksETag: "v1", mode: s.mode,
			jwksDoc: []byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"k1","alg":"EdDSA","use":"sig"}]}`)}
		cfg := openAPIConfig(t, s)
		srv := newTestServer(t, svc, cfg)
		servers[name] = srv
		return srv
	}
	for _, c := range openAPICases() {
		path := c.path
		method, tmpl, _ := strings.Cut(string(c.op), " ")
		if path == "" {
			path = tmpl
		}
		headers := c.headers
		if c.body != "" && !slices.Contains(headers, "Content-Type") {
			headers = with(headers, "Content-Type", jsonCT)
		}
		t.Run(c.setup+" "+method+" "+path+" "+http.StatusText(c.status), func(t *testing.T) {
			resp := do(t, server(c.setup), method, path, c.body, headers...)
			body := checker.Check(t, c.op, resp)
			if resp.StatusCode != c.status {
				t.Errorf("status = %d, want %d (body %.300s)", resp.StatusCode, c.status, body)
			}
		})
	}
	checker.CheckProvoked(t, openAPIUnprovokable, howToDocument)
}

func mustRead(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
