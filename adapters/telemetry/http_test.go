package telemetry_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/slogtest"

	"github.com/go-chi/chi/v5"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/keygate/keygate/adapters/telemetry"
)

func TestMiddlewareLabelsByRoutePatternNeverByRawPath(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := telemetry.New(reg)
	r := chi.NewRouter()
	r.Use(m.Middleware)
	r.Get("/sessions/{sid}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	r.Route("/api/orders", func(r chi.Router) {
		r.Post("/{id}/pay", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })
	})

	requests := []struct{ method, path string }{
		{http.MethodGet, "/sessions/a1"},
		{http.MethodGet, "/sessions/b2"},
		{http.MethodPost, "/api/orders/77/pay"},
		{http.MethodGet, "/random/path/1"},
		{http.MethodGet, "/random/path/2"},
		{"BREW", "/sessions/a1"},
	}
	for _, q := range requests {
		r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(q.method, q.path, nil))
	}

	got, _ := gather(t, reg, "http_request_duration_seconds")
	want := []series{
		{Labels: map[string]string{"route": "/api/orders/{id}/pay", "method": "POST", "code": "200"}, Value: 1},
		{Labels: map[string]string{"route": "/sessions/{sid}", "method": "GET", "code": "204"}, Value: 2},
		{Labels: map[string]string{"route": telemetry.RouteUnmatched, "method": "other", "code": "405"}, Value: 1},
		{Labels: map[string]string{"route": telemetry.RouteUnmatched, "method": "GET", "code": "404"}, Value: 2},
	}
	sortSeries(got)
	sortSeries(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("http_request_duration_seconds (-want +got):\n%s", diff)
	}
}

func sortSeries(s []series) {
	key := func(x series) string { return x.Labels["route"] + " " + x.Labels["method"] + " " + x.Labels["code"] }
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if key(s[j]) < key(s[i]) {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
}

func TestMiddlewareUsesServeMuxPatternOutsideChi(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := telemetry.New(reg)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {})
	h := m.Middleware(mux)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/items/9", nil))
	got, _ := gather(t, reg, "http_request_duration_seconds")
	want := []series{{Labels: map[string]string{"route": "GET /items/{id}", "method": "GET", "code": "200"}, Value: 1}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestMiddlewareCountsRequestsInFlight(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := telemetry.New(reg)
	var during float64
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		during = testutil.ToFloat64(gaugeOf(t, reg))
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	if during != 1 {
		t.Errorf("in flight during the request = %v, want 1", during)
	}
	if after := testutil.ToFloat64(gaugeOf(t, reg)); after != 0 {
		t.Errorf("in flight after the request = %v, want 0", after)
	}
}

// gaugeOf returns http_requests_in_flight as a collector testutil can read.
func gaugeOf(t *testing.T, reg *prometheus.Registry) prometheus.Collector {
	t.Helper()
	return collectorFunc(func(ch chan<- prometheus.Metric) {
		families, err := reg.Gather()
		if err != nil {
			t.Errorf("gather: %v", err)
			return
		}
		for _, f := range families {
			if f.GetName() == "http_requests_in_flight" {
				v := f.GetMetric()[0].GetGauge().GetValue()
				ch <- prometheus.MustNewConstMetric(prometheus.NewDesc("g", "g", nil, nil), prometheus.GaugeValue, v)
			}
		}
	})
}

type collectorFunc func(chan<- prometheus.Metric)

func (f collectorFunc) Describe(chan<- *prometheus.Desc)    {}
func (f collectorFunc) Collect(ch chan<- prometheus.Metric) { f(ch) }

func TestMiddlewareRecordsA500WhenTheHandlerPanics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := telemetry.New(reg)
	h := m.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	func() {
		defer func() {
			if recover() == nil {
				t.Error("panic swallowed; want it passed on to the recoverer")
			}
		}()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	}()
	got, _ := gather(t, reg, "http_request_duration_seconds")
	if len(got) != 1 || got[0].Labels["code"] != "500" {
		t.Errorf("series = %+v, want one with code 500", got)
	}
	if v := testutil.ToFloat64(gaugeOf(t, reg)); v != 0 {
		t.Errorf("in flight after a panic = %v, want 0", v)
	}
}

func TestLoggerWritesOneJSONObjectPerLine(t *testing.T) {
	var buf bytes.Buffer
	log := telemetry.NewLogger(&buf, "info")
	ctx := t.Context()
	log.DebugContext(ctx, "hidden")
	log.With("app", "authd").InfoContext(ctx, "login", "result", "ok")

	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("log line %q is not one JSON object: %v", buf.String(), err)
	}
	delete(got, "time")
	want := map[string]any{"level": "INFO", "msg": "login", "app": "authd", "result": "ok"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("log line (-want +got):\n%s", diff)
	}
}

func TestParseLevel(t *testing.T) {
	tests := []struct {
		in      string
		want    slog.Level
		wantErr bool
	}{
		{in: "debug", want: slog.LevelDebug},
		{in: "INFO", want: slog.LevelInfo},
		{in: "", want: slog.LevelInfo},
		{in: "warn", want: slog.LevelWarn},
		{in: "error", want: slog.LevelError},
		{in: "verbose", want: slog.LevelInfo, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := telemetry.ParseLevel(tt.in)
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("ParseLevel(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "telemetry: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestLoggerHandlerPassesSlogtest(t *testing.T) {
	var buf bytes.Buffer
	h := telemetry.NewLogger(&buf, "debug").Handler()
	err := slogtest.TestHandler(h, func() []map[string]any {
		var out []map[string]any
		for _, line := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
			var m map[string]any
			if err := json.Unmarshal(line, &m); err != nil {
				t.Fatalf("line %q: %v", line, err)
			}
			out = append(out, m)
		}
		return out
	})
	if err != nil {
		t.Error(err)
	}
}
