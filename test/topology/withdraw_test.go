package topology_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	redisadapter "github.com/keygate/keygate/adapters/redis"
	"github.com/keygate/keygate/core/revocation"
	"github.com/keygate/keygate/test/apptest"
)

// withdrawTarget is one verifier of the withdrawal test and the URL it answers a bearer
// token on (200 accepted, 401 refused).
type withdrawTarget struct {
	name, url string
}

// probe is one request of the load: which token, when it was sent and answered, and how.
type probe struct {
	old        bool // the withdrawn key's token (else the valid one)
	sent, done time.Time
	status     int
}

// TestKeyWithdrawalUnderLoad withdraws a compromised key (keygatectl keys retire
// -compromised) while three verifiers (two ordersd and guardd, which fetch the JWKS through
// the balancer in front of two authd replicas on PostgreSQL and one Redis) are sent requests
// without pause with a token of that key and with a token of the key that signs now. Every
// verifier must refuse the withdrawn key's token (401) from a moment within 2 s of the
// command's return (the figure run prints the real distribution), and no verifier may refuse
// the valid token at any time. Before each withdrawal the key to withdraw is retired
// normally (keygatectl keys rotate, then keys retire: the new key signs at once and the old
// one stays published), so both tokens are valid until the withdrawal.
//
// With -figures it runs 30 withdrawals and reports, per withdrawal, the latest verifier's
// first refusal after the command's return ("ack": an upper bound, each probe's round trip
// included; negative when every verifier refused before the command had exited) and after
// the command's start:
//
//	go test ./test/topology -run KeyWithdrawalUnderLoad -figures -v
func TestKeyWithdrawalUnderLoad(t *testing.T) {
	rounds := 3
	if *figures {
		rounds = 30
	}
	tp := startDBTopology(t, startPostgres(t))
	c := tp.c
	orders2 := startProc(t, "ordersd-2", binary(t, "ordersd"), apptest.Merge(redisEnv(tp.redis), map[string]string{
		"PORT": "0", "KEYGATE_ISSUER": tp.lb.URL,
	}))
	guardd := startProc(t, "guardd", binary(t, "guardd"), apptest.Merge(redisEnv(tp.redis), map[string]string{
		"PORT": "0", "KEYGATE_ISSUER": tp.lb.URL, "KEYGATE_AUDIENCE": "orders",
	}))
	c.waitReady(t, 60*time.Second, orders2.URL, guardd.URL)
	targets := []withdrawTarget{
		{"ordersd-1", tp.orders.URL + "/api/orders"},
		{"ordersd-2", orders2.URL + "/api/orders"},
		{"guardd", guardd.URL + "/verify"},
	}
	accepts := func(tok string) bool {
		for _, v := range targets {
			if c.do(t, "GET", v.url, tok, nil).status != http.StatusOK {
				return false
			}
		}
		return true
	}

	// The test follows the bus too, to time the withdrawal's event as a subscriber sees it.
	withdrawals := followWithdrawals(t, tp.redis.Addr)

	const password = "correct horse battery staple"
	cur := c.signup(t, tp.lb.URL, "keys@example.com", password).access
	var afterAck, afterStart, afterEvent []time.Duration
	for round := range rounds {
		leaked := kidOf(t, cur)
		tp.ctl(t, "keygatectl", "keys", "rotate")
		tp.ctl(t, "keygatectl", "keys", "retire", leaked)
		next := tokensOf(t, c.login(t, tp.lb.URL, "keys@example.com", password), "login").access
		if kidOf(t, next) == leaked {
			t.Fatalf("round %d: tokens still signed by the retired key %s", round, leaked)
		}
		apptest.Eventually(t, 10*time.Second, "every verifier accepts both tokens", func() bool { return accepts(cur) && accepts(next) })

		// The load: per verifier one client per token, each on its own connection, without
		// pause, until stop.
		stop := make(chan struct{})
		var wg sync.WaitGroup
		probes := make([][]probe, len(targets)*2)
		for i := range probes {
			v, old := targets[i/2], i%2 == 0
			tok := next
			if old {
				tok = cur
			}
			lc := newClient(1)
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					p := probe{old: old, sent: time.Now()}
					p.status = lc.do(t, "GET", v.url, tok, nil).status
					p.done = time.Now()
					probes[i] = append(probes[i], p)
				}
			})
		}
		time.Sleep(100 * time.Millisecond)
		start := time.Now()
		tp.ctl(t, "keygatectl", "keys", "retire", "-compromised", leaked)
		ack := time.Now()
		time.Sleep(2 * time.Second) // the load goes on: every verifier must refuse by then
		close(stop)
		wg.Wait()

		var worst time.Duration
		have := false
		for i, ps := range probes {
			v := targets[i/2]
			if i%2 == 1 {
				for _, p := range ps {
					if p.status != http.StatusOK {
						t.Errorf("round %d: %s answered %d to the valid token (sent %v after the ack)", round, v.name, p.status, p.sent.Sub(ack))
					}
				}
				continue
			}
			first, ok := firstRefusal(ps)
			if !ok {
				t.Errorf("round %d: %s still accepts the withdrawn key's token 2s after the ack (%d probes)", round, v.name, len(ps))
				continue
			}
			for _, p := range ps {
				if p.status != http.StatusOK && p.status != http.StatusUnauthorized {
					t.Errorf("round %d: %s answered %d to the withdrawn key's token, want 200 before and 401 after", round, v.name, p.status)
					break
				}
			}
			if d := first.Sub(ack); !have || d > worst {
				worst, have = d, true
			}
		}
		if !have {
			continue
		}
		afterAck = append(afterAck, worst)
		afterStart = append(afterStart, worst+ack.Sub(start))
		evAt := withdrawals.at(leaked)
		if evAt.IsZero() {
			t.Errorf("round %d: no key-change event naming %s withdrawn reached the bus", round, leaked)
		} else {
			afterEvent = append(afterEvent, worst+ack.Sub(evAt))
		}
		t.Logf("round %d: withdrew %s; keygatectl took %v; the last verifier refused %v after its return, %v after the event",
			round, leaked, ack.Sub(start).Round(time.Millisecond), worst.Round(100*time.Microsecond),
			(worst + ack.Sub(evAt)).Round(100*time.Microsecond))
		cur = next
	}
	if *figures && len(afterAck) > 0 {
		report(t, "key withdrawal under load (%d withdrawals, 3 verifiers: 2 ordersd + guardd, 2 authd on PostgreSQL): "+
			"last verifier's first refusal after keygatectl returned: %s; after the event reached a subscriber: %s; after keygatectl started: %s",
			rounds, spread(afterAck), spread(afterEvent), spread(afterStart))
	}
}

// firstRefusal returns when the refusals of the withdrawn key's token began for good: the
// answer time of the first 401 sent after the last 200. ok is false if the last probe was
// accepted.
func firstRefusal(ps []probe) (time.Time, bool) {
	lastOK := -1
	for i, p := range ps {
		if p.status == http.StatusOK {
			lastOK = i
		}
	}
	for _, p := range ps[lastOK+1:] {
		if p.status == http.StatusUnauthorized {
			return p.done, true
		}
	}
	return time.Time{}, false
}

// spread formats the p50 and max of ds (and its min, which may be negative).
func spread(ds []time.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	r := func(d time.Duration) string { return d.Round(100 * time.Microsecond).String() }
	return fmt.Sprintf("p50 %s, max %s, min %s", r(s[len(s)/2]), r(s[len(s)-1]), r(s[0]))
}

// withdrawalTimes records when a key-change event naming each withdrawn kid reached the
// test's own subscription.
type withdrawalTimes struct {
	mu sync.Mutex
	m  map[string]time.Time
}

func (w *withdrawalTimes) at(kid string) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.m[kid]
}

// followWithdrawals subscribes to the event bus on Redis at addr (the default prefix) until
// the test ends.
func followWithdrawals(t *testing.T, addr string) *withdrawalTimes {
	t.Helper()
	cfg := redisadapter.Config{Addrs: []string{addr}}
	client, closeClient, err := redisadapter.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	bus, err := redisadapter.NewEventBus(client, cfg)
	if err != nil {
		t.Fatal(err)
	}
	w := &withdrawalTimes{m: map[string]time.Time{}}
	ctx, cancel := context.WithCancel(context.Background())
	connected := make(chan struct{})
	var once sync.Once
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = bus.Subscribe(ctx, func(e revocation.Event) {
			switch {
			case e.Kind == revocation.EventConnected:
				once.Do(func() { close(connected) })
			case e.Kind == revocation.EventKeysChanged && e.Keys.Withdrawn != "":
				w.mu.Lock()
				if _, ok := w.m[e.Keys.Withdrawn]; !ok {
					w.m[e.Keys.Withdrawn] = time.Now()
				}
				w.mu.Unlock()
			}
		})
	}()
	t.Cleanup(func() { cancel(); <-done; closeClient() })
	select {
	case <-connected:
	case <-time.After(30 * time.Second):
		t.Fatal("the test's subscription to the bus did not connect within 30s")
	}
	return w
}
