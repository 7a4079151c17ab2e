package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/keygate/keygate/core/guard"
)

// DecodeJSON reads r's body into v strictly, for services built on this package: the
// Content-Type must be application/json (415), the body at most MaxBodyBytes (413), valid
// UTF-8 without lone surrogate escapes, one JSON object with no duplicate (compared as the
// decoder matches names, ignoring case) or unknown members and nothing after it (400). Answer
// its error with WriteError.
func DecodeJSON(w http.ResponseWriter, r *http.Request, v any) error { return decodeJSON(w, r, v) }

// WriteError answers err as an RFC 9457 problem document through the package's one error
// table; unknown errors become an opaque 500 logged to log (which may be nil).
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	writeError(w, r, log, err)
}

// WriteJSON answers v as JSON with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// Readiness policy, the same in every keygate service: a replica that cannot do its job at
// all (no signing or verification keys, a revocation set never loaded, a fail-closed verifier
// past its staleness bound) answers /ready with 503, so it gets no traffic. A replica that was
// whole and lost a dependency (Redis, the database, the revocation feed's connection) answers
// 200 with status "degraded" and names the dependency (on the admin listener's ReadyReport;
// the public Ready says only "ready"): it still serves what it can (tokens
// verify against the last-known revocation set; authd serves its JWKS and answers login with
// 503 and Retry-After), and Kubernetes does not pull every replica at once over an outage that
// would hit them all.

// Check is one readiness check. Fn returns nil when ready, an error made with Degraded when
// the replica still serves without it, and any other error when it cannot serve.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
}

// degradedError marks a check failure that leaves the replica serving.
type degradedError struct{ err error }

func (e degradedError) Error() string { return e.err.Error() }
func (e degradedError) Unwrap() error { return e.err }

// Degraded marks err (nil stays nil) as a dependency failure the replica serves through.
func Degraded(err error) error {
	if err == nil {
		return nil
	}
	return degradedError{err}
}

// Health answers liveness: 200 while the process serves.
func Health(w http.ResponseWriter, _ *http.Request) {
	WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyTimeout bounds each readiness check.
const readyTimeout = 2 * time.Second

// checkResult is one check's line in ReadyReport.
type checkResult struct {
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// runChecks runs checks concurrently, each within readyTimeout, and returns the overall
// status ("ok", "degraded" when only Degraded failures occur, else "unavailable"), its HTTP
// status and each check's result.
func runChecks(ctx context.Context, checks []Check) (string, int, map[string]checkResult) {
	results := make(map[string]checkResult, len(checks))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range checks {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, readyTimeout)
			defer cancel()
			res := checkResult{Status: "ok"}
			if err := c.Fn(ctx); err != nil {
				res = checkResult{Status: "fail", Error: err.Error()}
				if errors.As(err, new(degradedError)) {
					res.Status = "degraded"
				}
			}
			mu.Lock()
			results[c.Name] = res
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
	return status, code, results
}

// Ready returns the terse readiness handler, for a public port: it runs checks as
// ReadyReport does and answers only the outcome, 200 {"status":"ready"} (ok or degraded) or
// 503 {"status":"not ready"} with Retry-After. It never names a check or shows an error, so
// no dependency, address or error text reaches whoever can reach the port; the detail is
// ReadyReport's, on the admin listener.
func Ready(checks []Check) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if _, code, _ := runChecks(r.Context(), checks); code != http.StatusOK {
			w.Header().Set("Retry-After", strconv.Itoa(int(unavailableRetryAfter/time.Second)))
			WriteJSON(w, code, map[string]string{"status": "not ready"})
			return
		}
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	}
}

// ReadyReport returns the detailed readiness handler, for the admin listener only: it runs
// checks concurrently and answers 200 {"status":"ok"} when all pass, 200
// {"status":"degraded"} when only Degraded failures occur, else 503 {"status":"unavailable"}
// with Retry-After; "checks" names each check with its status (ok, degraded, fail) and its
// error, which may carry internal addresses and dial errors.
func ReadyReport(checks []Check) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		status, code, results := runChecks(r.Context(), checks)
		if code != http.StatusOK {
			w.Header().Set("Retry-After", strconv.Itoa(int(unavailableRetryAfter/time.Second)))
		}
		WriteJSON(w, code, map[string]any{"status": status, "checks": results})
	}
}

func contentETag(b []byte) string {
	sum := sha256.Sum256(b)
	return `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
}

func quoteETag(t string) string {
	if strings.HasPrefix(t, `"`) || strings.HasPrefix(t, `W/"`) {
		return t
	}
	return `"` + t + `"`
}

// etagMatches is If-None-Match's weak comparison (RFC 9110 section 13.1.2).
func etagMatches(header, etag string) bool {
	if header == "" {
		return false
	}
	want := strings.TrimPrefix(etag, "W/")
	for part := range strings.SplitSeq(header, ",") {
		part = strings.TrimSpace(part)
		if part == "*" || strings.TrimPrefix(part, "W/") == want {
			return true
		}
	}
	return false
}

// Invalid returns an error that WriteError answers as 400 invalid_request with detail shown
// to the client, for a request a service finds wrong after decoding it.
func Invalid(detail string) error { return &invalidError{detail: detail} }

type invalidError struct{ detail string }

func (e *invalidError) Error() string { return "httpapi: invalid request: " + e.detail }
func (e *invalidError) Unwrap() error { return errBadRequest }

// FeedCheck is the readiness check of a verifier's revocation set. It only reports the state
// the guard itself acts on (guard.Guard.Readiness), so readiness and Authenticate can never
// disagree: failing while the guard refuses every token (the set never loaded, or staler than
// its fail-closed bound), Degraded while the feed is disconnected or the set is going stale
// (the store, or the replica it reads, has not confirmed it for three polls) and tokens are
// checked against the last-known set, nil when ok.
func FeedCheck(g interface{ Readiness() guard.Readiness }) Check {
	return Check{Name: "revocation_feed", Fn: func(context.Context) error {
		r := g.Readiness()
		switch r.State {
		case guard.StateOK:
			return nil
		case guard.StateDegraded:
			return Degraded(fmt.Errorf("revocation feed disconnected or its store silent; serving from the last-known set, stale for %v",
				r.Staleness.Round(time.Second)))
		case guard.StateNotLoaded:
			return errors.New("revocation set not loaded yet: refusing tokens")
		case guard.StateStale:
			return fmt.Errorf("revocation set stale for %v, over the fail-closed bound %v: refusing tokens",
				r.Staleness.Round(time.Second), r.FailClosedAfter)
		}
		return fmt.Errorf("revocation set in unknown state %q", r.State)
	}}
}
