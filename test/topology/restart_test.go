package topology_test

import (
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate/test/apptest"
	"github.com/keygate/keygate/test/containers"
)

// TestRestartedVerifierRefusesRevokedTokens kills ordersd with SIGKILL and restarts it, 15
// times, while logged-out tokens are replayed at it in a tight loop from several clients. A
// restarted verifier has an empty revocation set until its first snapshot: it must answer 503
// (never 200) until then, fail open or not, so not one replayed token is accepted; and a
// valid token is served again once the set is loaded. ordersd listens on the same port across
// restarts, so the replay reaches it from its first accepted connection on.
func TestRestartedVerifierRefusesRevokedTokens(t *testing.T) {
	const (
		restarts  = 15
		loggedOut = 12
		replayers = 4
	)
	redis := containers.StartRedis(t)
	c := newClient(16)
	auth := startProc(t, "authd", binary(t, "authd"), apptest.Merge(authEnv(), redisEnv(redis), map[string]string{"KEYGATE_DEV": "1"}))
	port := freePort(t)
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	env := apptest.Merge(redisEnv(redis), map[string]string{"PORT": strconv.Itoa(port), "KEYGATE_ISSUER": auth.Issuer,
		"KEYGATE_ADMIN_ADDR": "127.0.0.1:0"})
	bin := binary(t, "ordersd")

	const password = "correct horse battery"
	kept := c.signup(t, auth.URL, "alice@example.com", password)
	var gone []string
	for i := range loggedOut {
		tk := tokensOf(t, c.login(t, auth.URL, "alice@example.com", password), fmt.Sprintf("login %d", i))
		want(t, c.do(t, "POST", auth.URL+"/logout", tk.access, nil), http.StatusNoContent, "logout")
		gone = append(gone, tk.access)
	}

	p := startKillable(t, bin, env)
	c.waitReady(t, 30*time.Second, base)
	for _, at := range gone {
		want(t, c.orders(t, base, at), http.StatusUnauthorized, "ordersd before the restarts, logged-out token")
	}

	// The replay: each client sends the logged-out tokens round after round, on fresh
	// connections after each kill, and counts the answers by status.
	var accepted, unavailable, refused, other, down atomic.Int64
	var firstAccepted atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range replayers {
		wg.Go(func() {
			rc := newClient(1)
			for n := i; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				r := rc.orders(t, base, gone[n%len(gone)])
				switch {
				case r.err != nil:
					down.Add(1)
					time.Sleep(200 * time.Microsecond)
				case r.status == http.StatusOK:
					accepted.Add(1)
					firstAccepted.CompareAndSwap(nil, fmt.Sprintf("token %d: %s", n%len(gone), r))
				case r.status == http.StatusServiceUnavailable:
					unavailable.Add(1)
				case r.status == http.StatusUnauthorized:
					refused.Add(1)
				default:
					other.Add(1)
				}
			}
		})
	}

	var servedAgain []time.Duration
	for range restarts {
		time.Sleep(150 * time.Millisecond) // the replay runs against the serving verifier too
		p.Kill(t)
		p = startKillable(t, bin, env)
		servedAgain = append(servedAgain, apptest.Eventually(t, 15*time.Second, "a valid token served after the restart", func() bool {
			return c.orders(t, base, kept.access).status == http.StatusOK
		}))
	}
	close(stop)
	wg.Wait()

	t.Logf("%d restarts; replayed logged-out tokens answered: %d accepted, %d 503, %d 401, %d other, %d connection errors; valid token served again after %v",
		restarts, accepted.Load(), unavailable.Load(), refused.Load(), other.Load(), down.Load(), servedAgain)
	if n := accepted.Load(); n != 0 {
		t.Errorf("%d logged-out tokens accepted across %d restarts, want 0 (first: %v)", n, restarts, firstAccepted.Load())
	}
	if other.Load() != 0 {
		t.Errorf("%d answers other than 401 and 503", other.Load())
	}
	if unavailable.Load() == 0 {
		t.Error("no replayed token reached a verifier before its first load (503): the replay missed the window under test")
	}
	if refused.Load() == 0 {
		t.Error("no replayed token reached a loaded verifier: the replay did not run")
	}
}

// startKillable runs bin (ordersd) with exactly env (plus PATH) and returns once it logs that
// it serves. The test kills it with SIGKILL (Kill); so does its cleanup.
func startKillable(t *testing.T, bin string, env map[string]string) *apptest.Process {
	t.Helper()
	p := apptest.Start(t, "ordersd", exec.Command(bin), env)
	t.Cleanup(func() { p.Kill(t) }) // before Start's own cleanup, which then expects no clean exit
	deadline := time.Now().Add(60 * time.Second)
	for !servingLine.MatchString(p.Out.String()) {
		select {
		case <-p.Exited():
			t.Fatalf("ordersd exited before serving:\n%s", apptest.Tail(p.Out.String(), 20))
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("ordersd logged no serving line within 60s:\n%s", apptest.Tail(p.Out.String(), 20))
		}
	}
	served(p.Out.String()) // its admin listener is new at each start
	return p
}

// freePort returns a port that was free a moment ago, for a process restarted on the same
// address.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
