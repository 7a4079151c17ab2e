package telemetry

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
)

// RouteUnmatched is the route label of a request no route pattern matched (404s, probes of
// random paths): the raw path never becomes a label value.
const RouteUnmatched = "unmatched"

// Middleware records http_request_duration_seconds{route,method,code} and
// http_requests_in_flight for every request through next.
//
// The route label is the chi route pattern ("/sessions/{sid}"), read after next has routed the
// request, so install it with chi's Use on the router (r.Use(m.Middleware)). Outside chi it
// falls back to the pattern net/http's ServeMux matched, and to RouteUnmatched. Methods outside
// the standard set are labelled "other".
func (m *Metrics) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		m.httpInFlight.Inc()
		defer m.httpInFlight.Dec()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			// Recorded even when next panics (net/http or a recoverer answers 500).
			code := sw.status
			if code == 0 {
				code = http.StatusOK
			}
			if rec := recover(); rec != nil {
				m.httpDuration.WithLabelValues(route(r), method(r.Method), "500").Observe(time.Since(start).Seconds())
				panic(rec)
			}
			m.httpDuration.WithLabelValues(route(r), method(r.Method), strconv.Itoa(code)).Observe(time.Since(start).Seconds())
		}()
		next.ServeHTTP(sw, r)
	})
}

// route returns the bounded route label of r, once it has been routed.
func route(r *http.Request) string {
	if rctx := chi.RouteContext(r.Context()); rctx != nil {
		if p := rctx.RoutePattern(); p != "" {
			return p
		}
	}
	if r.Pattern != "" {
		return r.Pattern
	}
	return RouteUnmatched
}

// method returns m if it is a standard HTTP method, else "other".
func method(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}

// statusWriter remembers the status code written through it.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush passes a flush through, for streaming handlers.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack passes a hijack through, for protocol upgrades.
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if h, ok := w.ResponseWriter.(http.Hijacker); ok {
		return h.Hijack()
	}
	return nil, nil, errors.New("telemetry: hijack: response writer does not support it")
}

// HeaderRequestID is the header that carries a request's id from the load balancer through
// every service and back to the client.
const HeaderRequestID = "X-Request-ID"

type requestIDKey struct{}

// RequestID takes the request id from the X-Request-ID header (as NGINX sets it), or makes
// one when the header is absent or unusable (empty, longer than 64 bytes, or bytes outside
// [A-Za-z0-9._-]: the rule of deploy/nginx and adapters/httpapi), returns it in the response's
// X-Request-ID, and stores it in the request's context, where RequestIDFrom and the logger of
// NewLogger find it.
func RequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(HeaderRequestID)
		if !validRequestID(id) {
			id = newRequestID()
			r.Header.Set(HeaderRequestID, id)
		}
		w.Header().Set(HeaderRequestID, id)
		next.ServeHTTP(w, r.WithContext(WithRequestID(r.Context(), id)))
	})
}

// WithRequestID returns ctx carrying the request id id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestIDFrom returns the request id carried by ctx, or "".
func RequestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := range len(id) {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// newRequestID returns 32 hex digits, the shape of NGINX's $request_id.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+).
	return hex.EncodeToString(b[:])
}
