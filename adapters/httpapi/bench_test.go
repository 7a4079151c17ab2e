package httpapi

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
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

// BenchmarkAccessLog is the access log's cost per request: a bare handler (Floor) and the same
// handler through accessLog writing JSON lines to io.Discard (Logged), inside a chi router as
// in the services.
func BenchmarkAccessLog(b *testing.B) {
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	for _, tt := range []struct {
		name string
		mw   []func(http.Handler) http.Handler
	}{{"Floor", nil}, {"Logged", []func(http.Handler) http.Handler{accessLog(log)}}} {
		b.Run(tt.name, func(b *testing.B) {
			r := chi.NewRouter()
			r.Use(tt.mw...)
			r.Get("/x", ok)
			req := httptest.NewRequest(http.MethodGet, "/x", nil)
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				r.ServeHTTP(w, req)
			}
		})
	}
}
