package region_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate/test/apptest"
	"github.com/keygate/keygate/test/containers"
)

// replTimeout is the Redis replication timeout of both regions: how long a silent link
// lasts before the replica declares it down (Redis's default is 60s; deploy/README.md). The
// primary pings its replicas every second (repl-ping-replica-period 1), so a quiet link is
// not taken for a dead one.
const replTimeout = 3 * time.Second

// failClosed is the bound of region B's fail-closed verifier. Until the replica declares its
// link down, a verifier on it still finds the replica's sequence number equal to its own and
// takes its set for current; the bound must exceed replTimeout plus the heartbeat interval
// (2s), or the verifier refuses, then accepts again, then refuses.
const failClosed = 6 * time.Second

// topology is the two regions.
type topology struct {
	wan                       *wan
	redisB                    *containers.Container
	authA, authB              *proc
	ordersA, ordersB, closedB *proc
	c                         *client
}

func startTopology(t *testing.T) *topology {
	t.Helper()
	requireNetAdmin(t)
	sweep(t)
	tp := &topology{c: newClient()}
	redisImg := containers.RedisImage()
	repl := []string{"--protected-mode", "no", "--repl-timeout", fmt.Sprint(int(replTimeout.Seconds())), "--repl-ping-replica-period", "1"}
	// Region A's namespace is its Redis container's; region B's is its replica's.
	_, pidA := startContainer(t, redisImg, append([]string{"redis-server"}, repl...), nil, "none", "Ready to accept connections")
	var pidB int
	tp.redisB, pidB = startContainer(t, redisImg, append(append([]string{"redis-server"}, repl...),
		"--replicaof", wanA, "6379"), nil, "none", "Ready to accept connections")
	hostLink(t, pidA, "a", hostA, insideA)
	hostLink(t, pidB, "b", hostB, insideB)
	tp.wan = newWAN(t, pidA, pidB)
	tp.wan.set(0, 0) // setup runs at full speed; each test sets its own delay and loss

	// The one primary database, in region A.
	db, _ := startContainer(t, containers.MariaDBImage(),
		[]string{"--innodb-flush-log-at-trx-commit=2", "--max-connections=500"},
		map[string]string{"MYSQL_ROOT_PASSWORD": dbPass, "MYSQL_DATABASE": "keygate", "MYSQL_USER": "keygate", "MYSQL_PASSWORD": dbPass}, "container:"+containerID(t, pidA), "")
	apptest.Eventually(t, 3*time.Minute, "MariaDB answers in region A", func() bool {
		code, _, err := db.ExecCode("mariadb", "-h", "127.0.0.1", "-ukeygate", "-p"+dbPass, "keygate", "-e", "SELECT 1")
		return err == nil && code == 0
	})
	apptest.Eventually(t, time.Minute, "region B's Redis is linked to region A's", func() bool {
		return strings.Contains(tp.redisB.Exec(t, "redis-cli", "ROLE"), "connected")
	})

	auth := map[string]string{
		"PORT": "0", "KEYGATE_ISSUER": issuer, "KEYGATE_REFRESH_SECRET": refreshSecret, "KEYGATE_KEK": kek,
		"KEYGATE_LOGIN_LIMIT_IP": "1000000/1h", "DB_USER": "keygate", "DB_PASSWORD": dbPass, "DB_NAME": "keygate",
	}
	tp.authA = start(t, pidA, insideA, "authd-a", binary(t, "authd"), apptest.Merge(auth, map[string]string{
		"REDIS_ADDR": "127.0.0.1:6379", "DB_HOST": "127.0.0.1", "KEYGATE_MIGRATE": "1",
	}))
	// B's authd writes sessions and revocations to A's primary and reads users and keys from
	// A's database, both across the WAN: a replica refuses writes.
	tp.authB = start(t, pidB, insideB, "authd-b", binary(t, "authd"), apptest.Merge(auth, map[string]string{
		"REDIS_ADDR": wanA + ":6379", "DB_HOST": wanA,
	}))
	verifier := func(authd *proc) map[string]string {
		return map[string]string{"PORT": "0", "KEYGATE_ISSUER": issuer, "REDIS_ADDR": "127.0.0.1:6379",
			"KEYGATE_JWKS_URL": authd.Local + "/.well-known/jwks.json"}
	}
	tp.ordersA = start(t, pidA, insideA, "ordersd-a", binary(t, "ordersd"), verifier(tp.authA))
	tp.ordersB = start(t, pidB, insideB, "ordersd-b", binary(t, "ordersd"), verifier(tp.authB))
	tp.closedB = start(t, pidB, insideB, "ordersd-b-fail-closed", binary(t, "ordersd"), apptest.Merge(verifier(tp.authB),
		map[string]string{"KEYGATE_FAIL_CLOSED_AFTER": failClosed.String()}))
	for _, p := range tp.all() {
		apptest.Eventually(t, time.Minute, p.Name+" /ready answers 200 ok", func() bool {
			code, status := tp.c.ready(t, p.Admin)
			return code == http.StatusOK && status == "ok"
		})
	}
	return tp
}

func (tp *topology) all() []*proc {
	return []*proc{tp.authA, tp.authB, tp.ordersA, tp.ordersB, tp.closedB}
}

// containerID returns the id of the container whose first process is pid.
func containerID(t *testing.T, pid int) string {
	t.Helper()
	for _, id := range strings.Fields(run(t, "docker", "ps", "-q", "--no-trunc", "--filter", "label="+label)) {
		if strings.TrimSpace(run(t, "docker", "inspect", "-f", "{{.State.Pid}}", id)) == fmt.Sprint(pid) {
			return id
		}
	}
	t.Fatalf("region: no container of pid %d", pid)
	return ""
}

// sessions logs email in n times at region A's authd, four at a time, and checks that each
// token is accepted in region B before it is used: B knows the key and the session is live.
func (tp *topology) sessions(t *testing.T, email string, n int) []string {
	t.Helper()
	out, errs := make([]string, n), make([]string, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i := range out {
		wg.Go(func() { // t.Fatal belongs to the test's goroutine: failures are collected
			sem <- struct{}{}
			defer func() { <-sem }()
			r := tp.c.do(t, "POST", tp.authA.URL+"/login", "", credentials(email))
			var doc struct {
				AccessToken string `json:"access_token"`
			}
			if r.status != http.StatusOK || json.Unmarshal(r.body, &doc) != nil || doc.AccessToken == "" {
				errs[i] = r.String()
			}
			out[i] = doc.AccessToken
		})
	}
	wg.Wait()
	for _, e := range errs {
		if e != "" {
			t.Fatalf("login %s in A: %s", email, e)
		}
	}
	for _, at := range out {
		if r := tp.c.orders(t, tp.ordersB.URL, at); r.status != http.StatusOK {
			t.Fatalf("region B refuses a fresh token of region A: %s", r)
		}
	}
	return out
}

// TestTwoRegions: a logout in region A is refused by the verifiers of region B, whose
// revocations come from B's Redis replica across a WAN with latency and loss (the figure: how
// long after the logout); and a cut of the WAN loses no revocation: B's verifiers keep
// serving from their last-known set meanwhile and say how stale it is (the fail-closed one
// refuses once past its bound, and is not ready), logins in B answer 503 (their primary is
// across the cut), and when the link is back every logout made during the cut is refused in
// B, within seconds.
func TestTwoRegions(t *testing.T) {
	tp := startTopology(t)
	c := tp.c
	want := func(r reply, status int, what string) {
		t.Helper()
		if r.status != status {
			t.Fatalf("%s: %s, want %d", what, r, status)
		}
	}
	want(c.do(t, "POST", tp.authA.URL+"/register", "", credentials("alice@example.com")), http.StatusCreated, "register in A")
	// Registered in A, the user logs in in B too: one database.
	tp.c.login(t, tp.authB.URL, "alice@example.com")

	type level struct {
		delay time.Duration
		loss  float64
		n     int
	}
	levels := []level{{40 * time.Millisecond, 0.01, 30}}
	cut := 20 * time.Second
	if *figures {
		levels = []level{{40 * time.Millisecond, 0.01, 200}, {80 * time.Millisecond, 0.01, 200}}
		cut = 30 * time.Second
	}

	t.Run("a logout in A is refused in B", func(t *testing.T) {
		for _, lv := range levels {
			tp.wan.set(lv.delay, lv.loss)
			tokens := tp.sessions(t, "alice@example.com", lv.n)
			took := make([]time.Duration, 0, lv.n)
			for _, at := range tokens {
				start := time.Now()
				want(c.do(t, "POST", tp.authA.URL+"/logout", at, ""), http.StatusNoContent, "logout in A")
				for {
					r := c.orders(t, tp.ordersB.URL, at)
					if r.status == http.StatusUnauthorized {
						break
					}
					if r.status != http.StatusOK || time.Since(start) > 10*time.Second {
						t.Fatalf("region B, %v after a logout in A: %s, want 401 within 10s", time.Since(start), r)
					}
					time.Sleep(time.Millisecond)
				}
				took = append(took, time.Since(start))
			}
			t.Logf("WAN %v one way, %.0f%% loss: a logout in A refused in B after p50 %v, p99 %v, max %v (%d logouts; %d packets relayed, %d dropped)",
				lv.delay, lv.loss*100, apptest.Percentile(took, 0.5).Round(100*time.Microsecond), apptest.Percentile(took, 0.99).Round(100*time.Microsecond),
				apptest.Percentile(took, 1).Round(100*time.Microsecond), lv.n, tp.wan.relayed.Load(), tp.wan.dropped.Load())
			// The bound a user notices: eventual, not within one round trip when packets are
			// lost, but within seconds.
			if p := apptest.Percentile(took, 0.5); p < lv.delay {
				t.Errorf("p50 %v is below the one-way delay %v: the link does not delay", p, lv.delay)
			}
		}
	})
	if t.Failed() {
		return
	}

	t.Run("partition", func(t *testing.T) {
		lv := levels[0]
		tp.wan.set(lv.delay, lv.loss)
		kept := tp.c.login(t, tp.authA.URL, "alice@example.com")
		during := tp.sessions(t, "alice@example.com", 10)
		want(c.orders(t, tp.closedB.URL, kept), http.StatusOK, "fail-closed verifier in B before the cut")

		tp.wan.set(lv.delay, 1) // cut
		cutAt := time.Now()
		var refusedAt, staleAt, notReadyAt, degradedAt time.Duration
		loggedOut := 0
		loginB := false
		for time.Since(cutAt) < cut {
			since := time.Since(cutAt)
			// Logouts in A go on during the cut: A's stores are in A.
			if loggedOut < len(during) && since > time.Duration(loggedOut)*cut/(2*time.Duration(len(during))) {
				want(c.do(t, "POST", tp.authA.URL+"/logout", during[loggedOut], ""), http.StatusNoContent, "logout in A during the cut")
				loggedOut++
			}
			// Fail open: B's verifier keeps serving the token that is still valid.
			want(c.orders(t, tp.ordersB.URL, kept), http.StatusOK, "fail-open verifier in B during the cut, valid token")
			if staleAt == 0 && c.metric(t, tp.ordersB.Admin, "keygate_revocation_staleness_seconds") >= failClosed.Seconds() {
				staleAt = since
			}
			switch r := c.orders(t, tp.closedB.URL, kept); {
			case r.status == http.StatusServiceUnavailable && refusedAt == 0:
				refusedAt = since
			case r.status == http.StatusOK && refusedAt != 0:
				t.Fatalf("fail-closed verifier in B accepted a token again %v into the cut, after refusing at %v", since, refusedAt)
			case r.status != http.StatusOK && r.status != http.StatusServiceUnavailable:
				t.Fatalf("fail-closed verifier in B during the cut: %s, want 200 then 503", r)
			}
			if code, _ := c.ready(t, tp.closedB.Admin); code == http.StatusServiceUnavailable && notReadyAt == 0 {
				notReadyAt = since
			}
			// The fail-open one stays ready but, its set going stale, says it is degraded.
			switch code, status := c.ready(t, tp.ordersB.Admin); {
			case code != http.StatusOK:
				t.Fatalf("fail-open verifier in B answered /ready %d %v into the cut, want 200", code, since)
			case status == "degraded" && degradedAt == 0:
				degradedAt = since
			}
			if !loginB && since > cut/2 {
				// B's authd cannot reach its primary stores: a login answers 503, not 401.
				r := c.do(t, "POST", tp.authB.URL+"/login", "", credentials("alice@example.com"))
				if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
					t.Errorf("login in B during the cut: %s, want 503 with Retry-After", r)
				}
				loginB = true
			}
			time.Sleep(50 * time.Millisecond)
		}
		if degradedAt == 0 { // an iteration can take seconds (B's login waits on its primary)
			if code, status := c.ready(t, tp.ordersB.Admin); code == http.StatusOK && status == "degraded" {
				degradedAt = time.Since(cutAt)
			}
		}
		t.Logf("cut %v: the fail-open verifier in B reported a staleness >= %v after %v and /ready degraded after %v; the fail-closed one (bound %v) refused tokens after %v and was not ready after %v",
			cut, failClosed, staleAt.Round(100*time.Millisecond), degradedAt.Round(100*time.Millisecond), failClosed, refusedAt.Round(100*time.Millisecond), notReadyAt.Round(100*time.Millisecond))
		if staleAt == 0 || refusedAt == 0 || notReadyAt == 0 || degradedAt == 0 {
			t.Errorf("during a %v cut region B never showed it: staleness >= %v at %v, fail-open degraded at %v, fail-closed refusal at %v, not ready at %v (0: never)",
				cut, failClosed, staleAt, degradedAt, refusedAt, notReadyAt)
		}
		// What B could not know yet: the logouts made during the cut (the exposure a fail-open
		// verifier accepts, bounded by the cut and the access-token lifetime).
		exposed := 0
		for _, at := range during {
			if c.orders(t, tp.ordersB.URL, at).status == http.StatusOK {
				exposed++
			}
		}

		tp.wan.set(lv.delay, lv.loss) // restored
		caughtUp := apptest.Eventually(t, time.Minute, "every logout of the cut refused in B, and the fail-closed verifier serving again", func() bool {
			for _, at := range during {
				for _, v := range []*proc{tp.ordersB, tp.closedB} {
					if c.orders(t, v.URL, at).status != http.StatusUnauthorized {
						return false
					}
				}
			}
			return c.orders(t, tp.closedB.URL, kept).status == http.StatusOK
		})
		ready := apptest.Eventually(t, time.Minute, "region B ready again", func() bool {
			for _, p := range []*proc{tp.ordersB, tp.closedB, tp.authB} {
				if code, status := c.ready(t, p.Admin); code != http.StatusOK || status != "ok" {
					return false
				}
			}
			return true
		})
		t.Logf("after the link came back: %d logouts of the cut (%d still accepted by the fail-open verifier in B at its end) refused by both verifiers in B %v later; B ready %v later; none lost",
			len(during), exposed, caughtUp.Round(10*time.Millisecond), (caughtUp + ready).Round(10*time.Millisecond))
		want(c.orders(t, tp.ordersB.URL, kept), http.StatusOK, "the session not logged out, in B after the cut")
		tp.c.login(t, tp.authB.URL, "alice@example.com")
	})
}
