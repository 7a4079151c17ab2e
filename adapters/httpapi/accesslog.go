package httpapi

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
)

// accessLog writes one structured line per request: its request id (the one NGINX set, so a
// request can be followed from the load balancer through every service), method, route pattern
// (never the raw path, which may carry ids), status, bytes and duration_us (whole
// microseconds: an integer, since slog's JSON handler encodes a float through json.Marshal,
// which cost more than the rest of the line). Probes and scrapes (/health, /ready, /metrics)
// are logged at debug level so they do not drown the rest; with the level above info nothing
// is measured at all.
func accessLog(log *slog.Logger) func(http.Handler) http.Handler {
	log = logger(log)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !log.Enabled(r.Context(), slog.LevelInfo) { // nor debug, then
				next.ServeHTTP(w, r)
				return
			}
			start := time.Now()
			ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
			next.ServeHTTP(ww, r)
			route := "unmatched"
			if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
				route = rc.RoutePattern()
			}
			level := slog.LevelInfo
			switch route {
			case "/health", "/ready", "/metrics":
				level = slog.LevelDebug
			}
			status := ww.Status()
			if status == 0 {
				status = http.StatusOK
			}
			log.LogAttrs(r.Context(), level, "request",
				slog.String("request_id", RequestID(r.Context())),
				slog.String("method", r.Method), slog.String("route", route),
				slog.Int("status", status), slog.Int("bytes", ww.BytesWritten()),
				slog.Int64("duration_us", time.Since(start).Microseconds()))
		})
	}
}
