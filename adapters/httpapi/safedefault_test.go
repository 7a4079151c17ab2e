package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/keygate/keygate/adapters/httpapi"
	"github.com/keygate/keygate/adapters/jose"
	"github.com/keygate/keygate/adapters/memory"
	"github.com/keygate/keygate/adapters/system"
	"github.com/keygate/keygate/adapters/telemetry"
	"github.com/keygate/keygate/core/guard"
	"github.com/keygate/keygate/ports/portstest"
)

// TestSafeByDefault builds a verifier the way a service does (remote JWKS, revocation feed,
// guard, RequireToken, FeedCheck), fail open, and shows that until the keys and the
// revocation set have been loaded once a valid token gets 503 with Retry-After, never 200,
// and /ready says 503 naming the cause; once both are loaded the token is served.
func TestSafeByDefault(t *testing.T) {
	issuer, signed := fakeAuthService()
	t.Cleanup(issuer.Close)
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	clock, metrics := system.Clock{}, telemetry.Nop

	serve := func(t *testing.T, keys *jose.RemoteKeySet, feed *guard.Feed) *httptest.Server {
		t.Helper()
		g, err := guard.New(keys, feed, clock, metrics, guard.Config{Issuer: issuer.URL, Audiences: []string{"billing"}})
		if err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		mux.Handle("/api/", httpapi.RequireToken(g)(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte("ok"))
		})))
		mux.Handle("/ready", httpapi.ReadyReport([]httpapi.Check{httpapi.FeedCheck(g)}))
		srv := httptest.NewServer(mux)
		t.Cleanup(srv.Close)
		return srv
	}
	get := func(t *testing.T, srv *httptest.Server, path string) *http.Response {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+signed)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	want503 := func(t *testing.T, resp *http.Response, what string) {
		t.Helper()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s: %d with Retry-After %q, want 503 with Retry-After", what, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}

	t.Run("revocation set never loaded", func(t *testing.T) {
		keys, closeKeys, err := jose.NewRemoteKeySet(nil, clock, metrics, jose.Config{Issuer: issuer.URL})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(closeKeys)
		go keys.Run(ctx)
		feed := guard.NewFeed(portstest.UnavailableRevocationStore{}, portstest.UnavailableEventBus{}, keys, clock, metrics, guard.FeedConfig{})
		go feed.Run(ctx)
		srv := serve(t, keys, feed)
		waitFor(t, keys.Ready)
		want503(t, get(t, srv, "/api/x"), "valid token, revocation store down since start")
		resp := get(t, srv, "/ready")
		var body struct {
			Checks map[string]struct{ Status, Error string }
		}
		_ = json.NewDecoder(resp.Body).Decode(&body)
		if c := body.Checks["revocation_feed"]; resp.StatusCode != 503 || c.Status != "fail" {
			t.Errorf("/ready = %d %+v, want 503 with revocation_feed failing", resp.StatusCode, body.Checks)
		}
	})
	t.Run("keys never loaded", func(t *testing.T) {
		dead := httptest.NewServer(http.NotFoundHandler())
		t.Cleanup(dead.Close)
		keys, closeKeys, err := jose.NewRemoteKeySet(nil, clock, metrics, jose.Config{Issuer: issuer.URL, URL: dead.URL + "/jwks.json"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(closeKeys)
		go keys.Run(ctx)
		feed := guard.NewFeed(memory.NewRevocationStore(clock, nil), memory.NewEventBus(memory.EventBusConfig{}), keys, clock, metrics, guard.FeedConfig{})
		go feed.Run(ctx)
		if err := feed.WaitSynced(t.Context()); err != nil {
			t.Fatal(err)
		}
		want503(t, get(t, serve(t, keys, feed), "/api/x"), "valid token, JWKS never fetched")
	})
	t.Run("both loaded", func(t *testing.T) {
		keys, closeKeys, err := jose.NewRemoteKeySet(nil, clock, metrics, jose.Config{Issuer: issuer.URL})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(closeKeys)
		go keys.Run(ctx)
		feed := guard.NewFeed(memory.NewRevocationStore(clock, nil), memory.NewEventBus(memory.EventBusConfig{}), keys, clock, metrics, guard.FeedConfig{})
		go feed.Run(ctx)
		srv := serve(t, keys, feed)
		if err := feed.WaitSynced(t.Context()); err != nil {
			t.Fatal(err)
		}
		waitFor(t, keys.Ready)
		if resp := get(t, srv, "/api/x"); resp.StatusCode != http.StatusOK {
			t.Errorf("valid token with keys and set loaded: %d, want 200", resp.StatusCode)
		}
		if resp := get(t, srv, "/ready"); resp.StatusCode != http.StatusOK {
			t.Errorf("/ready with the set loaded: %d, want 200", resp.StatusCode)
		}
	})
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !ok(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
	}
}
