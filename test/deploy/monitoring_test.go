package deploy

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"

	"github.com/keygate/keygate/adapters/telemetry"
)

const (
	alertsFile    = "deploy/monitoring/prometheus/alerts.yml"
	dashboardsDir = "deploy/monitoring/grafana/dashboards"
)

var promql = parser.NewParser(parser.Options{})

// metricsOf parses expr and returns the metric names its selectors name.
func metricsOf(expr string) ([]string, error) {
	e, err := promql.ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			name := vs.Name
			if name == "" {
				for _, m := range vs.LabelMatchers {
					if m.Name == model.MetricNameLabel {
						name = m.Value
					}
				}
			}
			names = append(names, name)
		}
		return nil
	})
	return names, nil
}

// exported reports whether the apps export a series called name: one of telemetry.MetricNames
// (a histogram's _bucket, _sum and _count included), a series of the Go and process
// collectors telemetry.New registers, or Prometheus's own "up".
func exported(name string) bool {
	if name == "up" || strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") {
		return true
	}
	for _, suffix := range []string{"", "_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && slices.Contains(telemetry.MetricNames, base) {
			return true
		}
	}
	return false
}

func TestMetricNamesMatchTheDocumentation(t *testing.T) {
	docs := parseDocs(t)
	got := slices.Sorted(slices.Values(telemetry.MetricNames))
	want := slices.Sorted(slices.Values(docs.Metrics))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("telemetry.MetricNames vs docs/configuration.md (-docs +code):\n%s", diff)
	}
}

func TestAlertRulesParseAndNameOnlyExportedMetrics(t *testing.T) {
	groups, errs := rulefmt.ParseFile(filepath.Join(repoRoot(t), alertsFile), false, model.UTF8Validation, promql, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, err := range errs {
		t.Errorf("%s: %v", alertsFile, err)
	}
	if groups == nil {
		t.FailNow()
	}
	var alerts []string
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			names, err := metricsOf(r.Expr)
			if err != nil {
				t.Errorf("%s: %s: %v", alertsFile, r.Alert, err)
				continue
			}
			for _, n := range names {
				if !exported(n) {
					t.Errorf("%s: %s uses %s, which keygate does not export", alertsFile, r.Alert, n)
				}
			}
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("%s: %s lacks a severity label or a summary", alertsFile, r.Alert)
			}
		}
	}
	// The alerts the seed and issue 5 ask for.
	for _, want := range []string{
		"KeygateHighAuthFailureRate", "KeygateHighValidationLatency", "KeygateServiceDown",
		"KeygateRevocationFeedStale", "KeygateRevocationPropagationSlow", "KeygateJWKSRefreshFailing",
		"KeygateLoginFailureSpike", "KeygateSigningKeyNearExpiry", "KeygateSigningKeyRotationOverdue",
	} {
		if !slices.Contains(alerts, want) {
			t.Errorf("%s: no alert %s", alertsFile, want)
		}
	}
}

func TestAlertCheckCatchesAnUnknownMetric(t *testing.T) {
	names, err := metricsOf(`rate(keygate_tokens_issued_total[5m]) > 0 and keygate_no_such_thing > 1 or {__name__="other_thing"}`)
	if err != nil {
		t.Fatal(err)
	}
	var unknown []string
	for _, n := range names {
		if !exported(n) {
			unknown = append(unknown, n)
		}
	}
	if diff := cmp.Diff([]string{"keygate_no_such_thing", "other_thing"}, unknown); diff != "" {
		t.Errorf("unknown metrics (-want +got):\n%s", diff)
	}
}

// dashboard is the part of a Grafana dashboard these tests read.
type dashboard struct {
	UID    string  `json:"uid"`
	Title  string  `json:"title"`
	Panels []panel `json:"panels"`
}

type panel struct {
	Title   string `json:"title"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

// grafanaVars replaces the dashboard variables by values PromQL accepts.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$job", ".*", "$instance", ".*")

func TestDashboardsExistForTheFiveViewsAndQueryOnlyExportedMetrics(t *testing.T) {
	dir := filepath.Join(repoRoot(t), dashboardsDir)
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	uses := map[string]map[string]bool{} // dashboard uid -> metric names
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard
		if err := json.Unmarshal(b, &d); err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if d.UID == "" || d.Title == "" || len(d.Panels) == 0 {
			t.Errorf("%s: uid %q, title %q, %d panels: want all three", f, d.UID, d.Title, len(d.Panels))
		}
		uses[d.UID] = map[string]bool{}
		for _, p := range d.Panels {
			if len(p.Targets) == 0 {
				t.Errorf("%s: panel %q has no query", f, p.Title)
			}
			for _, tg := range p.Targets {
				names, err := metricsOf(grafanaVars.Replace(tg.Expr))
				if err != nil {
					t.Errorf("%s: panel %q: %v", f, p.Title, err)
					continue
				}
				for _, n := range names {
					uses[d.UID][n] = true
					if !exported(n) {
						t.Errorf("%s: panel %q uses %s, which keygate does not export", f, p.Title, n)
					}
				}
			}
		}
	}
	// The five views, each showing what the seed says it shows.
	views := map[string][]string{
		"keygate-auth-overview":    {"keygate_logins_total", "keygate_tokens_issued_total"},
		"keygate-token-validation": {"keygate_token_validations_total", "keygate_token_validation_duration_seconds_bucket"},
		"keygate-revocation": {"keygate_revocation_propagation_seconds_bucket", "keygate_revocation_staleness_seconds",
			"keygate_revocation_entries", "keygate_revocation_resyncs_total"},
		"keygate-dependencies": {"keygate_dependency_up", "keygate_jwks_fetches_total"},
		"keygate-http":         {"http_request_duration_seconds_bucket"},
	}
	for uid, want := range views {
		if uses[uid] == nil {
			t.Errorf("no dashboard %s in %s", uid, dashboardsDir)
			continue
		}
		for _, m := range want {
			if !uses[uid][m] {
				t.Errorf("dashboard %s does not show %s", uid, m)
			}
		}
	}
}

// promConfig is the part of a Prometheus configuration these tests read.
type promConfig struct {
	RuleFiles     []string `json:"rule_files"`
	ScrapeConfigs []struct {
		JobName       string `json:"job_name"`
		StaticConfigs []struct {
			Targets []string `json:"targets"`
		} `json:"static_configs"`
		KubernetesSDConfigs []map[string]any `json:"kubernetes_sd_configs"`
	} `json:"scrape_configs"`
}

func readPromConfig(t *testing.T, rel string) promConfig {
	t.Helper()
	var c promConfig
	if err := yaml.Unmarshal(readFile(t, rel), &c); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	return c
}

// TestComposeScrapeConfigTargetsEveryReplicaOnItsPort: Prometheus scrapes every replica on
// its admin listener's port (the API's port serves no /metrics).
func TestComposeScrapeConfigTargetsEveryReplicaOnItsPort(t *testing.T) {
	const rel = "deploy/monitoring/prometheus/prometheus.compose.yml"
	c := readPromConfig(t, rel)
	compose := readCompose(t)
	jobs := map[string][]string{}
	for _, sc := range c.ScrapeConfigs {
		for _, s := range sc.StaticConfigs {
			jobs[sc.JobName] = append(jobs[sc.JobName], s.Targets...)
		}
	}
	for _, a := range Apps {
		if a.Port == 0 {
			continue
		}
		var want []string
		for _, name := range slices.Sorted(maps.Keys(compose.Services)) {
			if app, ok := appOf(compose.Services[name].Image); ok && app.Name == a.Name {
				want = append(want, fmt.Sprintf("%s:%d", name, a.AdminPort))
			}
		}
		got := slices.Sorted(slices.Values(jobs[a.Name]))
		if len(want) == 0 || !slices.Equal(got, want) {
			t.Errorf("%s: job %s targets %v, want every compose replica: %v", rel, a.Name, got, want)
		}
	}
	if !slices.Contains(c.RuleFiles, "/etc/prometheus/alerts.yml") {
		t.Errorf("%s: rule_files %v does not load the alert rules", rel, c.RuleFiles)
	}
}

func TestKubernetesScrapeConfigDiscoversPods(t *testing.T) {
	const rel = "deploy/monitoring/prometheus/prometheus.k8s.yml"
	c := readPromConfig(t, rel)
	if len(c.ScrapeConfigs) == 0 || len(c.ScrapeConfigs[0].KubernetesSDConfigs) == 0 || c.ScrapeConfigs[0].KubernetesSDConfigs[0]["role"] != "pod" {
		t.Errorf("%s: want a pod discovery", rel)
	}
	// The annotations it keys on are on every app's pods, with the app's port.
	for dir, b := range buildAll(t) {
		for _, d := range b.Deployments {
			app, ok := appOf(d.Spec.Template.Spec.Containers[0].Image)
			if !ok {
				continue
			}
			// The scrape config keeps only pods labelled part-of keygate.
			if d.Spec.Template.Labels["app.kubernetes.io/part-of"] != "keygate" {
				t.Errorf("%s: %s pods lack app.kubernetes.io/part-of=keygate, which %s keeps", dir, d.Name, rel)
			}
			ann := d.Spec.Template.Annotations
			if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != fmt.Sprint(app.AdminPort) || ann["prometheus.io/path"] != "/metrics" {
				t.Errorf("%s: %s pod annotations %v, want scrape true, the admin listener's port %d, path /metrics", dir, d.Name, ann, app.AdminPort)
			}
		}
	}
}
