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
	"strings"
	"sync"
	"time"

	"github.com/keygate/keygate/core/guard"
)

// DecodeJSON reads r's body into v strictly, for services built on this package: the
// Content-Type must be application/json (415), the body at most MaxBodyBytes (413), one JSON
// object with no duplicate or unknown members and nothing after it (400). Answer its error
// with WriteError.
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

// Check is one readiness check: Fn reports why its dependency is not ready, or nil.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
}

// Health answers liveness: 200 while the process serves.
func Health(w http.ResponseWriter, _ *http.Request) {
	WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyTimeout bounds each readiness check.
const readyTimeout = 2 * time.Second

// Ready returns a readiness handler running checks concurrently: 200 when all pass, else 503;
// the body names each check with its status and, when it fails, its error.
func Ready(checks []Check) http.HandlerFunc {
	type result struct {
		Status string `json:"status"`
		Error  string `json:"error,omitempty"`
	}
	return func(w http.ResponseWriter, r *http.Request) {
		results := make(map[string]result, len(checks))
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, c := range checks {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
				defer cancel()
				res := result{Status: "ok"}
				if err := c.Fn(ctx); err != nil {
					res = result{Status: "fail", Error: err.Error()}
				}
				mu.Lock()
				results[c.Name] = res
				mu.Unlock()
			})
		}
		wg.Wait()
		status, code := "ok", http.StatusOK
		for _, res := range results {
			if res.Status != "ok" {
				status, code = "unavailable", http.StatusServiceUnavailable
			}
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

// FeedCheck is the readiness check of a revocation feed: ready once its set was loaded from
// the store, and while its subscription is connected.
func FeedCheck(f *guard.Feed) Check {
	return Check{Name: "revocation_feed", Fn: func(context.Context) error {
		st := f.Status()
		switch {
		case !st.Synced:
			return errors.New("revocation set not loaded yet")
		case !st.Connected:
			return fmt.Errorf("revocation feed disconnected; set stale for %v", st.Staleness.Round(time.Second))
		}
		return nil
	}}
}
