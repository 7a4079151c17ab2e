package telemetry

import (
	"bufio"
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
			m.httpDuration.WithLabelValues(route(r), method(r.Method), codeLabel(code)).Observe(time.Since(start).Seconds())
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

// codeLabels are the code labels of statuses 100-599, made once: strconv.Itoa would allocate
// one per request.
var codeLabels = func() (l [600]string) {
	for c := 100; c < len(l); c++ {
		l[c] = strconv.Itoa(c)
	}
	return l
}()

// codeLabel returns the code label of status code.
func codeLabel(code int) string {
	if code >= 100 && code < len(codeLabels) {
		return codeLabels[code]
	}
	return strconv.Itoa(code)
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
