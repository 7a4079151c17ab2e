// Package telemetry exports what keygate does to Prometheus and writes its logs as JSON.
//
// Metrics implements ports.Metrics on a caller-provided registry under exactly the names of
// docs/configuration.md (MetricNames lists them, so the alert rules and dashboards in deploy/
// can be checked against the code). Middleware records http_request_duration_seconds by chi
// route pattern, never by raw path, so the label set stays bounded. NewLogger builds the slog
// JSON logger every binary uses.
package telemetry

import (
	"errors"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/keygate/keygate/internal/version"
	"github.com/keygate/keygate/ports"
)

// Metric names, exactly as docs/configuration.md lists them.
const (
	NameTokensIssued            = "keygate_tokens_issued_total"
	NameLogins                  = "keygate_logins_total"
	NameTokenValidations        = "keygate_token_validations_total"
	NameTokenValidationDuration = "keygate_token_validation_duration_seconds"
	NameTokenCacheLookups       = "keygate_token_cache_lookups_total"
	NameRevocationStoreDuration = "keygate_revocation_store_duration_seconds"
	NameRevocationPropagation   = "keygate_revocation_propagation_seconds"
	NameRevocationEntries       = "keygate_revocation_entries"
	NameRevocationFeedConnected = "keygate_revocation_feed_connected"
	NameRevocationStaleness     = "keygate_revocation_staleness_seconds"
	NameRevocationResyncs       = "keygate_revocation_resyncs_total"
	NameJWKSFetches             = "keygate_jwks_fetches_total"
	NameJWKSFetchDuration       = "keygate_jwks_fetch_duration_seconds"
	NameSigningKeyAge           = "keygate_signing_key_age_seconds"
	NameSigningKeyNext          = "keygate_signing_key_next_seconds"
	NameDependencyUp            = "keygate_dependency_up"
	NameHTTPRequestDuration     = "http_request_duration_seconds"
	NameHTTPRequestsInFlight    = "http_requests_in_flight"
	NameBuildInfo               = "keygate_build_info"
	NameMailFailures            = "keygate_mail_failures_total"
)

// MetricNames lists every metric name Metrics exports (the Go and process collectors' aside),
// in the order of docs/configuration.md. Histograms are listed by their base name: Prometheus
// adds the _bucket, _sum and _count series.
var MetricNames = []string{
	NameTokensIssued,
	NameLogins,
	NameTokenValidations,
	NameTokenValidationDuration,
	NameTokenCacheLookups,
	NameRevocationStoreDuration,
	NameRevocationPropagation,
	NameRevocationEntries,
	NameRevocationFeedConnected,
	NameRevocationStaleness,
	NameRevocationResyncs,
	NameJWKSFetches,
	NameJWKSFetchDuration,
	NameSigningKeyAge,
	NameSigningKeyNext,
	NameDependencyUp,
	NameHTTPRequestDuration,
	NameHTTPRequestsInFlight,
	NameBuildInfo,
	NameMailFailures,
}

// Dependency names used as the value of keygate_dependency_up's dependency label.
const (
	DependencyRedis    = "redis"
	DependencyDatabase = "database"
	DependencyJWKS     = "jwks"
)

// MailFailures registers keygate_mail_failures_total on reg, reading count: authd's account
// e-mails (reset, verification, notices) sent in the background that the mail server did not
// take.
func MailFailures(reg *prometheus.Registry, count func() uint64) error {
	return reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: NameMailFailures,
		Help: "Account e-mails (reset, verification, notices) that the mail server did not take.",
	}, func() float64 { return float64(count()) }))
}

// Metrics is the Prometheus implementation of ports.Metrics, plus the HTTP and dependency
// metrics the apps record directly. It is safe for concurrent use.
type Metrics struct {
	tokensIssued       prometheus.Counter
	logins             *prometheus.CounterVec
	validations        *prometheus.CounterVec
	validationDuration prometheus.Histogram
	cacheHits          prometheus.Counter
	cacheMisses        prometheus.Counter
	storeDuration      *prometheus.HistogramVec
	propagation        *prometheus.HistogramVec
	entries            prometheus.Gauge
	feedConnected      prometheus.Gauge
	staleness          prometheus.Gauge
	resyncs            *prometheus.CounterVec
	jwksFetches        *prometheus.CounterVec
	jwksFetchDuration  prometheus.Histogram
	keyAge             prometheus.Gauge
	keyNext            prometheus.Gauge
	dependencyUp       *prometheus.GaugeVec
	httpDuration       *prometheus.HistogramVec
	httpInFlight       prometheus.Gauge
}

var _ ports.Metrics = (*Metrics)(nil)

// New registers keygate's metrics and the Go and process collectors on reg and returns them.
// A collector already registered on reg (a second New on the same registry) is reused, so two
// Metrics on one registry count into the same series. A nil reg gets a private registry
// (nothing is exported).
func New(reg *prometheus.Registry) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	register(reg, collectors.NewGoCollector())
	register(reg, collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	build := version.Get()
	register(reg, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: NameBuildInfo, Help: "Always 1; the labels say which build of keygate is running.",
		ConstLabels: prometheus.Labels{"version": build.Version, "revision": build.Revision, "goversion": build.GoVersion},
	}, func() float64 { return 1 }))
	cacheLookups := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: NameTokenCacheLookups, Help: "Lookups in a verifier's cache of verified tokens by result (hit: signature check skipped, miss).",
	}, []string{"result"}))
	return &Metrics{
		cacheHits:   cacheLookups.WithLabelValues("hit"),
		cacheMisses: cacheLookups.WithLabelValues("miss"),
		tokensIssued: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: NameTokensIssued, Help: "Access tokens signed.",
		})),
		logins: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: NameLogins, Help: "Login attempts by result.",
		}, []string{"result"})),
		validations: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: NameTokenValidations, Help: "Access-token validations by result (ok or the reason of refusal).",
		}, []string{"result"})),
		validationDuration: register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: NameTokenValidationDuration, Help: "Time to validate one access token locally.",
			Buckets: []float64{5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 5e-3, 0.025, 0.1, 0.5},
		})),
		storeDuration: register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: NameRevocationStoreDuration, Help: "Revocation-store calls by operation and result (ok, error).",
			Buckets: []float64{2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5},
		}, []string{"op", "result"})),
		propagation: register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: NameRevocationPropagation, Help: "Delay from publishing a revocation event to applying it in a verifier, by kind.",
			Buckets: []float64{5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"kind"})),
		entries: register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
			Name: NameRevocationEntries, Help: "Entries in this verifier's local revocation set.",
		})),
		feedConnected: register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
			Name: NameRevocationFeedConnected, Help: "1 while this verifier's revocation feed is connected.",
		})),
		staleness: register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
			Name: NameRevocationStaleness, Help: "How stale this verifier's revocation set may be (time since the feed last proved current).",
		})),
		resyncs: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: NameRevocationResyncs, Help: "Full resynchronisations of the revocation set from the store, by reason.",
		}, []string{"reason"})),
		jwksFetches: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: NameJWKSFetches, Help: "JWKS fetches by trigger and outcome.",
		}, []string{"trigger", "outcome"})),
		jwksFetchDuration: register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: NameJWKSFetchDuration, Help: "Time to fetch the JWKS.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		})),
		keyAge: register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
			Name: NameSigningKeyAge, Help: "Age of the signing key in use.",
		})),
		keyNext: register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
			Name: NameSigningKeyNext, Help: "Time until the next signing key takes over (negative: rotation overdue).",
		})),
		dependencyUp: register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: NameDependencyUp, Help: "1 while a dependency (redis, database, jwks) answers.",
		}, []string{"dependency"})),
		httpDuration: register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: NameHTTPRequestDuration, Help: "HTTP requests served, by route pattern, method and status code.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "method", "code"})),
		httpInFlight: register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
			Name: NameHTTPRequestsInFlight, Help: "HTTP requests being served.",
		})),
	}
}

// register registers c on reg, or returns the equal collector registered before. Any other
// registration error is a programming error (two different metrics under one name).
func register[C prometheus.Collector](reg *prometheus.Registry, c C) C {
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var already prometheus.AlreadyRegisteredError
	if errors.As(err, &already) {
		if existing, ok := already.ExistingCollector.(C); ok {
			return existing
		}
	}
	panic("telemetry: register metric: " + err.Error())
}

// TokenIssued counts one access token signed.
func (m *Metrics) TokenIssued() { m.tokensIssued.Inc() }

// Login counts a login attempt by result.
func (m *Metrics) Login(result string) { m.logins.WithLabelValues(result).Inc() }

// Verified records one token validation by result and its duration.
func (m *Metrics) Verified(result string, d time.Duration) {
	m.validations.WithLabelValues(result).Inc()
	m.validationDuration.Observe(d.Seconds())
}

// RevocationStoreOp records one RevocationStore call by op, with result ok or error.
func (m *Metrics) RevocationStoreOp(op string, d time.Duration, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.storeDuration.WithLabelValues(op, result).Observe(d.Seconds())
}

// EventApplied records the propagation delay of one event applied by a verifier. A negative
// lag (clock skew between publisher and verifier) is recorded as zero.
func (m *Metrics) EventApplied(kind string, lag time.Duration) {
	m.propagation.WithLabelValues(kind).Observe(max(lag, 0).Seconds())
}

// RevocationSet reports the size of a verifier's local set.
func (m *Metrics) RevocationSet(entries int) { m.entries.Set(float64(entries)) }

// Feed reports whether a verifier's feed is connected and how stale its set may be.
func (m *Metrics) Feed(connected bool, staleness time.Duration) {
	m.feedConnected.Set(boolFloat(connected))
	m.staleness.Set(max(staleness, 0).Seconds())
}

// Resynced counts one full resynchronisation by reason.
func (m *Metrics) Resynced(reason string) { m.resyncs.WithLabelValues(reason).Inc() }

// JWKSFetch records one JWKS fetch by trigger and outcome, and its duration.
func (m *Metrics) JWKSFetch(trigger, outcome string, d time.Duration) {
	m.jwksFetches.WithLabelValues(trigger, outcome).Inc()
	m.jwksFetchDuration.Observe(d.Seconds())
}

// TokenCache counts one lookup in the cache of verified tokens, as a hit or a miss.
func (m *Metrics) TokenCache(hit bool) {
	if hit {
		m.cacheHits.Inc()
	} else {
		m.cacheMisses.Inc()
	}
}

// SigningKey reports the age of the signing key and the time until the next one signs.
func (m *Metrics) SigningKey(age, untilNext time.Duration) {
	m.keyAge.Set(age.Seconds())
	m.keyNext.Set(untilNext.Seconds())
}

// SetDependency reports whether a dependency (DependencyRedis, DependencyDatabase,
// DependencyJWKS) answers, as keygate_dependency_up{dependency=name}.
func (m *Metrics) SetDependency(name string, up bool) {
	m.dependencyUp.WithLabelValues(name).Set(boolFloat(up))
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Handler serves the metrics of reg in the Prometheus exposition format (or OpenMetrics, when
// the scraper asks for it), for /metrics. A collector that fails to gather is left out of the
// answer; the others are still served.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorHandling:     promhttp.ContinueOnError,
		Registry:          reg,
		EnableOpenMetrics: true,
	})
}

// Nop is a ports.Metrics that records nothing, for tests and tools that export no metrics.
var Nop ports.Metrics = NopMetrics{}

// NopMetrics is the type of Nop: ports.NopMetrics, and SetDependency, which does nothing.
type NopMetrics struct{ ports.NopMetrics }

// SetDependency does nothing.
func (NopMetrics) SetDependency(string, bool) {}
