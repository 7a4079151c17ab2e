package httpapi

import (
	_ "embed"
	"net/http"
	"slices"
)

// authdOpenAPI is the OpenAPI 3.1 description of the auth service's API: the one source,
// edited by hand and checked against the router and real responses by the TestOpenAPI tests.
//
//go:embed openapi/authd.json
var authdOpenAPI []byte

// OpenAPI returns the OpenAPI 3.1 description of the auth router's API (NewAuthRouter), the
// document served at /openapi.json.
func OpenAPI() []byte { return slices.Clone(authdOpenAPI) }

// ServeOpenAPI returns a handler serving doc, an OpenAPI document in JSON, for a service's
// /openapi.json.
func ServeOpenAPI(doc []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(doc)
	}
}

// ProblemCodes returns the stable codes a problem document can carry, sorted: the codes of
// the error table and rate_limited. An OpenAPI document names exactly these.
func ProblemCodes() []string {
	codes := []string{"rate_limited"}
	for _, row := range errorTable {
		if !slices.Contains(codes, row.code) {
			codes = append(codes, row.code)
		}
	}
	slices.Sort(codes)
	return codes
}
