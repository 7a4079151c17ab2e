package telemetry_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/keygate/keygate/adapters/telemetry"
	"github.com/keygate/keygate/internal/version"
	"github.com/keygate/keygate/ports"
)

// series is one exported sample, reduced to what a dashboard sees: its labels and its value
// (a counter or gauge value, or a histogram's sample count).
type series struct {
	Labels map[string]string
	Value  float64
}

// gather returns the series of the metric family name, and its type.
func gather(t *testing.T, reg *prometheus.Registry, name string) ([]series, dto.MetricType) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		var out []series
		for _, m := range f.GetMetric() {
			s := series{Labels: map[string]string{}}
			for _, l := range m.GetLabel() {
				s.Labels[l.GetName()] = l.GetValue()
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				s.Value = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				s.Value = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				s.Value = float64(m.GetHistogram().GetSampleCount())
			}
			out = append(out, s)
		}
		return out, f.GetType()
	}
	t.Fatalf("metric %s not exported", name)
	return nil, 0
}

func TestMetricsExportEachCallUnderItsDocumentedNameAndLabels(t *testing.T) {
	tests := []struct {
		name   string
		call   func(m *telemetry.Metrics)
		metric string
		typ    dto.MetricType
		want   []series
	}{
		{
			name:   "token issued",
			call:   func(m *telemetry.Metrics) { m.TokenIssued(); m.TokenIssued() },
			metric: "keygate_tokens_issued_total", typ: dto.MetricType_COUNTER,
			want: []series{{Labels: map[string]string{}, Value: 2}},
		},
		{
			name:   "login by result",
			call:   func(m *telemetry.Metrics) { m.Login("invalid_credentials") },
			metric: "keygate_logins_total", typ: dto.MetricType_COUNTER,
			want: []series{{Labels: map[string]string{"result": "invalid_credentials"}, Value: 1}},
		},
		{
			name:   "validation by result",
			call:   func(m *telemetry.Metrics) { m.Verified("revoked", 40*time.Microsecond) },
			metric: "keygate_token_validations_total", typ: dto.MetricType_COUNTER,
			want: []series{{Labels: map[string]string{"result": "revoked"}, Value: 1}},
		},
		{
			name:   "validation latency",
			call:   func(m *telemetry.Metrics) { m.Verified("ok", 40*time.Microsecond) },
			metric: "keygate_token_validation_duration_seconds", typ: dto.MetricType_HISTOGRAM,
			want: []series{{Labels: map[string]string{}, Value: 1}},
		},
		{
			name: "revocation store op ok and error",
			call: func(m *telemetry.Metrics) {
				m.RevocationStoreOp("revoke", time.Millisecond, nil)
				m.RevocationStoreOp("snapshot", time.Millisecond, errors.New("down"))
			},
			metric: "keygate_revocation_store_duration_seconds", typ: dto.MetricType_HISTOGRAM,
			want: []series{
				{Labels: map[string]string{"op": "revoke", "result": "ok"}, Value: 1},
				{Labels: map[string]string{"op": "snapshot", "result": "error"}, Value: 1},
			},
		},
		{
			name:   "propagation by kind",
			call:   func(m *telemetry.Metrics) { m.EventApplied("session", 3*time.Millisecond) },
			metric: "keygate_revocation_propagation_seconds", typ: dto.MetricType_HISTOGRAM,
			want: []series{{Labels: map[string]string{"kind": "session"}, Value: 1}},
		},
		{
			name:   "revocation set size",
			call:   func(m *telemetry.Metrics) { m.RevocationSet(42) },
			metric: "keygate_revocation_entries", typ: dto.MetricType_GAUGE,
			want: []series{{Labels: map[string]string{}, Value: 42}},
		},
		{
			name:   "feed connected",
			call:   func(m *telemetry.Metrics) { m.Feed(true, 1500*time.Millisecond) },
			metric: "keygate_revocation_feed_connected", typ: dto.MetricType_GAUGE,
			want: []series{{Labels: map[string]string{}, Value: 1}},
		},
		{
			name:   "feed staleness",
			call:   func(m *telemetry.Metrics) { m.Feed(false, 1500*time.Millisecond) },
			metric: "keygate_revocation_staleness_seconds", typ: dto.MetricType_GAUGE,
			want: []series{{Labels: map[string]string{}, Value: 1.5}},
		},
		{
			name:   "resync by reason",
			call:   func(m *telemetry.Metrics) { m.Resynced("gap") },
			metric: "keygate_revocation_resyncs_total", typ: dto.MetricType_COUNTER,
			want: []series{{Labels: map[string]string{"reason": "gap"}, Value: 1}},
		},
		{
			name:   "jwks fetch by trigger and outcome",
			call:   func(m *telemetry.Metrics) { m.JWKSFetch("unknown_kid", "200", 20*time.Millisecond) },
			metric: "keygate_jwks_fetches_total", typ: dto.MetricType_COUNTER,
			want: []series{{Labels: map[string]string{"trigger": "unknown_kid", "outcome": "200"}, Value: 1}},
		},
		{
			name:   "jwks fetch latency",
			call:   func(m *telemetry.Metrics) { m.JWKSFetch("startup", "timeout", 3*time.Second) },
			metric: "keygate_jwks_fetch_duration_seconds", typ: dto.MetricType_HISTOGRAM,
			want: []series{{Labels: map[string]string{}, Value: 1}},
		},
		{
			name:   "signing key age",
			call:   func(m *telemetry.Metrics) { m.SigningKey(2*time.Hour, -time.Minute) },
			metric: "keygate_signing_key_age_seconds", typ: dto.MetricType_GAUGE,
			want: []series{{Labels: map[string]string{}, Value: 7200}},
		},
		{
			name:   "signing key next, negative when overdue",
			call:   func(m *telemetry.Metrics) { m.SigningKey(2*time.Hour, -time.Minute) },
			metric: "keygate_signing_key_next_seconds", typ: dto.MetricType_GAUGE,
			want: []series{{Labels: map[string]string{}, Value: -60}},
		},
		{
			name: "dependency up and down",
			call: func(m *telemetry.Metrics) {
				m.SetDependency(telemetry.DependencyRedis, true)
				m.SetDependency(telemetry.DependencyDatabase, false)
			},
			metric: "keygate_dependency_up", typ: dto.MetricType_GAUGE,
			want: []series{
				{Labels: map[string]string{"dependency": "database"}, Value: 0},
				{Labels: map[string]string{"dependency": "redis"}, Value: 1},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			m := telemetry.New(reg)
			tt.call(m)
			got, typ := gather(t, reg, tt.metric)
			if typ != tt.typ {
				t.Errorf("%s type = %v, want %v", tt.metric, typ, tt.typ)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("%s series (-want +got):\n%s", tt.metric, diff)
			}
		})
	}
}

func TestMetricNamesIsExactlyWhatTheRegistryExports(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := telemetry.New(reg)
	// Touch every vector so each family has a series to export.
	m.TokenIssued()
	m.Login("ok")
	m.Verified("ok", time.Microsecond)
	m.RevocationStoreOp("revoke", time.Millisecond, nil)
	m.EventApplied("token", time.Millisecond)
	m.RevocationSet(1)
	m.Feed(true, 0)
	m.Resynced("connected")
	m.JWKSFetch("startup", "200", time.Millisecond)
	m.SigningKey(time.Hour, time.Hour)
	m.SetDependency("redis", true)
	h := m.Middleware(http.NotFoundHandler())
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/x", nil))
	if err := telemetry.MailFailures(reg, func() uint64 { return 0 }); err != nil {
		t.Fatal(err)
	}

	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var got []string
	for _, f := range families {
		name := f.GetName()
		if strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") {
			continue
		}
		got = append(got, name)
	}
	want := slices.Clone(telemetry.MetricNames)
	slices.Sort(want)
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("exported names vs MetricNames (-want +got):\n%s", diff)
	}
}

func TestNewRegistersGoAndProcessCollectors(t *testing.T) {
	reg := prometheus.NewRegistry()
	telemetry.New(reg)
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var goSeen, processSeen bool
	for _, f := range families {
		goSeen = goSeen || f.GetName() == "go_goroutines"
		processSeen = processSeen || strings.HasPrefix(f.GetName(), "process_")
	}
	if !goSeen {
		t.Error("go_goroutines not exported")
	}
	// The process collector exports nothing where /proc is missing; Linux has it.
	if !processSeen {
		t.Error("no process_* metric exported")
	}
}

func TestNewTwiceOnOneRegistryCountsIntoTheSameSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	a, b := telemetry.New(reg), telemetry.New(reg)
	a.TokenIssued()
	b.TokenIssued()
	got, _ := gather(t, reg, "keygate_tokens_issued_total")
	if len(got) != 1 || got[0].Value != 2 {
		t.Errorf("tokens issued = %+v, want one series with value 2", got)
	}
}

func TestNegativeLagAndStalenessAreRecordedAsZero(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := telemetry.New(reg)
	m.Feed(true, -time.Second)
	got, _ := gather(t, reg, "keygate_revocation_staleness_seconds")
	if got[0].Value != 0 {
		t.Errorf("staleness = %v, want 0", got[0].Value)
	}
	m.EventApplied("token", -time.Second) // publisher's clock ahead of ours
	if n := testutil.CollectAndCount(reg, "keygate_revocation_propagation_seconds"); n != 1 {
		t.Errorf("propagation series = %d, want 1", n)
	}
}

func TestHandlerServesTheExpositionFormat(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := telemetry.New(reg)
	m.Login("ok")
	srv := httptest.NewServer(telemetry.Handler(reg))
	t.Cleanup(srv.Close)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200", res.StatusCode)
	}
	for _, want := range []string{`keygate_logins_total{result="ok"} 1`, "go_goroutines"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestNopSatisfiesThePortAndDoesNothing(t *testing.T) {
	var m ports.Metrics = telemetry.Nop
	m.TokenIssued()
	m.Login("ok")
	m.Verified("ok", time.Second)
	m.RevocationStoreOp("revoke", time.Second, errors.New("x"))
	m.EventApplied("token", time.Second)
	m.RevocationSet(3)
	m.Feed(false, time.Hour)
	m.Resynced("gap")
	m.JWKSFetch("startup", "200", time.Second)
	m.SigningKey(time.Hour, -time.Hour)
	telemetry.NopMetrics{}.SetDependency("redis", false)
}

// BenchmarkVerified measures what a token validation pays for its metrics (the guard's hot
// path): one counter and one histogram observation.
func BenchmarkVerified(b *testing.B) {
	m := telemetry.New(prometheus.NewRegistry())
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Verified("ok", 20*time.Microsecond)
		}
	})
}

// BenchmarkMiddleware measures the per-request cost of the HTTP metrics on a chi route.
func BenchmarkMiddleware(b *testing.B) {
	m := telemetry.New(prometheus.NewRegistry())
	r := chi.NewRouter()
	r.Use(m.Middleware)
	r.Get("/sessions/{sid}", func(w http.ResponseWriter, r *http.Request) {})
	req := httptest.NewRequest(http.MethodGet, "/sessions/abc", nil)
	b.ReportAllocs()
	for b.Loop() {
		r.ServeHTTP(httptest.NewRecorder(), req)
	}
}

func TestBuildInfoSaysWhichBuildIsRunning(t *testing.T) {
	reg := prometheus.NewRegistry()
	telemetry.New(reg)
	telemetry.New(reg) // a second Metrics on one registry shares the series
	got, typ := gather(t, reg, telemetry.NameBuildInfo)
	build := version.Get()
	want := []series{{Labels: map[string]string{"version": build.Version, "revision": build.Revision, "goversion": build.GoVersion}, Value: 1}}
	if typ != dto.MetricType_GAUGE {
		t.Errorf("%s type = %v, want gauge", telemetry.NameBuildInfo, typ)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", telemetry.NameBuildInfo, diff)
	}
	if build.GoVersion == "" || build.Version == "" || build.Revision == "" {
		t.Errorf("version.Get() = %+v: every label must have a value", build)
	}
}
