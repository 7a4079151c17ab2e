package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/keygate/keygate/adapters/httpapi"
	"github.com/keygate/keygate/adapters/jose"
	"github.com/keygate/keygate/adapters/memory"
	"github.com/keygate/keygate/adapters/system"
	"github.com/keygate/keygate/adapters/telemetry"
	"github.com/keygate/keygate/core/guard"
)

// BenchmarkHTTPAuthenticated is issue 9's HTTP row in process: one real HTTP server (the
// router every keygate service has: request id, access log as JSON, recoverer, security
// headers, HTTP metrics) with the same handler twice, at /open/orders as it is and at
// /api/orders behind RequireToken over the real guard (JWKS from an issuer over HTTP, a
// revocation feed); a Go client loops GETs over 1 or 50 keep-alive connections, the
// authenticated ones with one valid token (as wrk sends one). Each iteration is one request of
// each kind, in alternating batches so both see the same machine; it reports the requests a
// second of each and their ratio, auth/open (issue 9's goal: >= 0.9).
//
//	go test -run '^$' -bench HTTPAuthenticated -benchtime 20000x ./adapters/httpapi/
func BenchmarkHTTPAuthenticated(b *testing.B) {
	srv, tok := benchService(b)
	for _, conns := range []int{1, 50} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
			client := &http.Client{Transport: &http.Transport{
				MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true,
				DialContext: (&net.Dialer{}).DialContext,
			}}
			defer client.CloseIdleConnections()
			open, auth := srv.URL+"/open/orders", srv.URL+"/api/orders"
			load(b, client, conns, open, "", 100) // warm the connections and the guard
			load(b, client, conns, auth, tok, 100)
			batch := 40 * conns // 40 requests a connection: load that keeps every connection busy, as wrk does, not the start and tail of a burst
			var tOpen, tAuth time.Duration
			b.ResetTimer()
			for left := b.N; left > 0; left -= batch {
				n := min(batch, left)
				tOpen += load(b, client, conns, open, "", n)
				tAuth += load(b, client, conns, auth, tok, n)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/tOpen.Seconds(), "open-req/s")
			b.ReportMetric(float64(b.N)/tAuth.Seconds(), "auth-req/s")
			b.ReportMetric(tOpen.Seconds()/tAuth.Seconds(), "auth/open")
		})
	}
}

// load sends n GETs of url over conns connections at once and returns the time they took.
func load(b *testing.B, client *http.Client, conns int, url, tok string, n int) time.Duration {
	var left atomic.Int64
	left.Store(int64(n))
	var wg sync.WaitGroup
	start := time.Now()
	for range conns {
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(b.Context(), http.MethodGet, url, nil)
			if tok != "" {
				req.Header.Set("Authorization", "Bearer "+tok)
			}
			for left.Add(-1) >= 0 {
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Errorf("GET %s: %d", url, resp.StatusCode)
					return
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start)
}

// BenchmarkRouterAuthenticated is the same service without the network: one request through
// the router's handler (httptest.ResponseRecorder), open and authenticated, so the allocations
// and time the authentication adds show alone.
func BenchmarkRouterAuthenticated(b *testing.B) {
	srv, tok := benchService(b)
	h := srv.Config.Handler
	for _, tt := range []struct{ name, path, tok string }{{"open", "/open/orders", ""}, {"auth", "/api/orders", tok}} {
		b.Run(tt.name, func(b *testing.B) {
			r := httptest.NewRequest(http.MethodGet, tt.path, nil)
			if tt.tok != "" {
				r.Header.Set("Authorization", "Bearer "+tt.tok)
			}
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatal(w.Code)
				}
			}
		})
	}
}

// benchService starts the service and returns it with a token it accepts.
func benchService(b *testing.B) (srv *httptest.Server, tok string) {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	issuer, signed := fakeAuthService()
	clock := system.Clock{}
	metrics := telemetry.New(nil)
	keys, closeKeys, err := jose.NewRemoteKeySet(nil, clock, metrics, jose.Config{Issuer: issuer.URL})
	if err != nil {
		b.Fatal(err)
	}
	feed := guard.NewFeed(memory.NewRevocationStore(clock, nil), memory.NewEventBus(memory.EventBusConfig{}), keys, clock, metrics, guard.FeedConfig{})
	go keys.Run(ctx)
	go feed.Run(ctx)
	g, err := guard.New(keys, feed, clock, metrics, guard.Config{Issuer: issuer.URL, Audiences: []string{"billing"}})
	if err != nil {
		b.Fatal(err)
	}
	if err := feed.WaitSynced(ctx); err != nil {
		b.Fatal(err)
	}
	if err := keys.Refresh(ctx, ""); err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	orders := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"orders":[{"id":"o-1","total":4200}]}`)
	}
	r := httpapi.NewRouter(log, nil, metrics.Middleware)
	r.Get("/open/orders", orders)
	r.Group(func(r chi.Router) {
		r.Use(httpapi.RequireToken(g, httpapi.WithLogger(log)))
		r.Get("/api/orders", orders)
	})
	s := httptest.NewServer(r)
	b.Cleanup(func() { s.Close(); cancel(); closeKeys(); issuer.Close() })
	return s, signed
}
