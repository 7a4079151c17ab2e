package main

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/keygate/keygate/adapters/httpapi"
	"github.com/keygate/keygate/adapters/httpapi/openapitest"
)

const openAPIFile = "apps/guardd/openapi.json"

const howToDocument = "Add it under paths in " + openAPIFile + " with every status it can return, then a row " +
	"provoking each status to TestOpenAPIResponses in apps/guardd/openapi_test.go."

// TestOpenAPIRoutesDocumented: every route of guardd's handler is documented (CONNECT and
// QUERY aside, which OpenAPI 3.1 cannot name), and every documented operation is registered.
func TestOpenAPIRoutesDocumented(t *testing.T) {
	doc := openapitest.Load(t, openAPI, openAPIFile)
	s := newSidecar(t, false)
	routes, ok := NewHandler(s.v, quiet()).(chi.Routes)
	if !ok {
		t.Fatal("NewHandler does not return a chi router")
	}
	openapitest.CheckRoutes(t, doc, routes, []string{http.MethodConnect, "QUERY"}, openAPIFile, howToDocument)
}

// TestOpenAPIProblemCodes: every problem code the document names is one of the error table's.
func TestOpenAPIProblemCodes(t *testing.T) {
	doc := openapitest.Load(t, openAPI, openAPIFile)
	for _, c := range doc.Components.Schemas["Problem"].Value.Properties["code"].Value.Enum {
		if !slices.Contains(httpapi.ProblemCodes(), c.(string)) {
			t.Errorf("%s names problem code %q, which the error table (adapters/httpapi/errors.go) does not have", openAPIFile, c)
		}
	}
}

// TestOpenAPIResponses asks guardd's real handler every documented question, over a JWKS and
// an in-process revocation feed, and checks each answer against the document.
func TestOpenAPIResponses(t *testing.T) {
	doc := openapitest.Load(t, openAPI, openAPIFile)
	checker := openapitest.NewChecker(doc, openAPIFile)
	ready, held := newSidecar(t, false), newSidecar(t, true)
	tok := ready.authd.Sign("user-42", "sid-1", "billing")
	heldTok := held.authd.Sign("user-42", "sid-1", "billing")
	ask := func(s *sidecar, method, path string, header []string) *http.Response {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, s.srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Add(header[i], header[i+1])
		}
		resp, err := s.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	check := func(s *sidecar, op openapitest.Operation, path string, header []string, want int) {
		t.Helper()
		method, _, _ := strings.Cut(string(op), " ")
		resp := ask(s, method, path, header)
		checker.Check(t, op, resp)
		if resp.StatusCode != want {
			t.Errorf("%s %s: status %d, want %d", method, path, resp.StatusCode, want)
		}
	}
	check(ready, "GET /health", "/health", nil, 200)
	check(ready, "GET /ready", "/ready", nil, 200)
	check(held, "GET /ready", "/ready", nil, 503)
	check(ready, "GET /openapi.json", "/openapi.json", nil, 200)
	for _, m := range []string{"GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE"} {
		for _, p := range []struct{ tmpl, path string }{{"/verify", "/verify"}, {"/verify/{path}", "/verify/api/orders/42"}} {
			op := openapitest.Operation(m + " " + p.tmpl)
			check(ready, op, p.path, []string{"Authorization", "Bearer " + tok}, 200)
			check(ready, op, p.path, []string{"Authorization", "Bearer " + tok, "Authorization", "Bearer " + tok}, 400)
			check(ready, op, p.path, nil, 401)
			check(ready, op, p.path, []string{"Authorization", "Bearer not-a-token"}, 401)
			check(held, op, p.path, []string{"Authorization", "Bearer " + heldTok}, 503)
		}
	}
	checker.CheckProvoked(t, nil, howToDocument)
}
