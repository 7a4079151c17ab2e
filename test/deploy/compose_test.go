package deploy

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

const composeFile = "deploy/compose/compose.yaml"

// Compose is the part of deploy/compose/compose.yaml these tests read (YAML anchors and merge
// keys resolved).
type Compose struct {
	Services map[string]ComposeService `json:"services"`
}

// ComposeService is one service of the compose file.
type ComposeService struct {
	Image       string            `json:"image"`
	Environment map[string]string `json:"environment"`
	Volumes     []string          `json:"volumes"`
	Ports       []string          `json:"ports"`
	Build       *struct {
		Context    string            `json:"context"`
		Dockerfile string            `json:"dockerfile"`
		Args       map[string]string `json:"args"`
	} `json:"build"`
	Command  []string `json:"command"`
	User     string   `json:"user"`
	ReadOnly bool     `json:"read_only"`
	CapDrop  []string `json:"cap_drop"`
}

func readCompose(t *testing.T) Compose {
	t.Helper()
	var c Compose
	if err := yaml.Unmarshal(readFile(t, composeFile), &c); err != nil {
		t.Fatalf("%s: %v", composeFile, err)
	}
	return c
}

// TestComposeRedisFsyncsBeforeItAcknowledges: compose runs one Redis with no replica, so the
// only way a logout answered 204 survives kill -9 of Redis is an append-only file fsynced
// before each reply (docs/revocation.md, per deployment).
func TestComposeRedisFsyncsBeforeItAcknowledges(t *testing.T) {
	c := readCompose(t)
	redis, ok := c.Services["redis"]
	if !ok {
		t.Fatalf("%s: no redis service", composeFile)
	}
	cmd := strings.Join(redis.Command, " ")
	for _, want := range []string{"--appendonly yes", "--appendfsync always"} {
		if !strings.Contains(cmd, want) {
			t.Errorf("%s: redis command %q lacks %q", composeFile, cmd, want)
		}
	}
}

func TestComposeRunsTheWholeTopology(t *testing.T) {
	c := readCompose(t)
	count := map[string]int{}
	for _, s := range c.Services {
		if app, ok := appOf(s.Image); ok {
			count[app.Name]++
			continue
		}
		count[strings.SplitN(s.Image, ":", 2)[0]]++
	}
	want := map[string]int{
		"authd": 2, "ordersd": 2, "paymentsd": 1, "keygatectl": 1,
		"nginx": 1, "redis": 1, "mysql": 1, "prom/prometheus": 1, "grafana/grafana": 1,
	}
	for name, n := range want {
		if count[name] != n {
			t.Errorf("%s: %d services run %s, want %d", composeFile, count[name], name, n)
		}
	}
}

func TestComposeSetsOnlyDocumentedVariablesAndBuildsFromTheDockerfile(t *testing.T) {
	docs := parseDocs(t)
	c := readCompose(t)
	for name, s := range c.Services {
		app, ok := appOf(s.Image)
		if !ok {
			continue
		}
		for v := range s.Environment {
			if !docs.readsVar(app, v) {
				t.Errorf("%s: service %s (%s) sets %s, which docs/configuration.md does not list for it", composeFile, name, app.Name, v)
			}
		}
		if s.Build == nil || s.Build.Dockerfile != "deploy/Dockerfile" || s.Build.Args["APP"] != app.Name {
			t.Errorf("%s: service %s does not build %s from deploy/Dockerfile", composeFile, name, app.Name)
		} else if _, err := os.Stat(filepath.Join(repoRoot(t), "deploy/compose", s.Build.Context, s.Build.Dockerfile)); err != nil {
			t.Errorf("%s: service %s: %v", composeFile, name, err)
		}
		if s.User != "65532:65532" || !s.ReadOnly || !slices.Equal(s.CapDrop, []string{"ALL"}) {
			t.Errorf("%s: service %s runs with user %q, read_only %v, cap_drop %v; want 65532:65532, true, [ALL]", composeFile, name, s.User, s.ReadOnly, s.CapDrop)
		}
		for v, val := range s.Environment {
			if isSecret(v) && !strings.HasPrefix(val, "${") {
				t.Errorf("%s: service %s commits a value for %s; take it from the environment", composeFile, name, v)
			}
		}
	}
}

// TestComposePublishesNoAppPort: the apps' ports, the API's and the admin listener's
// (metrics, the detailed /ready), stay on the compose network; clients come through nginx.
func TestComposePublishesNoAppPort(t *testing.T) {
	for name, s := range readCompose(t).Services {
		if _, ok := appOf(s.Image); ok && len(s.Ports) > 0 {
			t.Errorf("%s: service %s publishes %v; only nginx (and the monitoring UIs) may", composeFile, name, s.Ports)
		}
	}
}

func isSecret(v string) bool {
	return slices.Contains([]string{"KEYGATE_REFRESH_SECRET", "KEYGATE_KEK", "DB_PASSWORD", "REDIS_PASSWORD", "KEYGATE_ADMIN_PASSWORD", "MYSQL_PASSWORD"}, v)
}

var serverLine = regexp.MustCompile(`(?m)^\s*server\s+([^\s;]+)`)

// serversIn returns the host:port of every server line of an NGINX server list.
func serversIn(t *testing.T, rel string) []string {
	t.Helper()
	var out []string
	for _, m := range serverLine.FindAllStringSubmatch(string(readFile(t, rel)), -1) {
		out = append(out, m[1])
	}
	return out
}

func TestComposeNginxMountsItsConfigAndRoutesToEveryReplica(t *testing.T) {
	c := readCompose(t)
	nginx := c.Services["nginx"]
	mounted := map[string]string{}
	for _, v := range nginx.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) < 2 {
			continue
		}
		host := filepath.Join(repoRoot(t), "deploy/compose", parts[0])
		if _, err := os.Stat(host); err != nil {
			t.Errorf("%s: nginx mounts %s: %v", composeFile, parts[0], err)
		}
		mounted[parts[1]] = host
	}
	for _, f := range []string{"nginx.conf", "authd.servers", "ordersd.servers", "paymentsd.servers"} {
		if mounted["/etc/nginx/keygate/"+f] == "" {
			t.Errorf("%s: nginx does not mount /etc/nginx/keygate/%s", composeFile, f)
		}
	}
	for _, a := range Apps {
		if a.Port == 0 {
			continue
		}
		var want []string
		for name, s := range c.Services {
			if app, ok := appOf(s.Image); ok && app.Name == a.Name {
				want = append(want, fmt.Sprintf("%s:%d", name, a.Port))
			}
		}
		slices.Sort(want)
		got := serversIn(t, "deploy/nginx/compose/"+a.Name+".servers")
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("deploy/nginx/compose/%s.servers lists %v, want every compose replica: %v", a.Name, got, want)
		}
	}
}

// TestComposeFileValidates runs the Compose v2 CLI's own validation (`config -q`) where one
// is installed (TestComposeV2LoadsTheFile runs its loader library in any case). Compose v1
// (docker-compose 1.x, Debian's) cannot read the file: it rejects the top-level "name". It
// also checks the secrets are demanded.
func TestComposeFileValidates(t *testing.T) {
	dir := filepath.Join(repoRoot(t), "deploy/compose")
	file := readFile(t, composeFile)
	if exec.Command("docker", "compose", "version").Run() != nil {
		t.Skip("no Compose v2 CLI (docker compose) installed; TestComposeV2LoadsTheFile validated the file with compose-go v2")
	}
	command := []string{"docker", "compose", "--project-directory", dir, "-f", "-", "config", "-q"}
	run := func(env ...string) (string, error) {
		cmd := exec.CommandContext(t.Context(), command[0], command[1:]...)
		cmd.Stdin = bytes.NewReader(file)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	secrets := []string{"KEYGATE_REFRESH_SECRET=r", "KEYGATE_KEK=k", "DB_PASSWORD=d", "REDIS_PASSWORD=p"}
	if out, err := run(secrets...); err != nil {
		t.Errorf("%s: %v\n%s", strings.Join(command, " "), err, out)
	}
	for i, s := range secrets {
		missing := strings.SplitN(s, "=", 2)[0]
		others := slices.Delete(slices.Clone(secrets), i, i+1)
		out, err := run(append(others, missing+"=")...)
		if err == nil || !strings.Contains(out, missing) {
			t.Errorf("without %s: %v, %q; want a refusal naming it", missing, err, out)
		}
	}
}

func TestComposeMonitoringIsWiredTogether(t *testing.T) {
	c := readCompose(t)
	mounts := func(service string) map[string]string { // container path -> repository path
		out := map[string]string{}
		for _, v := range c.Services[service].Volumes {
			parts := strings.Split(v, ":")
			if len(parts) >= 2 && strings.HasPrefix(parts[0], ".") {
				rel, err := filepath.Rel(repoRoot(t), filepath.Join(repoRoot(t), "deploy/compose", parts[0]))
				if err != nil {
					t.Fatal(err)
				}
				out[parts[1]] = rel
			}
		}
		return out
	}
	prom := mounts("prometheus")
	if prom["/etc/prometheus/prometheus.yml"] != "deploy/monitoring/prometheus/prometheus.compose.yml" {
		t.Errorf("prometheus runs %q, want deploy/monitoring/prometheus/prometheus.compose.yml", prom["/etc/prometheus/prometheus.yml"])
	}
	for _, rf := range readPromConfig(t, "deploy/monitoring/prometheus/prometheus.compose.yml").RuleFiles {
		if prom[rf] != alertsFile {
			t.Errorf("prometheus loads %s, which mounts %q, want %s", rf, prom[rf], alertsFile)
		}
	}

	var provider struct {
		Providers []struct {
			Options struct {
				Path string `json:"path"`
			} `json:"options"`
		} `json:"providers"`
	}
	if err := yaml.Unmarshal(readFile(t, "deploy/monitoring/grafana/provisioning/dashboards/keygate.yaml"), &provider); err != nil {
		t.Fatal(err)
	}
	var datasources struct {
		Datasources []struct {
			UID string `json:"uid"`
			URL string `json:"url"`
		} `json:"datasources"`
	}
	if err := yaml.Unmarshal(readFile(t, "deploy/monitoring/grafana/provisioning/datasources/prometheus.yaml"), &datasources); err != nil {
		t.Fatal(err)
	}
	graf := mounts("grafana")
	if graf["/etc/grafana/provisioning"] != "deploy/monitoring/grafana/provisioning" {
		t.Errorf("grafana provisioning mounted from %q", graf["/etc/grafana/provisioning"])
	}
	if len(provider.Providers) != 1 || graf[provider.Providers[0].Options.Path] != dashboardsDir {
		t.Errorf("grafana reads dashboards from %+v, which do not mount %s", provider.Providers, dashboardsDir)
	}
	if len(datasources.Datasources) != 1 || datasources.Datasources[0].URL != "http://prometheus:9090" || datasources.Datasources[0].UID != "prometheus" {
		t.Errorf("datasources %+v, want one, uid prometheus, at the compose service http://prometheus:9090", datasources.Datasources)
	}
	// Every dashboard panel queries that datasource.
	files, _ := filepath.Glob(filepath.Join(repoRoot(t), dashboardsDir, "*.json"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(string(b), `"uid": "prometheus"`); n == 0 || strings.Contains(string(b), `"uid": "${`) {
			t.Errorf("%s: panels do not name the provisioned datasource uid prometheus", f)
		}
	}
}
