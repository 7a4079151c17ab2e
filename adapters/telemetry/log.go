package telemetry

import (
	"context"
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
// warn, error; anything else means info: validate it with ParseLevel at start). A record
// logged with a context that carries a request id (RequestID, WithRequestID) gets a
// "request_id" attribute, so every line of one request can be found across services.
func NewLogger(w io.Writer, level string) *slog.Logger {
	lvl, _ := ParseLevel(level)
	return slog.New(requestIDHandler{slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lvl})})
}

// requestIDHandler adds the context's request id to every record.
type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestIDFrom(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(attrs)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}
