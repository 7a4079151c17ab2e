package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/keygate/keygate/adapters/httpapi"
	"github.com/keygate/keygate/adapters/jose"
	"github.com/keygate/keygate/adapters/memory"
	"github.com/keygate/keygate/adapters/system"
	"github.com/keygate/keygate/adapters/telemetry"
	"github.com/keygate/keygate/core/guard"
	"github.com/keygate/keygate/core/key"
	"github.com/keygate/keygate/core/token"
)

// A team adds keygate's verifier to its own Go service: the remote JWKS of the issuer, a
// revocation feed, the guard, and the middleware in front of its API. Tokens are verified
// locally; no call to the auth service per request.
func ExampleRequireToken() {
	ctx := context.Background()
	issuer, signed := fakeAuthService() // stands in for authd at KEYGATE_ISSUER
	defer issuer.Close()
	clock, metrics := system.Clock{}, telemetry.Nop
	// In production the revocation store and bus are Redis's (REDIS_ADDR), shared with authd.
	bus := memory.NewEventBus(memory.EventBusConfig{})
	revocations := memory.NewRevocationStore(clock, bus)

	// The few lines: keys from the issuer's JWKS, revocations from the feed, the guard.
	keys, closeKeys, _ := jose.NewRemoteKeySet(nil, clock, metrics, jose.Config{Issuer: issuer.URL})
	defer closeKeys()
	feed := guard.NewFeed(revocations, bus, keys, clock, metrics, guard.FeedConfig{})
	go keys.Run(ctx)
	go feed.Run(ctx)
	verifier, _ := guard.New(keys, feed, clock, metrics, guard.Config{Issuer: issuer.URL, Audiences: []string{"billing"}})

	mux := http.NewServeMux()
	mux.Handle("/api/", httpapi.RequireToken(verifier)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller, _ := httpapi.Claims(r.Context())
		fmt.Fprintf(w, "hello %s", caller.Subject)
	})))

	_ = feed.WaitSynced(ctx)
	for range 100 { // the example waits for the first JWKS fetch; a service's /ready would
		if keys.Ready() {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, bearer := range []string{signed, "not-a-token"} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("GET", "/api/invoices", nil)
		r.Header.Set("Authorization", "Bearer "+bearer)
		mux.ServeHTTP(w, r)
		if w.Code == http.StatusOK {
			fmt.Println(w.Code, w.Body.String())
		} else {
			fmt.Println(w.Code, w.Header().Get("WWW-Authenticate"))
		}
	}
	// Output:
	// 200 hello user-42
	// 401 Bearer error="invalid_token"
}

// fakeAuthService serves a discovery document and a JWKS the way authd does, and returns
// an access token it signed for user-42 and the audience billing.
func fakeAuthService() (*httptest.Server, string) {
	now := time.Now()
	k, _ := key.Generate(nil, 1, now, now)
	issuer := jose.NewTokenIssuer()
	jwks, _ := issuer.JWKS([]key.Key{k})
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	disc, _ := jose.Discovery(srv.URL)
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(disc)
	})
	mux.HandleFunc("/.well-known/jwks.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Write(jwks)
	})
	iat := now.Truncate(time.Second)
	signed, _ := issuer.Sign(k, token.Claims{Issuer: srv.URL, Subject: "user-42", Audience: []string{"billing"},
		IssuedAt: iat, NotBefore: iat, ExpiresAt: iat.Add(15 * time.Minute), ID: "jti-1", SessionID: "sid-1",
		ClientID: "keygate", Scope: "openid"})
	return srv, signed
}
