package authsvc

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestReadyDegradedStaysServing: a lost dependency keeps the replica in rotation (200,
// "degraded", the dependency named); a replica that cannot serve answers 503.
func TestReadyDegradedStaysServing(t *testing.T) {
	ok := func(context.Context) error { return nil }
	down := func(context.Context) error { return errors.New("connection refused") }
	tests := []struct {
		name       string
		probes     []Probe
		wantCode   int
		wantStatus string
		wantChecks map[string]string
	}{
		{"all well", []Probe{{"keys", ok}, {"redis", ok}}, 200, "ok", map[string]string{"keys": "ok", "redis": "ok"}},
		{"redis down", append([]Probe{{"keys", ok}}, DependencyProbes(Dependencies{{"redis", down}})...), 200, "degraded",
			map[string]string{"keys": "ok", "redis": "degraded"}},
		{"no keys, redis down", append([]Probe{{"keys", down}}, DependencyProbes(Dependencies{{"redis", down}})...), 503, "unavailable",
			map[string]string{"keys": "fail", "redis": "degraded"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inner := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
			h := WithReady(inner, tt.probes)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/ready", nil))
			var body struct {
				Status string
				Checks map[string]struct{ Status, Error string }
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for k, v := range body.Checks {
				got[k] = v.Status
				if v.Status != "ok" && v.Error == "" {
					t.Errorf("check %s is %s without an error", k, v.Status)
				}
			}
			if rec.Code != tt.wantCode || body.Status != tt.wantStatus {
				t.Errorf("answer %d %q, want %d %q", rec.Code, body.Status, tt.wantCode, tt.wantStatus)
			}
			if diff := cmp.Diff(tt.wantChecks, got); diff != "" {
				t.Errorf("checks (-want +got):\n%s", diff)
			}
			rec = httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/other", nil))
			if rec.Code != http.StatusTeapot {
				t.Errorf("other paths answered %d, not by the wrapped handler", rec.Code)
			}
		})
	}
}
