package stores

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keygate/keygate/adapters/httpapi"
)

// A dependency that does not answer degrades the replica; it never takes it out of rotation.
func TestDependencyChecksDegrade(t *testing.T) {
	checks := DependencyChecks(Dependencies{
		{"redis", func(context.Context) error { return errors.New("connection refused") }},
		{"database", func(context.Context) error { return nil }},
	})
	rec := httptest.NewRecorder()
	httpapi.ReadyReport(checks)(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/ready", nil))
	body := rec.Body.String()
	if rec.Code != http.StatusOK || !strings.Contains(body, `"status":"degraded"`) ||
		!strings.Contains(body, `"redis":{"status":"degraded","error":"connection refused"}`) {
		t.Fatalf("/ready = %d %s, want 200 degraded naming redis", rec.Code, body)
	}
}
