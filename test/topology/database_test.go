package topology_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keygate/keygate/test/apptest"
	"github.com/keygate/keygate/test/containers"
)

// database is one SQL server in a container with a fresh database for a topology.
type database struct {
	flavor string
	env    map[string]string // DB_* settings of the fresh database
	stop   func(t *testing.T)
	start  func(t *testing.T) // and wait until it answers
	fresh  func(t *testing.T) map[string]string
	direct func(t *testing.T) map[string]string // DB_HOST and DB_PORT of the container's own address
}

// directAddr returns DB_HOST and DB_PORT for c's own address on the Docker network.
func directAddr(c *containers.Container, port string) func(t *testing.T) map[string]string {
	return func(t *testing.T) map[string]string {
		ip, err := c.ContainerIP(t.Context())
		if err != nil {
			t.Fatalf("container address: %v", err)
		}
		return map[string]string{"DB_HOST": ip, "DB_PORT": port}
	}
}

// flavors are the servers every database test runs on: MariaDB (the testbed image) and
// PostgreSQL always; MySQL 8 when its image can be had (test/containers decides).
var flavors = []struct {
	name  string
	start func(t *testing.T) *database
}{
	{"mariadb", func(t *testing.T) *database { return mysqlDatabase(t, containers.StartMariaDB(t)) }},
	{"postgres", startPostgres},
	{"mysql8", func(t *testing.T) *database { return mysqlDatabase(t, containers.StartMySQL(t)) }},
}

func mysqlDatabase(t *testing.T, m *containers.MySQL) *database {
	t.Helper()
	fresh := func(t *testing.T) map[string]string {
		// DB_DRIVER left unset: mysql is the default.
		return map[string]string{"DB_HOST": m.Host, "DB_PORT": strconv.Itoa(m.Port), "DB_USER": m.User,
			"DB_PASSWORD": m.Password, "DB_NAME": m.CreateDatabase(t)}
	}
	return &database{flavor: m.Flavor, env: fresh(t), fresh: fresh, direct: directAddr(m.Container, "3306"),
		stop:  func(t *testing.T) { m.Stop(t, 10*time.Second) },
		start: func(t *testing.T) { m.Start(t); m.WaitReady(t, 2*time.Minute) },
	}
}

func startPostgres(t *testing.T) *database {
	t.Helper()
	p := containers.StartPostgres(t)
	fresh := func(t *testing.T) map[string]string {
		return map[string]string{"DB_DRIVER": "postgres", "DB_HOST": p.Host, "DB_PORT": strconv.Itoa(p.Port),
			"DB_USER": p.User, "DB_PASSWORD": p.Password, "DB_NAME": p.CreateDatabase(t)}
	}
	return &database{flavor: "postgres", env: fresh(t), fresh: fresh, direct: directAddr(p.Container, "5432"),
		stop:  func(t *testing.T) { p.Stop(t, 10*time.Second) },
		start: func(t *testing.T) { p.Start(t); p.WaitReady(t, 2*time.Minute) },
	}
}

// dbTopology is two authd replicas on one database and one Redis behind a round-robin
// balancer (the issuer), and ordersd trusting that issuer.
type dbTopology struct {
	db     *database
	redis  *containers.Redis
	env    map[string]string // authd's whole environment (keygatectl gets it too)
	lb     *balancer
	a, b   *proc
	orders *proc
	c      *client
}

// jwksMaxAge is the shortest JWKS cache lifetime that makes sense here: authd publishes a
// rotated key 2x this (at least a minute) before it signs.
const jwksMaxAge = 30 * time.Second

// refreshGrace is the same-successor retry window: short, so that the database outage test
// can retry a refresh after it has closed.
const refreshGrace = 2 * time.Second

// startDBTopology starts the two replicas at once on db's empty database, both with
// KEYGATE_MIGRATE=1 (as a deployment rolling out two pods would), then ordersd.
func startDBTopology(t *testing.T, db *database) *dbTopology {
	t.Helper()
	tp := &dbTopology{db: db, redis: containers.StartRedis(t, containers.WithAOF()), c: newClient(32)}
	tp.lb = newBalancer(t)
	tp.env = apptest.Merge(authEnv(), redisEnv(tp.redis), db.env, map[string]string{
		"KEYGATE_ISSUER":        tp.lb.URL,
		"KEYGATE_JWKS_MAX_AGE":  jwksMaxAge.String(),
		"KEYGATE_REFRESH_GRACE": refreshGrace.String(),
	})
	migrate := apptest.Merge(tp.env, map[string]string{"KEYGATE_MIGRATE": "1"})
	tp.a = spawn(t, "authd-a", binary(t, "authd"), migrate)
	tp.b = spawn(t, "authd-b", binary(t, "authd"), migrate)
	tp.a.waitServing(t)
	tp.b.waitServing(t)
	tp.lb.set(t, tp.a, tp.b)
	tp.orders = startProc(t, "ordersd", binary(t, "ordersd"), apptest.Merge(redisEnv(tp.redis), map[string]string{
		"PORT": "0", "KEYGATE_ISSUER": tp.lb.URL,
	}))
	tp.c.waitReady(t, 60*time.Second, tp.a.URL, tp.b.URL, tp.orders.URL)
	return tp
}

// ctl runs keygatectl with authd's environment.
func (tp *dbTopology) ctl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := runCmd(t, binary(t, "keygatectl"), tp.env, args...)
	if err != nil {
		t.Fatalf("keygatectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// TestDatabases runs, on each database, two authd replicas on that database and one Redis,
// with ordersd verifying their tokens. It checks, as a user would see it: migrations with
// keygatectl (from empty, then again); both replicas publish the same JWKS; a key rotated with
// keygatectl is published by both at once, reaches ordersd through the key-change event, and
// signs tokens on both replicas once its lead has passed, which ordersd accepts, all without
// a restart; a token issued by one replica refreshes on the other; concurrent registration of
// one e-mail address (in several spellings) over both replicas yields one 201 and 409s; with
// the database stopped ordersd still accepts valid tokens, login and registration answer 503,
// /ready names the database, and after the restart everything recovers without restarting
// authd.
func TestDatabases(t *testing.T) {
	for _, f := range flavors {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			tp := startDBTopology(t, f.start(t))
			testDatabase(t, tp)
		})
	}
}

func testDatabase(t *testing.T, tp *dbTopology) {
	c, a, b, orders := tp.c, tp.a.URL, tp.b.URL, tp.orders.URL
	const password = "correct horse battery"
	old := c.signup(t, tp.lb.URL, "olga@example.com", password)
	oldKid := kidOf(t, old.access)

	// Everything below runs while the rotated key's lead passes; the last subtest waits for
	// what remains of it.
	var rotated time.Time
	var newKid string
	t.Run("rotation is published by both replicas and reaches ordersd", func(t *testing.T) {
		before := c.jwks(t, a)
		pushes := c.metric(t, orders, "keygate_jwks_fetches_total", `trigger="push"`)
		rotated = time.Now()
		out := tp.ctl(t, "keygatectl", "keys", "rotate")
		t.Logf("keygatectl keys rotate:\n%s", strings.TrimSpace(out))
		var ja, jb jwks
		took := apptest.Eventually(t, 5*time.Second, "both replicas publish one more key, the same JWKS", func() bool {
			ja, jb = c.jwks(t, a), c.jwks(t, b)
			return len(ja.kids) == len(before.kids)+1 && slices.Equal(ja.kids, jb.kids)
		})
		t.Logf("both replicas published the new key %v after keygatectl returned", took.Round(time.Millisecond))
		checkSameJWKS(t, ja, jb)
		for _, k := range ja.kids {
			if !slices.Contains(before.kids, k) {
				newKid = k
			}
		}
		if !slices.Contains(ja.kids, oldKid) {
			t.Errorf("the JWKS after rotation %v no longer lists the signing key %s", ja.kids, oldKid)
		}
		apptest.Eventually(t, 5*time.Second, "ordersd refetches the JWKS on the key-change event", func() bool {
			return c.metric(t, orders, "keygate_jwks_fetches_total", `trigger="push"`) > pushes
		})
		// The new key is published ahead of signing: tokens issued now still carry the old kid.
		now := tokensOf(t, c.login(t, b, "olga@example.com", password), "login right after rotation")
		if got := kidOf(t, now.access); got != oldKid {
			t.Errorf("a token issued right after rotation is signed by %s, want the old key %s (the new one signs after its lead)", got, oldKid)
		}
		want(t, c.orders(t, orders, now.access), http.StatusOK, "ordersd, token issued right after rotation")
	})

	t.Run("migrations", func(t *testing.T) {
		testMigrations(t, tp)
	})

	t.Run("identical JWKS", func(t *testing.T) {
		checkSameJWKS(t, c.jwks(t, a), c.jwks(t, b))
	})

	t.Run("a token issued by one replica refreshes on the other", func(t *testing.T) {
		p := tokensOf(t, c.login(t, a, "olga@example.com", password), "login on A")
		q := tokensOf(t, c.refresh(t, b, p.refresh), "refresh on B of a token issued by A")
		r := tokensOf(t, c.refresh(t, a, q.refresh), "refresh on A of a token issued by B")
		for i, at := range []string{p.access, q.access, r.access} {
			want(t, c.orders(t, orders, at), http.StatusOK, fmt.Sprintf("ordersd, access token %d of the chain", i+1))
		}
		// The replaced token, outside the grace window, is reuse on either replica.
		time.Sleep(refreshGrace + 500*time.Millisecond)
		if got := c.refresh(t, b, p.refresh); got.status != http.StatusBadRequest || got.code() != "invalid_grant" {
			t.Errorf("reuse of a rotated refresh token on B: %s, want 400 invalid_grant", got)
		}
		apptest.Eventually(t, time.Second, "ordersd refuses the session's tokens after reuse", func() bool {
			return c.orders(t, orders, r.access).status == http.StatusUnauthorized
		})
	})

	t.Run("concurrent registration of one address", func(t *testing.T) {
		// Spellings of one address: case, and NFC against NFD.
		spellings := []string{"José@Example.com", "jose\u0301@example.com", "JOSÉ@EXAMPLE.COM", "jos\u00e9@example.COM"}
		const n = 12
		statuses := make([]int, n)
		var wg sync.WaitGroup
		for i := range n {
			base := []string{a, b}[i%2]
			wg.Go(func() {
				r := c.register(t, base, spellings[i%len(spellings)], password)
				statuses[i] = r.status
				if r.status != http.StatusCreated && r.status != http.StatusConflict {
					t.Errorf("register %q: %s", spellings[i%len(spellings)], r)
				}
			})
		}
		wg.Wait()
		count := map[int]int{}
		for _, s := range statuses {
			count[s]++
		}
		if diff := cmp.Diff(map[int]int{http.StatusCreated: 1, http.StatusConflict: n - 1}, count); diff != "" {
			t.Errorf("statuses of %d concurrent registrations of one address (-want +got):\n%s", n, diff)
		}
		for _, s := range spellings {
			tokensOf(t, c.login(t, tp.lb.URL, s, password), "login as "+s)
		}
	})

	t.Run("database outage", func(t *testing.T) {
		u := c.signup(t, a, "dora@example.com", password)
		pending := tokensOf(t, c.login(t, b, "dora@example.com", password), "second session")
		tp.db.stop(t)
		want(t, c.orders(t, orders, u.access), http.StatusOK, "ordersd with the database down")
		for _, p := range []*proc{tp.a, tp.b} {
			wantUnavailable(t, c.login(t, p.URL, "dora@example.com", password), p.Name+": login with the database down")
			wantUnavailable(t, c.register(t, p.URL, "newcomer@example.com", password), p.Name+": register with the database down")
			c.wantDegraded(t, p.URL, p.Name+" with the database down", "database", "mysql", "mariadb", "postgres")
		}
		// A refresh now cannot finish (the user is read from the database): 503, and the
		// client keeps its token and retries later.
		wantUnavailable(t, c.refresh(t, a, pending.refresh), "refresh with the database down")
		time.Sleep(refreshGrace + 500*time.Millisecond)
		want(t, c.orders(t, orders, u.access), http.StatusOK, "ordersd, seconds into the database outage")
		tp.db.start(t)
		for _, p := range []*proc{tp.a, tp.b, tp.orders} {
			p.running(t)
		}
		took := apptest.Eventually(t, 60*time.Second, "login answers 200 on both replicas after the database is back", func() bool {
			for _, p := range []*proc{tp.a, tp.b} {
				r := c.login(t, p.URL, "dora@example.com", password)
				if r.status == http.StatusOK {
					continue
				}
				if r.status != http.StatusServiceUnavailable {
					t.Fatalf("%s: login after the database is back: %s, want 200 (or 503 until reconnected)", p.Name, r)
				}
				return false
			}
			return true
		})
		t.Logf("login answered 200 on both replicas %v after the database answered", took.Round(10*time.Millisecond))
		c.waitReady(t, 30*time.Second, a, b, orders)
		want(t, c.register(t, b, "newcomer@example.com", password), http.StatusCreated, "register after recovery")
		// The client that got 503 retries with the same refresh token: it must not be taken
		// for reuse (which would log the user out).
		r := c.refresh(t, a, pending.refresh)
		if r.status != http.StatusOK {
			t.Errorf("refresh after recovery with the token whose refresh got 503 during the outage: %s, want 200 "+
				"(the session must not be rotated by a refresh that failed)", r)
		}
		want(t, c.orders(t, orders, u.access), http.StatusOK, "ordersd after recovery, token of before the outage")
		after := tokensOf(t, c.login(t, tp.lb.URL, "newcomer@example.com", password), "login after recovery")
		want(t, c.orders(t, orders, after.access), http.StatusOK, "ordersd after recovery, token issued after it")
	})

	t.Run("rotated key signs on both replicas and ordersd accepts its tokens", func(t *testing.T) {
		if newKid == "" {
			t.Fatal("no rotated key: see the rotation subtest")
		}
		session := tokensOf(t, c.login(t, a, "olga@example.com", password), "login")
		// The lead is 2 x KEYGATE_JWKS_MAX_AGE, at least a minute: wait for it, refreshing.
		lead := max(2*jwksMaxAge, time.Minute)
		t.Logf("waiting %v for the rotated key to sign", time.Until(rotated.Add(lead)).Round(time.Second))
		var got tokens
		apptest.Eventually(t, time.Until(rotated.Add(lead+20*time.Second)), "tokens are signed by the rotated key", func() bool {
			got = tokensOf(t, c.refresh(t, tp.lb.URL, session.refresh), "refresh")
			session = got
			if kidOf(t, got.access) == newKid {
				return true
			}
			time.Sleep(500 * time.Millisecond)
			return false
		})
		fromB := tokensOf(t, c.login(t, b, "olga@example.com", password), "login on B after activation")
		fromA := tokensOf(t, c.login(t, a, "olga@example.com", password), "login on A after activation")
		for _, r := range []struct {
			name string
			tok  tokens
		}{{"B", fromB}, {"A", fromA}} {
			if k := kidOf(t, r.tok.access); k != newKid {
				t.Errorf("replica %s signs with %s after activation, want the rotated key %s", r.name, k, newKid)
			}
			want(t, c.orders(t, orders, r.tok.access), http.StatusOK, "ordersd, token of replica "+r.name+" signed by the rotated key")
		}
		want(t, c.orders(t, orders, old.access), http.StatusOK, "ordersd, token signed by the previous key")
		ja, jb := c.jwks(t, a), c.jwks(t, b)
		checkSameJWKS(t, ja, jb)
		if !slices.Contains(ja.kids, oldKid) {
			t.Errorf("the previous key %s is no longer published (%v) though its tokens live", oldKid, ja.kids)
		}
		for _, p := range []*proc{tp.a, tp.b, tp.orders} {
			p.running(t)
		}
	})
}

// checkSameJWKS fails t unless two replicas published the same document and ETag.
func checkSameJWKS(t *testing.T, a, b jwks) {
	t.Helper()
	if diff := cmp.Diff(a.kids, b.kids); diff != "" {
		t.Errorf("the replicas publish different keys (-A +B):\n%s", diff)
	}
	if string(a.body) != string(b.body) {
		t.Errorf("the replicas publish different JWKS documents:\nA %s\nB %s", a.body, b.body)
	}
	if a.etag == "" || a.etag != b.etag {
		t.Errorf("JWKS ETags A %q, B %q: want one, the same", a.etag, b.etag)
	}
}

// databaseURL turns DB_* parts into a DATABASE_URL setting: a postgres:// URL, or a
// go-sql-driver DSN for MySQL.
func databaseURL(flavor string, parts map[string]string) map[string]string {
	host := parts["DB_HOST"] + ":" + parts["DB_PORT"]
	if flavor == "postgres" {
		u := url.URL{Scheme: "postgres", User: url.UserPassword(parts["DB_USER"], parts["DB_PASSWORD"]), Host: host,
			Path: "/" + parts["DB_NAME"], RawQuery: "sslmode=disable"}
		return map[string]string{"DB_DRIVER": "postgres", "DATABASE_URL": u.String()}
	}
	return map[string]string{"DATABASE_URL": fmt.Sprintf("%s:%s@tcp(%s)/%s", parts["DB_USER"], parts["DB_PASSWORD"], host, parts["DB_NAME"])}
}

// testMigrations: on an empty database authd without KEYGATE_MIGRATE refuses to start and
// says to migrate; keygatectl migrate (configured by one DATABASE_URL this time) brings it to
// the binary's schema and is idempotent; authd without KEYGATE_MIGRATE then starts on it and
// serves.
func testMigrations(t *testing.T, tp *dbTopology) {
	// Its own Redis database: this authd's key ring is not the replicas'.
	env := apptest.Merge(tp.env, databaseURL(tp.db.flavor, tp.db.fresh(t)), map[string]string{"REDIS_DB": "1"})
	for _, k := range []string{"DB_HOST", "DB_PORT", "DB_USER", "DB_PASSWORD", "DB_NAME"} {
		delete(env, k)
	}
	out, err := runCmd(t, binary(t, "authd"), env, "authd")
	if err == nil || !strings.Contains(out, "migrat") {
		t.Errorf("authd on an empty database without KEYGATE_MIGRATE: %v, want it to stop saying to migrate; output:\n%s", err, apptest.Tail(out, 10))
	}
	for i := range 2 {
		out, err := runCmd(t, binary(t, "keygatectl"), env, "keygatectl", "migrate")
		if err != nil {
			t.Fatalf("keygatectl migrate with DATABASE_URL, run %d: %v\n%s", i+1, err, out)
		}
		t.Logf("keygatectl migrate, run %d: %s", i+1, strings.TrimSpace(out))
	}
	p := startProc(t, "authd-url", binary(t, "authd"), env)
	tp.c.waitReady(t, 30*time.Second, p.URL)
	tp.c.signup(t, p.URL, "mia@example.com", "correct horse battery")
}
