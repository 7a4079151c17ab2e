package topology_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate/adapters/argon2"
	"github.com/keygate/keygate/test/apptest"
	"github.com/keygate/keygate/test/containers"
)

// profile is one way to run authd for a figure: its environment, made on demand.
type profile struct {
	name string
	env  func(t *testing.T) map[string]string
}

// figureProfiles are memory (KEYGATE_DEV=1, nothing else), Redis with in-memory users, and
// Redis with each database. The processes reach the servers at their container addresses, as
// pods would, not through Docker's userland proxy; Redis runs without persistence.
func figureProfiles(withDatabases bool) []profile {
	redis := func(t *testing.T) map[string]string {
		r := containers.StartRedis(t)
		figureRedis.Store(t, r)
		t.Cleanup(func() { figureRedis.Delete(t) })
		return map[string]string{"REDIS_ADDR": r.ContainerAddr}
	}
	ps := []profile{
		{"memory", func(*testing.T) map[string]string { return map[string]string{"KEYGATE_DEV": "1"} }},
		{"redis (dev users)", func(t *testing.T) map[string]string {
			return apptest.Merge(redis(t), map[string]string{"KEYGATE_DEV": "1"})
		}},
	}
	if !withDatabases {
		return ps
	}
	for _, f := range flavors {
		ps = append(ps, profile{"redis + " + f.name, func(t *testing.T) map[string]string {
			db := f.start(t)
			return apptest.Merge(redis(t), db.env, db.direct(t), map[string]string{"KEYGATE_MIGRATE": "1"})
		}})
	}
	return ps
}

// figureRedis holds the Redis a profile's env started, by test, for its CPU time.
var figureRedis sync.Map // *testing.T -> *containers.Redis

// cpuOf returns a function that reads the CPU time (user + system, all threads) used so far by
// authd and, in a Redis profile, by the redis-server the profile started (its container's
// first process, seen from the host's /proc).
func cpuOf(t *testing.T, authd *proc) func() (authdCPU, redisCPU time.Duration) {
	t.Helper()
	redisPid := 0
	if r, ok := figureRedis.Load(t); ok {
		st, err := r.(*containers.Redis).State(t.Context())
		if err != nil {
			t.Fatalf("redis container state: %v", err)
		}
		redisPid = st.Pid
	}
	return func() (time.Duration, time.Duration) {
		a := procCPU(t, authd.Cmd.Process.Pid)
		if redisPid == 0 {
			return a, 0
		}
		return a, procCPU(t, redisPid)
	}
}

// procCPU reads utime + stime of pid from /proc/<pid>/stat.
func procCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	f, err := procStat(pid)
	if err != nil {
		t.Fatalf("cpu time of %d: %v", pid, err)
	}
	d, err := statCPU(f, statUtime, statStime)
	if err != nil {
		t.Fatalf("cpu time of %d: %v", pid, err)
	}
	return d
}

// Indexes in procStat's fields: the parent's pid (field 4 of /proc/<pid>/stat), utime (14),
// stime (15), and the CPU time of the children the process has waited for, cutime (16) and
// cstime (17).
const (
	statPpid   = 1
	statUtime  = 11
	statStime  = 12
	statCutime = 13
	statCstime = 14
)

// procStat returns the fields of /proc/<pid>/stat after the command name (in parentheses,
// which may hold spaces), from the state (field 3) on.
func procStat(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) <= statCstime {
		return nil, fmt.Errorf("short /proc/%d/stat: %q", pid, b)
	}
	return f, nil
}

// statCPU sums the fields of f at the indexes, clock ticks of 10 ms.
func statCPU(f []string, indexes ...int) (time.Duration, error) {
	var ticks int64
	for _, i := range indexes {
		n, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("field %d of stat: %w", i+3, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

// startFigureAuthd starts one authd of profile p and waits until it is ready.
func startFigureAuthd(t *testing.T, p profile, extra map[string]string) (*proc, *client) {
	t.Helper()
	if !*figures {
		t.Skip("measures figures; run with -figures")
	}
	a := startProc(t, "authd", binary(t, "authd"), apptest.Merge(authEnv(), p.env(t), map[string]string{"KEYGATE_LOG_LEVEL": "info"}, extra))
	c := newClient(128)
	c.waitReady(t, 60*time.Second, a.URL)
	return a, c
}

// stats summarises latencies.
type stats struct {
	n        int
	errors   int
	p50, p99 time.Duration
	max      time.Duration
	rate     float64 // successful requests per second
}

func summarise(lat []time.Duration, errors int, elapsed time.Duration) stats {
	slices.Sort(lat)
	s := stats{n: len(lat), errors: errors}
	if len(lat) == 0 {
		return s
	}
	p := func(q float64) time.Duration { return lat[int(q*float64(len(lat)-1)+0.5)] }
	s.p50, s.p99, s.max = p(0.50), p(0.99), lat[len(lat)-1]
	s.rate = float64(len(lat)) / elapsed.Seconds()
	return s
}

func (s stats) String() string {
	r := func(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }
	return fmt.Sprintf("n %d, %.0f/s, p50 %v, p99 %v, max %v, errors %d", s.n, s.rate, r(s.p50), r(s.p99), r(s.max), s.errors)
}

// report prints a figure line to the test log and stdout.
func report(t *testing.T, format string, args ...any) {
	t.Helper()
	line := fmt.Sprintf(format, args...)
	t.Log(line)
	fmt.Println(line)
}

// load runs workers concurrent clients for d (after a warm-up of a tenth of d, not counted);
// each calls op(worker) in a loop, which returns whether the request succeeded.
func load(workers int, d time.Duration, op func(worker int) bool) stats {
	var mu sync.Mutex
	var lat []time.Duration
	errs := 0
	start := time.Now()
	from, until := start.Add(d/10), start.Add(d/10+d)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			var mine []time.Duration
			bad := 0
			for {
				t0 := time.Now()
				if t0.After(until) {
					break
				}
				ok := op(w)
				if t0.Before(from) {
					continue
				}
				if ok {
					mine = append(mine, time.Since(t0))
				} else {
					bad++
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			errs += bad
			mu.Unlock()
		})
	}
	wg.Wait()
	return summarise(lat, errs, time.Since(from))
}

// TestFigureRefresh measures the refresh throughput of one authd on Redis (with in-memory
// users, and with each database, which a refresh reads the user from) and, for comparison, in
// memory: N clients, each refreshing its own session in a loop, for 5 s per N. With each it
// reports the server CPU per refresh (issue 9: authd ~300 us + Redis ~84 us before): the CPU
// time authd and redis-server used over the run (warm-up included) by the refreshes that
// succeeded in it.
func TestFigureRefresh(t *testing.T) {
	if !*figures {
		t.Skip("measures figures; run with -figures")
	}
	for _, p := range figureProfiles(true) {
		t.Run(p.name, func(t *testing.T) {
			a, c := startFigureAuthd(t, p, nil)
			levels := []int{1, 4, 16, 64}
			chains := refreshChains(t, c, a.URL, slices.Max(levels))
			for _, n := range levels {
				s, authdCPU, redisCPU := measureRefresh(t, a, c, chains[:n], 5*time.Second)
				report(t, "refresh, %s, %d clients: %v; CPU per refresh: authd %v, redis %v", p.name, n, s, authdCPU, redisCPU)
				if s.errors > 0 {
					t.Errorf("%d refreshes failed", s.errors)
				}
			}
		})
	}
}

// refreshChains registers a user on the authd at base and logs it in n times: n sessions,
// each the start of a chain of refreshes.
func refreshChains(t *testing.T, c *client, base string, n int) []string {
	t.Helper()
	const password = "correct horse battery"
	want(t, c.register(t, base, "bench@example.com", password), http.StatusCreated, "register")
	chains := make([]string, n)
	for i := range chains {
		chains[i] = tokensOf(t, c.login(t, base, "bench@example.com", password), "login").refresh
	}
	return chains
}

// measureRefresh runs one client per chain for d (see load), each refreshing its chain on
// authd a and keeping the new refresh token in chains. It returns the load's stats and the CPU
// time authd and redis-server (in a Redis profile; see cpuOf) used over the run, warm-up
// included, per refresh that succeeded in it.
func measureRefresh(t *testing.T, a *proc, c *client, chains []string, d time.Duration) (s stats, authdCPU, redisCPU time.Duration) {
	t.Helper()
	return measureChains(chains, d, cpuOf(t, a), func(rt string) reply { return c.refresh(t, a.URL, rt) })
}

// measureChains runs one client per chain for d (see load), each sending refresh with its
// chain's token and keeping the refresh_token of a 200 answer. It returns the load's stats
// and the CPU time of the two processes cpu reads, over the run, per refresh that succeeded.
func measureChains(chains []string, d time.Duration, cpu func() (time.Duration, time.Duration), refresh func(rt string) reply) (s stats, cpuA, cpuB time.Duration) {
	var done atomic.Int64
	a0, b0 := cpu()
	s = load(len(chains), d, func(w int) bool {
		r := refresh(chains[w])
		if r.status != http.StatusOK {
			return false
		}
		var body struct {
			RefreshToken string `json:"refresh_token"`
		}
		if json.Unmarshal(r.body, &body) != nil || body.RefreshToken == "" {
			return false
		}
		chains[w] = body.RefreshToken
		done.Add(1)
		return true
	})
	a1, b1 := cpu()
	return s, perRefresh(a1-a0, done.Load()), perRefresh(b1-b0, done.Load())
}

// perRefresh divides the CPU time d among n refreshes.
func perRefresh(d time.Duration, n int64) time.Duration {
	return (d / time.Duration(max(n, 1))).Round(time.Microsecond)
}

// TestFigureLatency measures register and login latency over HTTP, one request at a time, on
// each profile, and the argon2id hash alone in this process: what remains is HTTP, the stores
// and the database.
func TestFigureLatency(t *testing.T) {
	if !*figures {
		t.Skip("measures figures; run with -figures")
	}
	h, err := argon2.New(argon2.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var hashes []time.Duration
	began := time.Now()
	for range 30 {
		t0 := time.Now()
		if _, err := h.Hash(t.Context(), "correct horse battery"); err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, time.Since(t0))
	}
	report(t, "argon2id hash alone (in process, default cost): %v", summarise(hashes, 0, time.Since(began)))

	const n = 100
	for _, p := range figureProfiles(true) {
		t.Run(p.name, func(t *testing.T) {
			a, c := startFigureAuthd(t, p, nil)
			const password = "correct horse battery"
			var reg, login []time.Duration
			began := time.Now()
			for i := range n {
				t0 := time.Now()
				want(t, c.register(t, a.URL, fmt.Sprintf("user%d@example.com", i), password), http.StatusCreated, "register")
				reg = append(reg, time.Since(t0))
			}
			regTook, began := time.Since(began), time.Now()
			for i := range n {
				t0 := time.Now()
				want(t, c.login(t, a.URL, fmt.Sprintf("user%d@example.com", i), password), http.StatusOK, "login")
				login = append(login, time.Since(t0))
			}
			report(t, "register, %s, sequential: %v", p.name, summarise(reg, 0, regTook))
			report(t, "login,    %s, sequential: %v", p.name, summarise(login, 0, time.Since(began)))
		})
	}
}

// TestFigureLoginConcurrency steps the number of concurrent logins on one authd (1, 2, 4, ...
// 32) on each profile and reports p99 at each step, and the first step whose p99 is at least
// twice that of one client. authd bounds concurrent hashes (KEYGATE_HASH_CONCURRENCY, default
// GOMAXPROCS) and queues 8x as many; more wait for a slot or get 503.
func TestFigureLoginConcurrency(t *testing.T) {
	if !*figures {
		t.Skip("measures figures; run with -figures")
	}
	for _, p := range figureProfiles(true) {
		t.Run(p.name, func(t *testing.T) {
			a, c := startFigureAuthd(t, p, nil)
			const password = "correct horse battery"
			const users = 32
			for i := range users {
				want(t, c.register(t, a.URL, fmt.Sprintf("user%d@example.com", i), password), http.StatusCreated, "register")
			}
			var base time.Duration
			doubled := 0
			var lines []string
			for _, n := range []int{1, 2, 4, 8, 16, 32} {
				var mu sync.Mutex
				refused := map[string]int{} // status and Retry-After of the failures
				s := load(n, 4*time.Second, func(w int) bool {
					r := c.login(t, a.URL, fmt.Sprintf("user%d@example.com", w), password)
					if r.status != http.StatusOK {
						mu.Lock()
						refused[fmt.Sprintf("%d (Retry-After %q)", r.status, r.header.Get("Retry-After"))]++
						mu.Unlock()
					}
					return r.status == http.StatusOK
				})
				if n == 1 {
					base = s.p99
				}
				if doubled == 0 && n > 1 && s.p99 >= 2*base {
					doubled = n
				}
				lines = append(lines, fmt.Sprintf("%d: %v", n, s))
				report(t, "login, %s, %d concurrent: %v; failures %v", p.name, n, s, refused)
			}
			report(t, "login, %s: p99 doubles (from %v with one client) at %d concurrent logins\n  %s",
				p.name, base.Round(10*time.Microsecond), doubled, strings.Join(lines, "\n  "))
		})
	}
}
