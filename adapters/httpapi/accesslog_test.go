package httpapi

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestAccessLogLine: one line per request with the status, the bytes written and the duration
// as whole microseconds (an integer), and none at all when the level is above info.
func TestAccessLogLine(t *testing.T) {
	for _, tt := range []struct {
		level slog.Level
		lines int
	}{{slog.LevelInfo, 1}, {slog.LevelWarn, 0}} {
		var buf bytes.Buffer
		h := accessLog(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: tt.level})))(
			http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("hello")) }))
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/x", nil))
		if got := bytes.Count(buf.Bytes(), []byte("\n")); got != tt.lines {
			t.Fatalf("level %v: %d lines, want %d: %s", tt.level, got, tt.lines, buf.String())
		}
		if tt.lines == 0 {
			continue
		}
		var line map[string]any
		if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
			t.Fatal(err)
		}
		d, ok := line["duration_us"].(float64)
		if !ok || d < 0 || d != float64(int64(d)) || line["status"] != float64(200) || line["bytes"] != float64(5) {
			t.Errorf("line %v: want status 200, bytes 5 and duration_us a whole number", line)
		}
	}
}
