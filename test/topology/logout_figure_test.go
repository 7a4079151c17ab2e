package topology_test

import (
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate/test/apptest"
	"github.com/keygate/keygate/test/containers"
)

// TestFigureLogout measures issue 9's logout row: one authd (in-memory users) and two ordersd
// verifiers on one Redis, 200 logouts one after another. For each, both verifiers first
// accept the access token (so it is in their caches of verified tokens); then each verifier is
// polled with the token over its own keep-alive connection, from just before POST /logout is
// sent until it answers 401. The figure is the time from the 204's arrival to the later of the
// two 401s' arrival, 0 when both came first: an upper bound by at most one poll's round trip
// (reported too, as "poll") and pollPause. A logout answered other than 204 (503 on an
// overloaded machine) is counted as an error; more than 1% fails the run.
// It runs once per durability setting of Redis, for the cost of durability in the logout's
// own latency (the POST /logout round trip, "204 in"):
//
//   - appendfsync everysec: acknowledged before it is on disk (what no profile ships alone);
//   - appendfsync always: one Redis, fsynced before the reply (deploy/compose);
//   - everysec + WAIT 1: a replica holds it before the 204 (REDIS_REVOKE_REPLICAS=1, deploy/k8s).
//
// The processes reach Redis at its container address, as pods would.
//
//	go test ./test/topology -run FigureLogout -figures -v
func TestFigureLogout(t *testing.T) {
	if !*figures {
		t.Skip("measures figures; run with -figures")
	}
	everysec := containers.WithRedisArgs("--appendonly", "yes", "--appendfsync", "everysec")
	for _, d := range []struct {
		name  string
		start func(t *testing.T) (redisAddr string, authExtra map[string]string)
	}{
		{"appendfsync everysec", func(t *testing.T) (string, map[string]string) {
			return containers.StartRedis(t, everysec).ContainerAddr, nil
		}},
		{"appendfsync always", func(t *testing.T) (string, map[string]string) {
			return containers.StartRedis(t, containers.WithAOF()).ContainerAddr, nil
		}},
		{"everysec + WAIT 1 replica", func(t *testing.T) (string, map[string]string) {
			primary := containers.StartRedis(t, everysec)
			host, port, _ := net.SplitHostPort(primary.ContainerAddr)
			replica := containers.StartRedis(t, everysec, containers.WithRedisArgs("--replicaof", host, port))
			apptest.Eventually(t, 30*time.Second, "the replica's link to the primary is up", func() bool {
				return strings.Contains(replica.CLI(t, "INFO", "replication"), "master_link_status:up")
			})
			return primary.ContainerAddr, map[string]string{"REDIS_REVOKE_REPLICAS": "1"}
		}},
	} {
		t.Run(d.name, func(t *testing.T) {
			addr, extra := d.start(t)
			redis := map[string]string{"REDIS_ADDR": addr}
			auth := startProc(t, "authd", binary(t, "authd"), apptest.Merge(authEnv(), redis, map[string]string{"KEYGATE_DEV": "1"}, extra))
			svc := apptest.Merge(redis, map[string]string{"PORT": "0", "KEYGATE_ISSUER": auth.Issuer})
			verifiers := []*proc{
				startProc(t, "ordersd-1", binary(t, "ordersd"), svc),
				startProc(t, "ordersd-2", binary(t, "ordersd"), svc),
			}
			c := newClient(4)
			c.waitReady(t, 30*time.Second, auth.URL, verifiers[0].URL, verifiers[1].URL)
			s := measureLogouts(t, c, auth, verifiers, 200)
			report(t, "logout -> both verifiers refuse, %s: %v; 204 in: %v; poll: %v", d.name, s.refused, s.logout, s.poll)
		})
	}
}

// pollPause is the pause between two polls of one verifier, so that the pollers leave the
// two cores to authd and Redis.
const pollPause = 200 * time.Microsecond

// logoutFigure is what measureLogouts measured.
type logoutFigure struct {
	refused stats // from the 204 to both verifiers answering 401
	logout  stats // POST /logout round trip
	poll    stats // one verifier GET round trip (a token it accepts)
}

// measureLogouts logs n sessions in, then logs each out and times until every verifier
// refuses its access token.
func measureLogouts(t *testing.T, c *client, auth *proc, verifiers []*proc, n int) logoutFigure {
	t.Helper()
	const password = "correct horse battery"
	c.signup(t, auth.URL, "logout@example.com", password)
	tokens := make([]string, n)
	for i := range tokens {
		tokens[i] = tokensOf(t, c.login(t, auth.URL, "logout@example.com", password), fmt.Sprintf("login %d", i)).access
	}
	vc := make([]*client, len(verifiers)) // one warm connection each
	for i := range vc {
		vc[i] = newClient(1)
	}
	var refused, logout, poll []time.Duration
	before := 0 // logouts both verifiers refused before the 204 arrived
	failed := 0 // logouts not answered 204
	start := time.Now()
	for i, tok := range tokens {
		for j, v := range verifiers {
			t0 := time.Now()
			want(t, vc[j].orders(t, v.URL, tok), http.StatusOK, fmt.Sprintf("%s before logout %d", v.Name, i))
			poll = append(poll, time.Since(t0))
		}
		// Each verifier is polled from just before the logout is sent until it answers 401;
		// refusedAt is when that 401 arrived.
		refusedAt := make([]time.Time, len(verifiers))
		var stop atomic.Bool // the logout failed: nothing to wait for
		var wg sync.WaitGroup
		for j, v := range verifiers {
			wg.Go(func() {
				deadline := time.Now().Add(10 * time.Second)
				for {
					r := vc[j].orders(t, v.URL, tok)
					if r.status == http.StatusUnauthorized {
						refusedAt[j] = time.Now()
						return
					}
					if r.status != http.StatusOK || time.Now().After(deadline) || stop.Load() {
						if !stop.Load() {
							t.Errorf("%s, logout %d: %v while waiting for a 401", v.Name, i, r)
						}
						return
					}
					time.Sleep(pollPause)
				}
			})
		}
		t0 := time.Now()
		if r := c.do(t, "POST", auth.URL+"/logout", tok, nil); r.status != http.StatusNoContent {
			t.Logf("logout %d: %v", i, r) // an overloaded machine's 503: counted, not timed
			failed++
			stop.Store(true)
			wg.Wait()
			continue
		}
		acked := time.Now()
		logout = append(logout, acked.Sub(t0))
		wg.Wait()
		last := slices.MaxFunc(refusedAt, time.Time.Compare)
		if !last.After(acked) {
			before++
		}
		refused = append(refused, max(last.Sub(acked), 0))
	}
	t.Logf("%d of %d logouts: both verifiers refused before the 204 arrived", before, len(tokens))
	if failed > len(tokens)/100 {
		t.Errorf("%d of %d logouts not answered 204", failed, len(tokens))
	}
	elapsed := time.Since(start)
	return logoutFigure{refused: summarise(refused, failed, elapsed), logout: summarise(logout, failed, elapsed), poll: summarise(poll, 0, elapsed)}
}
