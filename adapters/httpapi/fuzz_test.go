package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/core/auth"
	"github.com/keygate/keygate/ports"
)

// FuzzLoginBody feeds arbitrary bodies and content types to POST /login. Whatever arrives,
// the router never panics and answers only with a status a client can act on.
func FuzzLoginBody(f *testing.F) {
	seeds := []struct{ contentType, body string }{
		{"application/json", `{"email":"alice@example.com","password":"correct horse"}`},
		{"application/json", `{"email":"alice@example.com","password":"wrong"}`},
		{"application/json", `{"email":"limited@example.com","password":"x"}`},
		{"application/json", `{"email":"down@example.com","password":"x"}`},
		{"application/json", `{"email":"a","email":"b"}`},
		{"application/json", `{"email":"a","password":"b","x":1}`},
		{"application/json", `{"email":"a","password":"b"} {}`},
		{"application/json", `{"email":[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]}`},
		{"application/json", `{"email":"\ud800","password":"\u0000"}`},
		{"application/json", "{\"email\":\"\xff\xfe\",\"password\":\"p\"}"},
		{"application/json", `null`},
		{"application/json", ``},
		{"application/json", strings.Repeat(`{"a":`, 100)},
		{"application/json; charset=utf-8", `{}`},
		{"text/plain", `{}`},
		{"application/json", `{"email":"` + strings.Repeat("x", 9000) + `"}`},
	}
	for _, s := range seeds {
		f.Add(s.contentType, s.body)
	}
	h := NewAuthRouter(&fuzzService{}, testVerifier, Config{})
	allowed := map[int]bool{400: true, 401: true, 413: true, 415: true, 429: true, 503: true, 200: true}
	f.Fuzz(func(t *testing.T, contentType, body string) {
		r := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if !allowed[w.Code] {
			t.Fatalf("status %d for %q %q: %s", w.Code, contentType, body, w.Body)
		}
	})
}

// fuzzService is the scripted service with a login that also answers "rate limited" and
// "unavailable", as the real one does under load.
type fuzzService struct{ scriptedService }

func (s *fuzzService) Login(ctx context.Context, email, password string, c auth.Client) (auth.TokenPair, error) {
	switch email {
	case "limited@example.com":
		return auth.TokenPair{}, &auth.RateLimitedError{RetryAfter: time.Second}
	case "down@example.com":
		return auth.TokenPair{}, ports.ErrUnavailable
	}
	return s.scriptedService.Login(ctx, email, password, c)
}
