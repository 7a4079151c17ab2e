package verifier_test

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/keygate/keygate/adapters/jose"
	"github.com/keygate/keygate/core/guard"
	"github.com/keygate/keygate/core/key"
	"github.com/keygate/keygate/core/token"
)

// fakeAuthd stands in for authd at KEYGATE_ISSUER: it serves the discovery document and the
// JWKS, and signs access tokens. Until Open is called its JWKS answers nothing (the request
// waits), as an issuer that is slow to answer at start.
type fakeAuthd struct {
	*httptest.Server
	key    key.Key
	issuer *jose.TokenIssuer
	open   chan struct{}
	once   sync.Once
}

func newFakeAuthd() *fakeAuthd {
	now := time.Now()
	k, _ := key.Generate(nil, 1, now, now)
	a := &fakeAuthd{key: k, issuer: jose.NewTokenIssuer(), open: make(chan struct{})}
	jwks, _ := a.issuer.JWKS([]key.Key{k})
	mux := http.NewServeMux()
	a.Server = httptest.NewServer(mux)
	disc, _ := jose.Discovery(a.URL)
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(disc)
	})
	mux.HandleFunc("/.well-known/jwks.json", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-a.open:
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(jwks)
	})
	return a
}

// Open lets the JWKS answer.
func (a *fakeAuthd) Open() { a.once.Do(func() { close(a.open) }) }

// Close opens the JWKS (so no handler waits) and stops the server.
func (a *fakeAuthd) Close() {
	a.Open()
	a.Server.Close()
}

// sign returns an access token for subject in session sid, for audience.
func (a *fakeAuthd) sign(subject, sid, audience string) string {
	iat := time.Now().Truncate(time.Second)
	s, err := a.issuer.Sign(a.key, token.Claims{Issuer: a.URL, Subject: subject, Audience: []string{audience},
		IssuedAt: iat, NotBefore: iat, ExpiresAt: iat.Add(15 * time.Minute), ID: "jti-" + sid, SessionID: sid,
		ClientID: "keygate", Scope: "openid", Roles: []string{"user"}})
	if err != nil {
		panic(err)
	}
	return s
}

// env returns a getenv over m.
func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func guardConfig(issuer string) guard.Config {
	return guard.Config{Issuer: issuer, Audiences: []string{"billing"}}
}
