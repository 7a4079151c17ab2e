package deploy

import (
	"maps"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// deploy/compose/compose.yaml needs Compose v2 or later: it names its project with the
// top-level "name" (Compose v1, docker-compose 1.x, the one Debian packages, refuses the key).
// These tests load it with compose-go v2, the loader of the Compose v2 CLI itself: the
// specification's schema, interpolation (${VAR:?message}), YAML merge keys, normalisation and
// the consistency checks the CLI runs before `up`.

// composeSecrets are the variables the compose file demands from the environment or .env.
var composeSecrets = map[string]string{
	"KEYGATE_REFRESH_SECRET": "compose-test-refresh-secret-0123456789abcdef",
	"KEYGATE_KEK":            "Y29tcG9zZS10ZXN0LWtlay0zMi1ieXRlcy1sb25nISE=",
	"DB_PASSWORD":            "compose-test-db-password",
	"REDIS_PASSWORD":         "compose-test-redis-password",
}

// loadComposeV2 loads the compose file as `docker compose` would with exactly env (no .env
// file, not the test's own environment).
func loadComposeV2(t *testing.T, env map[string]string) (*types.Project, error) {
	t.Helper()
	var list []string
	for k, v := range env {
		list = append(list, k+"="+v)
	}
	dir := filepath.Join(repoRoot(t), "deploy/compose")
	opts, err := cli.NewProjectOptions([]string{filepath.Join(dir, "compose.yaml")},
		cli.WithWorkingDirectory(dir), cli.WithEnv(list), cli.WithConsistency(true),
		cli.WithInterpolation(true), cli.WithNormalization(true))
	if err != nil {
		t.Fatalf("compose-go options: %v", err)
	}
	return opts.LoadProject(t.Context())
}

// composeEnv returns a service's environment after interpolation.
func composeEnv(t *testing.T, p *types.Project, service string) map[string]string {
	t.Helper()
	s, ok := p.Services[service]
	if !ok {
		t.Fatalf("%s: no service %s", composeFile, service)
	}
	out := map[string]string{}
	for k, v := range s.Environment {
		if v != nil {
			out[k] = *v
		}
	}
	return out
}

// TestComposeV2LoadsTheFile: Compose v2 accepts the file with the secrets set, names the
// project "keygate" whatever the directory is called, and the services it would start agree
// with each other: every dependency waited on has the health check or one-shot restart policy
// its condition needs, the secrets reach every service that needs them with the same values,
// verifiers expect the issuer authd signs with and fetch the JWKS through nginx's published
// port, and authd trusts the proxies of the compose network.
func TestComposeV2LoadsTheFile(t *testing.T) {
	p, err := loadComposeV2(t, composeSecrets)
	if err != nil {
		t.Fatalf("compose v2 refuses %s: %v", composeFile, err)
	}
	if p.Name != "keygate" {
		t.Errorf("project name %q, want keygate (the top-level name:, which Compose v1 cannot read)", p.Name)
	}

	for name, s := range p.Services {
		for dep, d := range s.DependsOn {
			target, ok := p.Services[dep]
			if !ok {
				t.Errorf("%s depends on %s, which is no service", name, dep)
				continue
			}
			switch d.Condition {
			case types.ServiceConditionHealthy:
				if hc := target.HealthCheck; hc == nil || hc.Disable || len(hc.Test) == 0 || hc.Interval == nil {
					t.Errorf("%s waits for %s to be healthy, which has no health check (%+v)", name, dep, hc)
				}
			case types.ServiceConditionCompletedSuccessfully:
				if target.Restart != types.RestartPolicyNo {
					t.Errorf("%s waits for %s to complete, whose restart policy is %q, want \"no\" (a one-shot job)", name, dep, target.Restart)
				}
			}
		}
	}

	// The secrets, interpolated, are the same wherever they are used.
	redisPassword := composeEnv(t, p, "redis")["REDIS_PASSWORD"]
	if redisPassword != composeSecrets["REDIS_PASSWORD"] {
		t.Errorf("redis runs with REDIS_PASSWORD %q, want the environment's", redisPassword)
	}
	if got := composeEnv(t, p, "mysql")["MYSQL_PASSWORD"]; got != composeSecrets["DB_PASSWORD"] {
		t.Errorf("mysql creates its user with password %q, want DB_PASSWORD's", got)
	}
	authd := composeEnv(t, p, "authd-1")
	var apps []string
	for name, s := range p.Services {
		app, ok := appOf(s.Image)
		if !ok {
			continue
		}
		apps = append(apps, name)
		env := composeEnv(t, p, name)
		for k, v := range env {
			if want, ok := composeSecrets[k]; ok && v != want {
				t.Errorf("%s: %s is %q, want the environment's", name, k, v)
			}
		}
		if _, ok := env["REDIS_ADDR"]; ok && env["REDIS_PASSWORD"] != redisPassword {
			t.Errorf("%s: REDIS_PASSWORD differs from the redis service's", name)
		}
		if host := env["DB_HOST"]; host != "" {
			if _, ok := p.Services[host]; !ok {
				t.Errorf("%s: DB_HOST %q is no service", name, host)
			}
		}
		if addr := env["REDIS_ADDR"]; addr != "" {
			host, _, err := net.SplitHostPort(addr)
			if _, ok := p.Services[host]; err != nil || !ok {
				t.Errorf("%s: REDIS_ADDR %q is no service's address", name, addr)
			}
		}
		switch app.Name {
		case "authd":
			if !maps.Equal(env, authd) {
				t.Errorf("%s runs with another environment than authd-1: replicas must agree", name)
			}
		case "ordersd", "paymentsd":
			if env["KEYGATE_ISSUER"] != authd["KEYGATE_ISSUER"] {
				t.Errorf("%s expects issuer %q, authd signs as %q", name, env["KEYGATE_ISSUER"], authd["KEYGATE_ISSUER"])
			}
			u, err := url.Parse(env["KEYGATE_JWKS_URL"])
			if err != nil || u.Hostname() != "nginx" || !slices.ContainsFunc(p.Services["nginx"].Ports, func(pc types.ServicePortConfig) bool {
				return u.Port() == strconv.FormatUint(uint64(pc.Target), 10)
			}) {
				t.Errorf("%s: KEYGATE_JWKS_URL %q is not nginx's port", name, env["KEYGATE_JWKS_URL"])
			}
		}
	}
	if len(apps) < 6 {
		t.Errorf("compose v2 sees %d keygate services (%v), want authd, ordersd, paymentsd and the migration", len(apps), apps)
	}

	// authd trusts X-Forwarded-For from the compose network, where nginx runs.
	var subnets []netip.Prefix
	for _, n := range p.Networks {
		for _, pool := range n.Ipam.Config {
			if pr, err := netip.ParsePrefix(pool.Subnet); err == nil {
				subnets = append(subnets, pr)
			}
		}
	}
	trusted := authd["KEYGATE_TRUSTED_PROXIES"]
	for _, s := range subnets {
		if !strings.Contains(trusted, s.String()) {
			t.Errorf("authd trusts %q, which does not cover the compose network %s where nginx runs", trusted, s)
		}
	}
	if len(subnets) == 0 {
		t.Errorf("the compose network has no fixed subnet for KEYGATE_TRUSTED_PROXIES to name")
	}
}

// TestComposeV2RefusesAMissingSecret: without any one of the secrets, Compose v2 refuses to
// load the file with a message naming the variable (nothing starts with an empty secret).
func TestComposeV2RefusesAMissingSecret(t *testing.T) {
	for name := range composeSecrets {
		t.Run(name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range composeSecrets {
				if k != name {
					env[k] = v
				}
			}
			for _, value := range []string{"unset", ""} {
				if value == "" {
					env[name] = ""
				}
				_, err := loadComposeV2(t, env)
				if err == nil || !strings.Contains(err.Error(), name) {
					t.Errorf("%s %s: compose v2 loaded the file (%v), want a refusal naming it", name, value, err)
				}
			}
		})
	}
}
