package telemetry

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// ParseLevel parses a KEYGATE_LOG_LEVEL value: debug, info, warn or error (any case).
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, nil
	case "info", "":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return slog.LevelInfo, fmt.Errorf("telemetry: log level %q: want debug, info, warn or error", s)
}

// NewLogger returns a logger writing one JSON object per line to w, at level (debug, info,
// warn, error; anything else means info: validate it with ParseLevel at start). Request ids are
// added by the HTTP adapter to the lines it logs (httpapi.RequestID), so one mechanism carries
// X-Request-ID from the load balancer into the logs.
func NewLogger(w io.Writer, level string) *slog.Logger {
	lvl, _ := ParseLevel(level)
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lvl}))
}
