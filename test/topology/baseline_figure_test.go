package topology_test

import (
	"fmt"
	"net/http"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/keygate/keygate/test/apptest"
)

// TestFigureRefreshAgainstBaseline measures this tree's authd against an older authd binary
// (KEYGATE_BASELINE_AUTHD) in one run: the refresh figure's "redis (dev users)" profile, 16
// clients for 5 s, in alternating rounds (this tree, the baseline, this tree, ...), each round
// on a fresh authd and a fresh Redis. It reports each round, then the medians and the ratios
// of the server CPU per refresh (authd, redis-server) and of the p99, which is issue 9's
// "halved" row measured side by side instead of against a number from another day. To build
// the baseline of issue 9 (the tree it was filed against):
//
//	git worktree add --detach /tmp/base f4b85ff && (cd /tmp/base && go build -o /tmp/authd-base ./apps/authd)
//	KEYGATE_BASELINE_AUTHD=/tmp/authd-base go test ./test/topology -run RefreshAgainstBaseline -figures -v
func TestFigureRefreshAgainstBaseline(t *testing.T) {
	if !*figures {
		t.Skip("measures figures; run with -figures")
	}
	base := os.Getenv("KEYGATE_BASELINE_AUTHD")
	if base == "" {
		t.Skip("set KEYGATE_BASELINE_AUTHD to an older authd binary (see the test's doc)")
	}
	var redisProfile profile
	for _, p := range figureProfiles(false) {
		if p.name == "redis (dev users)" {
			redisProfile = p
		}
	}
	const rounds, clients = 3, 16
	type result struct {
		s               stats
		authdCPU, redis time.Duration
	}
	got := map[string][]result{}
	for i := range 2 * rounds {
		name, bin := "current", ""
		if i%2 == 1 {
			name, bin = "baseline", base
		}
		t.Run(fmt.Sprintf("%s/%d", name, i/2+1), func(t *testing.T) {
			env := apptest.Merge(authEnv(), redisProfile.env(t), map[string]string{"KEYGATE_LOG_LEVEL": "info"})
			if bin == "" {
				bin = binary(t, "authd")
			} else {
				// Before issue 10 the login limit per account had this name (today's authd
				// refuses it beside the new ones).
				env["KEYGATE_LOGIN_LIMIT_ACCOUNT"] = "100000/1h"
			}
			a := startProc(t, "authd", bin, env)
			c := newClient(128)
			// The public /ready: an authd from before the admin listener has no other.
			apptest.Eventually(t, 60*time.Second, a.URL+"/ready answers 200", func() bool {
				return c.do(t, "GET", a.URL+"/ready", "", nil).status == http.StatusOK
			})
			chains := refreshChains(t, c, a.URL, clients)
			s, authdCPU, redisCPU := measureRefresh(t, a, c, chains, 5*time.Second)
			if s.errors > 0 {
				t.Errorf("%d refreshes failed", s.errors)
			}
			report(t, "refresh, %s authd, %d clients: %v; CPU per refresh: authd %v, redis %v", name, clients, s, authdCPU, redisCPU)
			got[name] = append(got[name], result{s, authdCPU, redisCPU})
		})
	}
	if len(got["current"]) != rounds || len(got["baseline"]) != rounds {
		t.Fatal("a round failed; no ratios")
	}
	med := func(name string, f func(result) float64) float64 {
		var v []float64
		for _, r := range got[name] {
			v = append(v, f(r))
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	for _, m := range []struct {
		what string
		f    func(result) float64
	}{
		{"refreshes/s", func(r result) float64 { return r.s.rate }},
		{"p99 ms", func(r result) float64 { return float64(r.s.p99) / float64(time.Millisecond) }},
		{"authd CPU us/refresh", func(r result) float64 { return float64(r.authdCPU) / float64(time.Microsecond) }},
		{"redis CPU us/refresh", func(r result) float64 { return float64(r.redis) / float64(time.Microsecond) }},
		{"authd+redis CPU us/refresh", func(r result) float64 { return float64(r.authdCPU+r.redis) / float64(time.Microsecond) }},
	} {
		cur, old := med("current", m.f), med("baseline", m.f)
		report(t, "median of %d rounds, %s: current %.1f, baseline %.1f, current/baseline %.2f", rounds, m.what, cur, old, cur/old)
	}
}
