package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkRequireToken is the middleware's own cost around a verifier that answers from a
// map: header parsing, context, the handler call.
func BenchmarkRequireToken(b *testing.B) {
	h := RequireToken(testVerifier)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	r := httptest.NewRequest("GET", "/api/x", nil)
	r.Header.Set("Authorization", "Bearer user-token")
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, r)
	}
}

// BenchmarkDecodeStrict is the cost of the strict JSON checks on a login body.
func BenchmarkDecodeStrict(b *testing.B) {
	body := []byte(`{"email":"alice@example.com","password":"correct horse battery staple"}`)
	b.ReportAllocs()
	for b.Loop() {
		var req loginRequest
		if err := decodeStrict(body, &req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoginRequest is a whole POST /login through the router with a service that
// answers at once: what the HTTP layer adds to the argon2 work.
func BenchmarkLoginRequest(b *testing.B) {
	h := NewAuthRouter(&scriptedService{}, testVerifier, Config{})
	const body = `{"email":"alice@example.com","password":"correct horse"}`
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest("POST", "/login", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}
