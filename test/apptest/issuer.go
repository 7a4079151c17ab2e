package apptest

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/keygate/keygate/adapters/jose"
	"github.com/keygate/keygate/core/key"
	"github.com/keygate/keygate/core/token"
)

// Issuer stands in for authd at KEYGATE_ISSUER, for tests of verifiers: it serves the
// discovery document and the JWKS the way authd does, and signs access tokens with its one
// key. A held Issuer's JWKS does not answer (the request waits) until Open, as an issuer slow
// to answer when a verifier starts.
type Issuer struct {
	*httptest.Server
	key    key.Key
	signer *jose.TokenIssuer
	open   chan struct{}
	once   sync.Once
}

// NewIssuer starts an Issuer; held says whether its JWKS waits for Open.
func NewIssuer(held bool) *Issuer {
	now := time.Now()
	k, err := key.Generate(nil, 1, now, now)
	if err != nil {
		panic(err)
	}
	a := &Issuer{key: k, signer: jose.NewTokenIssuer(), open: make(chan struct{})}
	jwks, err := a.signer.JWKS([]key.Key{k})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	a.Server = httptest.NewServer(mux)
	disc, err := jose.Discovery(a.URL)
	if err != nil {
		panic(err)
	}
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
	if !held {
		a.Open()
	}
	return a
}

// Open lets the JWKS answer.
func (a *Issuer) Open() { a.once.Do(func() { close(a.open) }) }

// Close opens the JWKS (so no handler waits) and stops the server.
func (a *Issuer) Close() {
	a.Open()
	a.Server.Close()
}

// Sign returns a 15-minute access token for subject in session sid (its jti is "jti-"+sid),
// for audience, with the role "user" and the scope "openid".
func (a *Issuer) Sign(subject, sid, audience string) string {
	iat := time.Now().Truncate(time.Second)
	s, err := a.signer.Sign(a.key, token.Claims{Issuer: a.URL, Subject: subject, Audience: []string{audience},
		IssuedAt: iat, NotBefore: iat, ExpiresAt: iat.Add(15 * time.Minute), ID: "jti-" + sid, SessionID: sid,
		ClientID: "keygate", Scope: "openid", Roles: []string{"user"}})
	if err != nil {
		panic(err)
	}
	return s
}

// Getenv returns a getenv over m, for a run function or FromEnv.
func Getenv(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
