package topology_test

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/test/apptest"
	"github.com/keygate/keygate/test/containers"
)

// redisTopology is one authd (in-memory users, KEYGATE_DEV=1) and two ordersd, one failing
// open (the default) and one failing closed after failClosed, all on one Redis.
type redisTopology struct {
	redis              *containers.Redis
	auth, open, closed *proc
	c                  *client
}

const failClosed = 3 * time.Second

func startRedisTopology(t *testing.T) *redisTopology {
	t.Helper()
	// AOF, as the seed prescribes: what Redis acknowledged survives its restart.
	tp := &redisTopology{redis: containers.StartRedis(t, containers.WithAOF()), c: newClient(16)}
	tp.auth = startProc(t, "authd", binary(t, "authd"), apptest.Merge(authEnv(), redisEnv(tp.redis), map[string]string{
		"KEYGATE_DEV": "1",
	}))
	svc := apptest.Merge(redisEnv(tp.redis), map[string]string{"PORT": "0", "KEYGATE_ISSUER": tp.auth.Issuer})
	tp.open = startProc(t, "ordersd", binary(t, "ordersd"), svc)
	tp.closed = startProc(t, "ordersd-fail-closed", binary(t, "ordersd"), apptest.Merge(svc, map[string]string{
		"KEYGATE_FAIL_CLOSED_AFTER": failClosed.String(),
	}))
	tp.c.waitReady(t, 30*time.Second, tp.auth.URL, tp.open.URL, tp.closed.URL)
	return tp
}

// TestRedisOutage: with Redis stopped, the microservices keep serving valid tokens and keep
// refusing a token revoked before the outage (the fail-closed one answers 503 once its set is
// staler than KEYGATE_FAIL_CLOSED_AFTER); login and refresh answer 503 with Retry-After, never
// 401 or invalid_grant. When Redis is back everything recovers without a restart, and a
// revocation made then reaches the microservices at once.
func TestRedisOutage(t *testing.T) {
	tp := startRedisTopology(t)
	c, auth := tp.c, tp.auth.URL
	services := []*proc{tp.open, tp.closed}
	const password = "correct horse battery"
	kept := c.signup(t, auth, "alice@example.com", password)
	gone := tokensOf(t, c.login(t, auth, "alice@example.com", password), "second login")
	want(t, c.do(t, "POST", auth+"/logout", gone.access, nil), http.StatusNoContent, "logout")
	for _, s := range services {
		apptest.Eventually(t, time.Second, s.Name+" refuses the logged-out token", func() bool {
			return c.orders(t, s.URL, gone.access).status == http.StatusUnauthorized
		})
		want(t, c.orders(t, s.URL, kept.access), http.StatusOK, s.Name+" with a valid token")
	}

	tp.redis.Stop(t, 5*time.Second)
	down := time.Now()

	t.Run("microservices during the outage", func(t *testing.T) {
		// Fail-open serves the last-known set for as long as the outage lasts: check past the
		// fail-closed bound. The fail-closed one refuses once its set is staler than the bound;
		// the set was last known current at the last heartbeat (every 2s) before the stop.
		var closedAt time.Duration
		for time.Since(down) < failClosed+4*time.Second {
			want(t, c.orders(t, tp.open.URL, kept.access), http.StatusOK, "fail-open ordersd, valid token, Redis down")
			want(t, c.orders(t, tp.open.URL, gone.access), http.StatusUnauthorized, "fail-open ordersd, token revoked before the outage")
			if r := c.orders(t, tp.closed.URL, gone.access); r.status == http.StatusOK {
				t.Fatalf("fail-closed ordersd accepted a token revoked before the outage: %s", r)
			}
			r := c.orders(t, tp.closed.URL, kept.access)
			switch {
			case r.status == http.StatusOK && closedAt != 0:
				t.Fatalf("fail-closed ordersd accepted a valid token again after refusing it, Redis still down")
			case r.status == http.StatusOK:
			case r.status == http.StatusServiceUnavailable && closedAt == 0:
				closedAt = time.Since(down)
				wantUnavailable(t, r, "fail-closed ordersd past the bound")
			case r.status != http.StatusServiceUnavailable:
				t.Fatalf("fail-closed ordersd, valid token, Redis down: %s, want 200 then 503", r)
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("fail-closed ordersd answered 503 %v after the stop (KEYGATE_FAIL_CLOSED_AFTER %v)", closedAt.Round(100*time.Millisecond), failClosed)
		if closedAt == 0 || closedAt < failClosed-2*time.Second || closedAt > failClosed+time.Second+500*time.Millisecond {
			t.Errorf("fail-closed ordersd answered 503 %v after Redis stopped, want between %v and %v",
				closedAt, failClosed-2*time.Second, failClosed+1500*time.Millisecond)
		}
		if code, _, checks := c.ready(t, tp.closed.URL); code != http.StatusServiceUnavailable {
			t.Errorf("fail-closed ordersd past its bound: /ready %d %+v, want 503 (it refuses every token)", code, checks)
		}
		c.wantDegraded(t, tp.open.URL, "fail-open ordersd with Redis down", "revocation", "redis")
		for _, s := range services {
			if got := c.metric(t, s.URL, "keygate_revocation_feed_connected"); got != 0 {
				t.Errorf("%s: keygate_revocation_feed_connected %v during the outage, want 0", s.Name, got)
			}
			// The gauge is updated when the feed polls the store (every 5s), not when scraped.
			apptest.Eventually(t, 15*time.Second, s.Name+" reports a growing staleness", func() bool {
				return c.metric(t, s.URL, "keygate_revocation_staleness_seconds") >= float64(failClosed/time.Second)
			})
			t.Logf("%s: keygate_revocation_staleness_seconds >= %v %v after the stop", s.Name, failClosed,
				time.Since(down).Round(100*time.Millisecond))
		}
	})

	t.Run("authd during the outage", func(t *testing.T) {
		wantUnavailable(t, c.login(t, auth, "alice@example.com", password), "login with Redis down")
		wantUnavailable(t, c.login(t, auth, "alice@example.com", "a wrong password"), "failed login with Redis down")
		wantUnavailable(t, c.refresh(t, auth, kept.refresh), "refresh with Redis down")
		wantUnavailable(t, c.do(t, "POST", auth+"/logout", kept.access, nil), "logout with Redis down")
		c.wantDegraded(t, auth, "authd with Redis down", "redis")
	})
	if t.Failed() {
		return
	}

	tp.redis.Start(t)
	tp.redis.WaitReady(t, 30*time.Second)
	up := time.Now()
	for _, p := range []*proc{tp.auth, tp.open, tp.closed} {
		p.running(t)
	}

	t.Run("recovery without a restart", func(t *testing.T) {
		// The refresh token whose rotation failed during the outage is still good.
		var again tokens
		took := apptest.Eventually(t, 30*time.Second, "refresh answers 200 after Redis is back", func() bool {
			r := c.refresh(t, auth, kept.refresh)
			switch r.status {
			case http.StatusOK:
				again = tokensOf(t, r, "refresh after recovery")
				return true
			case http.StatusServiceUnavailable:
				return false
			}
			t.Fatalf("refresh after recovery with the token of before the outage: %s, want 200 (or 503 until ready)", r)
			return false
		})
		t.Logf("refresh answered 200 %v after Redis answered PING", took.Round(10*time.Millisecond))
		fresh := tokensOf(t, c.login(t, auth, "alice@example.com", password), "login after recovery")
		c.waitReady(t, 30*time.Second, auth, tp.open.URL, tp.closed.URL)
		t.Logf("every service ready %v after Redis answered PING", time.Since(up).Round(10*time.Millisecond))
		for _, s := range services {
			want(t, c.orders(t, s.URL, again.access), http.StatusOK, s.Name+" after recovery, refreshed token")
			want(t, c.orders(t, s.URL, gone.access), http.StatusUnauthorized, s.Name+" after recovery, token revoked before the outage")
		}
		// A revocation made now reaches both microservices within milliseconds, pushed.
		want(t, c.do(t, "POST", auth+"/logout", fresh.access, nil), http.StatusNoContent, "logout after recovery")
		start := time.Now()
		for _, s := range services {
			apptest.Eventually(t, 500*time.Millisecond, s.Name+" refuses a token logged out after recovery", func() bool {
				return c.orders(t, s.URL, fresh.access).status == http.StatusUnauthorized
			})
		}
		t.Logf("logout after recovery refused by both microservices within %v", time.Since(start).Round(time.Millisecond))
		want(t, c.orders(t, tp.open.URL, again.access), http.StatusOK, "the other session is untouched")
	})
}

// TestRateLimitAcrossReplicas: failed logins for one account from one client, spread over
// two authd replicas, count against one per-(account, client) limit kept in Redis: past it,
// both replicas refuse that client with 429 and Retry-After, though neither alone saw enough
// failures to trip a limit of its own. The owner, from another client, logs in on both; so
// does the owner once failures from two clients engage the account's brake (also counted
// in Redis), while the clients that failed are refused. Another account is not affected.
// authd trusts loopback as a proxy, so X-Forwarded-For names the client.
func TestRateLimitAcrossReplicas(t *testing.T) {
	const limit, brake = 4, 6
	r := containers.StartRedis(t)
	env := apptest.Merge(authEnv(), redisEnv(r), map[string]string{
		"KEYGATE_DEV":                    "1",
		"KEYGATE_TRUSTED_PROXIES":        "127.0.0.1/32,::1/128",
		"KEYGATE_LOGIN_FAILURES_CLIENT":  strconv.Itoa(limit) + "/1h",
		"KEYGATE_LOGIN_FAILURES_ACCOUNT": strconv.Itoa(brake) + "/1h",
		"KEYGATE_LOGIN_BRAKE_DELAY":      "100ms",
	})
	a := startProc(t, "authd-a", binary(t, "authd"), env)
	b := startProc(t, "authd-b", binary(t, "authd"), env)
	c := newClient(4)
	c.waitReady(t, 30*time.Second, a.URL, b.URL)
	replicas := []*proc{a, b}

	const victim, password = "victim@example.com", "correct horse battery"
	const attacker, second, owner = "198.51.100.1", "198.51.100.2", "203.0.113.20"
	for _, p := range replicas { // users are in each replica's memory (no database here)
		want(t, c.register(t, p.URL, victim, password), http.StatusCreated, "register the victim on "+p.Name)
	}
	for i := range limit {
		p := replicas[i%2]
		want(t, c.loginFrom(t, p.URL, attacker, victim, fmt.Sprintf("wrong password %d", i)), http.StatusUnauthorized,
			fmt.Sprintf("failed login %d of %d on %s", i+1, limit, p.Name))
	}
	for i, p := range []*proc{a, b, b, a} {
		pw := fmt.Sprintf("wrong password again %d", i)
		if i == 3 {
			pw = password
		}
		r := c.loginFrom(t, p.URL, attacker, victim, pw)
		if r.status != http.StatusTooManyRequests {
			t.Fatalf("login %d past the shared limit of %d on %s: %s, want 429", limit+i+1, limit, p.Name, r)
		}
		ra, err := strconv.Atoi(r.header.Get("Retry-After"))
		if err != nil || ra < 1 || ra > 3600 {
			t.Errorf("%s: 429 with Retry-After %q, want 1..3600 seconds", p.Name, r.header.Get("Retry-After"))
		}
	}
	for _, p := range replicas {
		want(t, c.loginFrom(t, p.URL, owner, victim, password), http.StatusOK, "the owner from another client on "+p.Name)
		want(t, c.loginFrom(t, p.URL, attacker, "bystander@example.com", "wrong password"), http.StatusUnauthorized,
			"another account from the locked client on "+p.Name)
	}

	// Failures from a second client, one per replica: six for the account, the brake is on.
	for i, p := range replicas {
		want(t, c.loginFrom(t, p.URL, second, victim, fmt.Sprintf("second client %d", i)), http.StatusUnauthorized,
			"second client's failed login on "+p.Name)
	}
	for _, p := range replicas {
		want(t, c.loginFrom(t, p.URL, second, victim, password), http.StatusTooManyRequests,
			"a client that failed, brake on, on "+p.Name)
		want(t, c.loginFrom(t, p.URL, owner, victim, password), http.StatusOK, "the owner, brake on, on "+p.Name)
	}
}

// loginFrom logs in as the client at ip, which authd believes from X-Forwarded-For when it
// trusts loopback as a proxy.
func (c *client) loginFrom(t *testing.T, base, ip, email, password string) reply {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "POST", base+"/login", strings.NewReader(credentials(email, password)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", ip)
	resp, err := c.http.Do(req)
	if err != nil {
		return reply{err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{err: err}
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: body}
}

// TestRedisPause: Redis freezes (docker pause: connections stay open, nothing answers) past
// the clients' timeouts. ordersd keeps serving valid tokens; login and refresh answer 503 with
// Retry-After within a few seconds instead of hanging; and a client that retries its refresh
// after Redis resumes is not taken for a thief, even though its first attempt may have reached
// Redis and run there late.
func TestRedisPause(t *testing.T) {
	const grace = time.Second
	r := containers.StartRedis(t)
	auth := startProc(t, "authd", binary(t, "authd"), apptest.Merge(authEnv(), redisEnv(r), map[string]string{
		"KEYGATE_DEV": "1", "KEYGATE_REFRESH_GRACE": grace.String(),
	}))
	orders := startProc(t, "ordersd", binary(t, "ordersd"), apptest.Merge(redisEnv(r), map[string]string{
		"PORT": "0", "KEYGATE_ISSUER": auth.Issuer,
	}))
	c := newClient(4)
	c.waitReady(t, 30*time.Second, auth.URL, orders.URL)
	const password = "correct horse battery"
	tok := c.signup(t, auth.URL, "paula@example.com", password)

	r.Pause(t)
	paused := true
	t.Cleanup(func() {
		if paused {
			r.Unpause(t)
		}
	})
	want(t, c.orders(t, orders.URL, tok.access), http.StatusOK, "ordersd with Redis paused")
	start := time.Now()
	wantUnavailable(t, c.refresh(t, auth.URL, tok.refresh), "refresh with Redis paused")
	t.Logf("refresh answered 503 after %v with Redis paused", time.Since(start).Round(10*time.Millisecond))
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("refresh with Redis paused took %v to answer, want a few seconds at most", took)
	}
	wantUnavailable(t, c.login(t, auth.URL, "paula@example.com", password), "login with Redis paused")
	time.Sleep(grace + time.Second) // the client waits (less than Retry-After, more than the grace window)
	r.Unpause(t)
	paused = false

	var next tokens
	took := apptest.Eventually(t, 30*time.Second, "refresh with the same token answers after Redis resumes", func() bool {
		got := c.refresh(t, auth.URL, tok.refresh)
		switch got.status {
		case http.StatusServiceUnavailable:
			return false
		case http.StatusOK:
			next = tokensOf(t, got, "refresh after the pause")
			return true
		}
		t.Fatalf("the client's retry of a refresh that got 503 while Redis was paused: %s, want 200: "+
			"the user is logged out by an outage", got)
		return false
	})
	t.Logf("refresh answered 200 %v after Redis resumed", took.Round(10*time.Millisecond))
	want(t, c.orders(t, orders.URL, next.access), http.StatusOK, "ordersd, token refreshed after the pause")
}
