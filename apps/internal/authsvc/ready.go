package authsvc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/keygate/keygate/adapters/httpapi"
	"github.com/keygate/keygate/core/guard"
)

// Readiness policy, shared by authd and the microservices: a replica that cannot do its job
// at all (no signing or verification keys, a revocation set never loaded, a fail-closed
// verifier past its staleness bound) answers /ready with 503, so it gets no traffic. A
// replica that was whole and lost a dependency (Redis, the database, the revocation feed's
// connection) keeps answering 200 with status "degraded" and says which dependency is down:
// it still serves what it can (tokens verify against the last-known revocation set; authd
// still serves its JWKS and answers login with 503 and Retry-After), and Kubernetes does not
// pull every replica at once over an outage that would hit them all.

// Probe is one readiness check. Fn returns nil when ready, an error made with Degraded when
// the replica still serves without it, and any other error when it cannot serve.
type Probe struct {
	Name string
	Fn   func(ctx context.Context) error
}

// degradedError marks a probe failure that leaves the replica serving.
type degradedError struct{ err error }

func (e degradedError) Error() string { return e.err.Error() }
func (e degradedError) Unwrap() error { return e.err }

// Degraded marks err as a dependency failure the replica serves through.
func Degraded(err error) error {
	if err == nil {
		return nil
	}
	return degradedError{err}
}

// probeTimeout bounds each probe.
const probeTimeout = 2 * time.Second

// Ready answers /ready: 200 {"status":"ok"} when every probe passes, 200 {"status":"degraded"}
// when only Degraded failures occur, else 503 {"status":"unavailable"}; "checks" names each
// probe with its status (ok, degraded, fail) and error.
func Ready(probes []Probe) http.HandlerFunc {
	type result struct {
		Status string `json:"status"`
		Error  string `json:"error,omitempty"`
	}
	return func(w http.ResponseWriter, r *http.Request) {
		results := make(map[string]result, len(probes))
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, p := range probes {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(r.Context(), probeTimeout)
				defer cancel()
				res := result{Status: "ok"}
				if err := p.Fn(ctx); err != nil {
					res = result{Status: "fail", Error: err.Error()}
					if errors.As(err, new(degradedError)) {
						res.Status = "degraded"
					}
				}
				mu.Lock()
				results[p.Name] = res
				mu.Unlock()
			})
		}
		wg.Wait()
		status, code := "ok", http.StatusOK
		for _, res := range results {
			switch {
			case res.Status == "fail":
				status, code = "unavailable", http.StatusServiceUnavailable
			case res.Status == "degraded" && code == http.StatusOK:
				status = "degraded"
			}
		}
		w.Header().Set("Cache-Control", "no-store")
		httpapi.WriteJSON(w, code, map[string]any{"status": status, "checks": results})
	}
}

// WithReady serves GET /ready from probes and everything else from h.
func WithReady(h http.Handler, probes []Probe) http.Handler {
	ready := Ready(probes)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ready" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			ready(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// FeedProbe is the readiness of a revocation feed: failing until its set is first loaded,
// and (with failClosedAfter > 0) once the set is staler than that, since the guard then refuses
// every token; degraded while it is disconnected but still within bounds.
func FeedProbe(f *guard.Feed, failClosedAfter time.Duration) Probe {
	return Probe{Name: "revocation_feed", Fn: func(context.Context) error {
		st := f.Status()
		switch {
		case !st.Synced:
			return errors.New("revocation set not loaded yet")
		case failClosedAfter > 0 && st.Staleness > failClosedAfter:
			return fmt.Errorf("revocation set stale for %v, over KEYGATE_FAIL_CLOSED_AFTER=%v: refusing tokens",
				st.Staleness.Round(time.Second), failClosedAfter)
		case !st.Connected:
			return Degraded(fmt.Errorf("revocation feed disconnected; serving from the last-known set, stale for %v",
				st.Staleness.Round(time.Second)))
		}
		return nil
	}}
}

// DependencyProbes are the probes of deps: each failure is Degraded.
func DependencyProbes(deps Dependencies) []Probe {
	out := make([]Probe, 0, len(deps))
	for _, d := range deps {
		out = append(out, Probe{Name: d.Name, Fn: func(ctx context.Context) error { return Degraded(d.Ping(ctx)) }})
	}
	return out
}

// MonitorEvery is how often Monitor pings the dependencies.
const MonitorEvery = 5 * time.Second

// Monitor pings deps every MonitorEvery until ctx ends, reports each as
// keygate_dependency_up{dependency} through set, and logs when one goes down or comes back.
func Monitor(ctx context.Context, deps Dependencies, set func(name string, up bool), log *slog.Logger, app string) {
	if len(deps) == 0 {
		return
	}
	up := make(map[string]bool, len(deps))
	check := func() {
		for _, d := range deps {
			pctx, cancel := context.WithTimeout(ctx, probeTimeout)
			err := d.Ping(pctx)
			cancel()
			if ctx.Err() != nil {
				return
			}
			was, seen := up[d.Name]
			up[d.Name] = err == nil
			set(d.Name, err == nil)
			switch {
			case err != nil && (was || !seen):
				log.Warn(app+": dependency down; serving degraded", slog.String("dependency", d.Name),
					slog.String("error", err.Error()))
			case err == nil && seen && !was:
				log.Info(app+": dependency back", slog.String("dependency", d.Name))
			}
		}
	}
	check()
	t := time.NewTicker(MonitorEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			check()
		}
	}
}
