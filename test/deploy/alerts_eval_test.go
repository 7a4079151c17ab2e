package deploy

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	promqlengine "github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/annotations"
)

// healthySeries is a system working as it should, scraped every minute for three hours:
// every target up, logins mostly succeeding, fast validations and propagation, a fresh feed,
// JWKS fetches answering 200, a young signing key, every dependency up.
const healthySeries = `
load 1m
  up{job="authd", instance="authd-1:8080"} 1x180
  up{job="ordersd", instance="ordersd-1:8081"} 1x180
  keygate_logins_total{job="authd", instance="authd-1:8080", result="ok"} 0+300x180
  keygate_logins_total{job="authd", instance="authd-1:8080", result="invalid_credentials"} 0+6x180
  keygate_token_validation_duration_seconds_bucket{job="ordersd", instance="ordersd-1:8081", le="0.0001"} 0+6000x180
  keygate_token_validation_duration_seconds_bucket{job="ordersd", instance="ordersd-1:8081", le="0.001"} 0+6000x180
  keygate_token_validation_duration_seconds_bucket{job="ordersd", instance="ordersd-1:8081", le="+Inf"} 0+6000x180
  keygate_revocation_propagation_seconds_bucket{job="ordersd", instance="ordersd-1:8081", kind="session", le="0.01"} 0+60x180
  keygate_revocation_propagation_seconds_bucket{job="ordersd", instance="ordersd-1:8081", kind="session", le="1"} 0+60x180
  keygate_revocation_propagation_seconds_bucket{job="ordersd", instance="ordersd-1:8081", kind="session", le="+Inf"} 0+60x180
  keygate_revocation_staleness_seconds{job="ordersd", instance="ordersd-1:8081"} 1x180
  keygate_revocation_feed_connected{job="ordersd", instance="ordersd-1:8081"} 1x180
  keygate_revocation_resyncs_total{job="ordersd", instance="ordersd-1:8081", reason="connected"} 1x180
  keygate_revocation_store_duration_seconds_count{job="authd", instance="authd-1:8080", op="revoke", result="ok"} 0+10x180
  keygate_jwks_fetches_total{job="ordersd", instance="ordersd-1:8081", trigger="schedule", outcome="200"} 0+1x180
  keygate_signing_key_age_seconds{job="authd", instance="authd-1:8080"} 86400+60x180
  keygate_signing_key_next_seconds{job="authd", instance="authd-1:8080"} 2500000-60x180
  keygate_dependency_up{job="authd", instance="authd-1:8080", dependency="redis"} 1x180
  keygate_dependency_up{job="authd", instance="authd-1:8080", dependency="database"} 1x180
  keygate_dependency_up{job="ordersd", instance="ordersd-1:8081", dependency="jwks"} 1x180
  http_request_duration_seconds_count{job="authd", instance="authd-1:8080", route="/login", method="POST", code="200"} 0+300x180
  http_request_duration_seconds_count{job="authd", instance="authd-1:8080", route="/login", method="POST", code="503"} 0+1x180
`

// memStorage is an in-memory storage.Queryable over series written in the promqltest "load"
// notation (one sample a minute from time 0), enough for the PromQL engine to evaluate rules.
type memStorage []storage.Series

func loadSeries(t *testing.T, text string) memStorage {
	t.Helper()
	var out memStorage
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "load ") {
			continue
		}
		lset, values, err := promql.ParseSeriesDesc(line)
		if err != nil {
			t.Fatalf("series %q: %v", line, err)
		}
		var samples []chunks.Sample
		for i, v := range values {
			if !v.Omitted {
				samples = append(samples, fsample{t: int64(i) * time.Minute.Milliseconds(), f: v.Value})
			}
		}
		out = append(out, storage.NewListSeries(lset, samples))
	}
	return out
}

func (m memStorage) Querier(int64, int64) (storage.Querier, error) {
	return &storage.MockQuerier{SelectMockFunction: func(_ bool, _ *storage.SelectHints, matchers ...*labels.Matcher) storage.SeriesSet {
		var set seriesSet
		for _, s := range m {
			if matchesAll(s.Labels(), matchers) {
				set.series = append(set.series, s)
			}
		}
		slices.SortFunc(set.series, func(a, b storage.Series) int { return labels.Compare(a.Labels(), b.Labels()) })
		return &set
	}}, nil
}

func matchesAll(lset labels.Labels, matchers []*labels.Matcher) bool {
	for _, m := range matchers {
		if !m.Matches(lset.Get(m.Name)) {
			return false
		}
	}
	return true
}

type seriesSet struct {
	series []storage.Series
	i      int
}

func (s *seriesSet) Next() bool                        { s.i++; return s.i <= len(s.series) }
func (s *seriesSet) At() storage.Series                { return s.series[s.i-1] }
func (s *seriesSet) Err() error                        { return nil }
func (s *seriesSet) Warnings() annotations.Annotations { return nil }

// fsample is one float sample.
type fsample struct {
	t int64
	f float64
}

func (s fsample) T() int64                      { return s.t }
func (s fsample) ST() int64                     { return 0 }
func (s fsample) F() float64                    { return s.f }
func (s fsample) H() *histogram.Histogram       { return nil }
func (s fsample) FH() *histogram.FloatHistogram { return nil }
func (s fsample) Type() chunkenc.ValueType      { return chunkenc.ValFloat }
func (s fsample) Copy() chunks.Sample           { return s }

// firingAfter evaluates every alert rule of alerts.yml once a minute over three hours of
// series and returns the names of the alerts firing at the end: an alert fires once its
// expression has returned the same series at every evaluation for the rule's "for" duration,
// as Prometheus's rule manager does.
func firingAfter(t *testing.T, series string) []string {
	t.Helper()
	groups, errs := rulefmt.ParseFile(filepath.Join(repoRoot(t), alertsFile), false, model.UTF8Validation, promql, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if len(errs) > 0 {
		t.Fatalf("%s: %v", alertsFile, errs)
	}
	store := loadSeries(t, series)
	engine := promqlengine.NewEngine(promqlengine.EngineOpts{
		MaxSamples:    1_000_000,
		Timeout:       time.Minute,
		LookbackDelta: 5 * time.Minute,
		Parser:        promql,
	})
	t.Cleanup(func() { _ = engine.Close() })
	ctx := context.Background()
	start := time.Unix(0, 0).UTC()
	var firing []string
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			activeSince := map[string]time.Time{} // series -> first evaluation that returned it
			var fires bool
			for m := 0; m <= 180; m++ {
				ts := start.Add(time.Duration(m) * time.Minute)
				q, err := engine.NewInstantQuery(ctx, store, nil, r.Expr, ts)
				if err != nil {
					t.Fatalf("%s: %v", r.Alert, err)
				}
				res := q.Exec(ctx)
				if res.Err != nil {
					t.Fatalf("%s at minute %d: %v", r.Alert, m, res.Err)
				}
				vec, err := res.Vector()
				if err != nil {
					t.Fatalf("%s: %v", r.Alert, err)
				}
				now := map[string]time.Time{}
				fires = false
				for _, s := range vec {
					key := s.Metric.String()
					since, ok := activeSince[key]
					if !ok {
						since = ts
					}
					now[key] = since
					fires = fires || ts.Sub(since) >= time.Duration(r.For)
				}
				activeSince = now
				q.Close()
			}
			if fires {
				firing = append(firing, r.Alert)
			}
		}
	}
	slices.Sort(firing)
	return firing
}

// with returns healthySeries with the lines of the series named in drop removed and lines
// added.
func with(drop []string, add ...string) string {
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(healthySeries), "\n") {
		keep := true
		for _, d := range drop {
			if strings.HasPrefix(strings.TrimSpace(line), d) {
				keep = false
			}
		}
		if keep {
			out = append(out, line)
		}
	}
	for _, a := range add {
		out = append(out, "  "+a)
	}
	return strings.Join(out, "\n") + "\n"
}

func TestAHealthySystemFiresNoAlert(t *testing.T) {
	if got := firingAfter(t, healthySeries); len(got) != 0 {
		t.Errorf("alerts firing on a healthy system: %v", got)
	}
}

func TestEachAlertFiresOnItsSymptom(t *testing.T) {
	tests := []struct {
		name   string
		series string
		want   []string
	}{
		{
			name: "an ordersd replica stops answering scrapes",
			series: with([]string{`up{job="ordersd"`},
				`up{job="ordersd", instance="ordersd-1:8081"} 1x120 0x60`),
			want: []string{"KeygateServiceDown"},
		},
		{
			name: "every authd is gone",
			series: with([]string{`up{job="authd"`},
				`up{job="authd", instance="authd-1:8080"} 1x120 0x60`),
			want: []string{"KeygateNoAuthReplica", "KeygateServiceDown"},
		},
		{
			name: "credential stuffing: most logins fail, far more than an hour before",
			series: with([]string{`keygate_logins_total{job="authd", instance="authd-1:8080", result="invalid_credentials"}`},
				`keygate_logins_total{job="authd", instance="authd-1:8080", result="invalid_credentials"} 0+6x150 900+3000x30`),
			want: []string{"KeygateHighAuthFailureRate", "KeygateLoginFailureSpike"},
		},
		{
			name:   "logins answered 503",
			series: with(nil, `keygate_logins_total{job="authd", instance="authd-1:8080", result="unavailable"} 0+0x150 0+60x30`),
			want:   []string{"KeygateLoginsUnavailable"},
		},
		{
			name: "validation slowed to 10 ms",
			series: with([]string{`keygate_token_validation_duration_seconds_bucket`},
				`keygate_token_validation_duration_seconds_bucket{job="ordersd", instance="ordersd-1:8081", le="0.001"} 0+6000x150 900000+0x30`,
				`keygate_token_validation_duration_seconds_bucket{job="ordersd", instance="ordersd-1:8081", le="0.025"} 0+6000x180`,
				`keygate_token_validation_duration_seconds_bucket{job="ordersd", instance="ordersd-1:8081", le="+Inf"} 0+6000x180`),
			want: []string{"KeygateHighValidationLatency"},
		},
		{
			name: "the feed went quiet: staleness grows, feed disconnected",
			series: with([]string{`keygate_revocation_staleness_seconds`, `keygate_revocation_feed_connected`},
				`keygate_revocation_staleness_seconds{job="ordersd", instance="ordersd-1:8081"} 1x150 60+60x30`,
				`keygate_revocation_feed_connected{job="ordersd", instance="ordersd-1:8081"} 1x150 0x30`),
			want: []string{"KeygateRevocationFeedDisconnected", "KeygateRevocationFeedStale"},
		},
		{
			name: "propagation p99 above a second",
			series: with([]string{`keygate_revocation_propagation_seconds_bucket`},
				`keygate_revocation_propagation_seconds_bucket{job="ordersd", instance="ordersd-1:8081", kind="session", le="0.01"} 0+60x150 9000+0x30`,
				`keygate_revocation_propagation_seconds_bucket{job="ordersd", instance="ordersd-1:8081", kind="session", le="1"} 0+60x150 9000+30x30`,
				`keygate_revocation_propagation_seconds_bucket{job="ordersd", instance="ordersd-1:8081", kind="session", le="2.5"} 0+60x180`,
				`keygate_revocation_propagation_seconds_bucket{job="ordersd", instance="ordersd-1:8081", kind="session", le="+Inf"} 0+60x180`),
			want: []string{"KeygateRevocationPropagationSlow"},
		},
		{
			name:   "gaps force resync after resync",
			series: with(nil, `keygate_revocation_resyncs_total{job="ordersd", instance="ordersd-1:8081", reason="gap"} 0+0x150 0+2x30`),
			want:   []string{"KeygateRevocationResyncStorm"},
		},
		{
			name:   "revocation store errors",
			series: with(nil, `keygate_revocation_store_duration_seconds_count{job="authd", instance="authd-1:8080", op="revoke", result="error"} 0+0x150 0+5x30`),
			want:   []string{"KeygateRevocationStoreErrors"},
		},
		{
			name: "JWKS fetches time out and the JWKS is unreachable",
			series: with([]string{`keygate_jwks_fetches_total`, `keygate_dependency_up{job="ordersd"`},
				`keygate_jwks_fetches_total{job="ordersd", instance="ordersd-1:8081", trigger="schedule", outcome="200"} 0+1x150 150+0x30`,
				`keygate_jwks_fetches_total{job="ordersd", instance="ordersd-1:8081", trigger="schedule", outcome="timeout"} 0+0x150 0+1x30`,
				`keygate_dependency_up{job="ordersd", instance="ordersd-1:8081", dependency="jwks"} 1x150 0x30`),
			want: []string{"KeygateJWKSRefreshFailing", "KeygateJWKSUnreachable"},
		},
		{
			name: "rotation stuck: the key grows old, then the next key is overdue",
			series: with([]string{`keygate_signing_key_age_seconds`, `keygate_signing_key_next_seconds`},
				`keygate_signing_key_age_seconds{job="authd", instance="authd-1:8080"} 2800000+60x180`,
				`keygate_signing_key_next_seconds{job="authd", instance="authd-1:8080"} 3000-60x180`),
			want: []string{"KeygateSigningKeyNearExpiry", "KeygateSigningKeyRotationOverdue"},
		},
		{
			name: "Redis and the database down",
			series: with([]string{`keygate_dependency_up{job="authd"`},
				`keygate_dependency_up{job="authd", instance="authd-1:8080", dependency="redis"} 1x150 0x30`,
				`keygate_dependency_up{job="authd", instance="authd-1:8080", dependency="database"} 1x150 0x30`),
			want: []string{"KeygateDatabaseDown", "KeygateRedisDown"},
		},
		{
			name: "authd answers 5xx",
			series: with(nil,
				`http_request_duration_seconds_count{job="authd", instance="authd-1:8080", route="/refresh", method="POST", code="500"} 0+0x150 0+100x30`),
			want: []string{"KeygateHTTPErrors"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := firingAfter(t, tt.series)
			if !slices.Equal(got, tt.want) {
				t.Errorf("firing %v, want exactly %v", got, tt.want)
			}
		})
	}
}
