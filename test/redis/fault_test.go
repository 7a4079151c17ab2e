package redis_test

import (
	"context"
	"errors"
	"flag"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate/ports"
	"github.com/keygate/keygate/test/containers"
)

// TestPubSubKilledBeforeEachRevocation kills the verifier's subscription (CLIENT KILL TYPE
// pubsub) right before each of 100 revocations, whose push is then lost: each must still reach
// the verifier through the resynchronisation that follows the resubscription, long before any
// poll could find it.
func TestPubSubKilledBeforeEachRevocation(t *testing.T) {
	r := newRig(t, time.Second)
	v := r.verifier(t, 0)
	conns := v.bus.connects.Load()
	r.redis.KillPubSub(t) // once through redis-cli in the container, as an operator would
	const rounds = 100
	var slowest time.Duration
	for i := range rounds {
		// Kill only a confirmed resubscription, so every round tests a real loss.
		deadline := time.Now().Add(5 * time.Second)
		for v.bus.connects.Load() <= conns {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: verifier did not resubscribe within 5s", i)
			}
			time.Sleep(time.Millisecond)
		}
		conns = v.bus.connects.Load()
		killed, err := r.auth.ClientKillByFilter(t.Context(), "TYPE", "pubsub").Result()
		if err != nil || killed < 1 {
			t.Fatalf("round %d: CLIENT KILL TYPE pubsub = %d, %v; want a subscription killed", i, killed, err)
		}
		seq := r.mustRevoke(t, r.entry())
		slowest = max(slowest, v.waitSeq(t, seq, 5*time.Second))
	}
	snap := r.converged(t, v, 10*time.Second)
	if snap.Seq != rounds {
		t.Errorf("store seq = %d, want %d", snap.Seq, rounds)
	}
	if got := v.bus.connects.Load(); got < rounds {
		t.Errorf("verifier resubscribed %d times, want at least %d", got, rounds)
	}
	t.Logf("%d kills: slowest recovery %v, %d resubscriptions, %d resyncs on connect, %d events pushed through",
		rounds, slowest.Round(time.Millisecond), v.bus.connects.Load(), v.metrics.resynced("connected"), v.bus.revokedEvents.Load())
}

// revoker revokes continuously, as the auth service would during an outage, until stopped; it
// counts what the store acknowledged and what failed.
type revoker struct {
	ok, failed atomic.Int64
	stop       chan struct{}
	done       sync.WaitGroup
	errs       chan error
}

func (r *rig) startIssuing(every time.Duration) *revoker {
	is := &revoker{stop: make(chan struct{}), errs: make(chan error, 1)}
	is.done.Go(func() {
		for {
			select {
			case <-is.stop:
				return
			case <-time.After(every):
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err := r.revoke(ctx, r.entry())
			cancel()
			switch {
			case err == nil:
				is.ok.Add(1)
			case errors.Is(err, ports.ErrUnavailable):
				is.failed.Add(1)
			default:
				select {
				case is.errs <- err:
				default:
				}
			}
		}
	})
	return is
}

func (is *revoker) halt(t *testing.T) {
	t.Helper()
	close(is.stop)
	is.done.Wait()
	select {
	case err := <-is.errs:
		t.Fatalf("a revocation failed with an error other than ports.ErrUnavailable: %v", err)
	default:
	}
}

// TestRedisRestartedWhileRevoking stops Redis (AOF, fsync always) while revocations are being
// issued, hard and gracefully, and starts it again: every acknowledged revocation survives,
// and the verifier ends with exactly the store's set.
func TestRedisRestartedWhileRevoking(t *testing.T) {
	r := newRig(t, time.Second, containers.WithAOF())
	v := r.verifier(t, 0)
	is := r.startIssuing(2 * time.Millisecond)
	// resumed waits until the verifier is subscribed again and the store has acknowledged n
	// more revocations.
	resumed := func(what string, n int64) {
		t.Helper()
		from, start := is.ok.Load(), time.Now()
		for !v.feed.Status().Connected || is.ok.Load() < from+n {
			if time.Since(start) > 20*time.Second {
				t.Fatalf("%s: after 20s, verifier connected %v and %d revocations acknowledged, want %d",
					what, v.feed.Status().Connected, is.ok.Load()-from, n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	resumed("before the restarts", 50)
	for _, stop := range []struct {
		name    string
		timeout time.Duration
	}{
		{"SIGKILL", 0},
		{"SIGTERM", 10 * time.Second},
	} {
		r.redis.Restart(t, stop.timeout)
		t.Logf("%s: restarted after %d acknowledged revocations", stop.name, is.ok.Load())
		resumed("after "+stop.name, 50)
	}
	is.halt(t)
	r.converged(t, v, 30*time.Second)
	if got := v.bus.disconnects.Load(); got < 2 {
		t.Errorf("verifier saw %d disconnections, want at least 2", got)
	}
	t.Logf("%d acknowledged, %d refused as unavailable while Redis was down", is.ok.Load(), is.failed.Load())
}

// TestRedisPausedPastClientTimeout freezes Redis (docker pause) for several client timeouts:
// the verifier notices the silent server, keeps refusing what it knew to be revoked and
// accepting the rest (fail open), revocations fail with ErrUnavailable, and after the thaw the
// verifier catches up on everything, including what was sent while it was frozen.
func TestRedisPausedPastClientTimeout(t *testing.T) {
	r := newRig(t, time.Second)
	v := r.verifier(t, 0)
	for range 30 {
		r.mustRevoke(t, r.entry())
	}
	before := r.converged(t, v, 10*time.Second)

	r.redis.Pause(t)
	paused := time.Now()
	for v.feed.Status().Connected {
		if time.Since(paused) > 5*time.Second {
			r.redis.Unpause(t)
			t.Fatalf("verifier still connected %v after Redis froze", time.Since(paused))
		}
		time.Sleep(10 * time.Millisecond)
	}
	noticed := time.Since(paused)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	_, err := r.revoke(ctx, r.entry())
	cancel()
	if !errors.Is(err, ports.ErrUnavailable) {
		t.Errorf("revoke while Redis is frozen = %v, want ports.ErrUnavailable", err)
	}
	for _, e := range before.Entries {
		if _, err := v.guard.Authenticate(t.Context(), r.signer.tokenFor(e)); err == nil {
			t.Fatalf("token for %s %s accepted while Redis is frozen, want still refused", e.Kind, e.Key)
		}
	}
	if _, err := v.guard.Authenticate(t.Context(), r.signer.token("j", "s", "u", time.Now().Add(-time.Minute))); err != nil {
		t.Errorf("clean token while Redis is frozen: %v, want accepted (fail open)", err)
	}
	if st := v.feed.Status(); st.Staleness < noticed/2 {
		t.Errorf("staleness while frozen = %v, want growing (frozen %v)", st.Staleness, time.Since(paused))
	}
	time.Sleep(time.Until(paused.Add(4 * time.Second)))
	r.redis.Unpause(t)
	t.Logf("frozen %v; verifier noticed after %v", time.Since(paused).Round(time.Millisecond), noticed.Round(time.Millisecond))
	for range 30 {
		r.mustRevoke(t, r.entry())
	}
	r.converged(t, v, 15*time.Second)
}

// TestRevocationBurst issues 10,000 revocations from 8 goroutines at once: with Redis's
// default buffers, and with the pub/sub output buffer lowered to 64 kB (and small socket
// buffers) while the verifier stalls for two seconds, so Redis drops the subscriber mid-burst
// (A2 of the research notes). Either way the verifier ends with every one.
func TestRevocationBurst(t *testing.T) {
	tests := []struct {
		name     string
		limit    string // client-output-buffer-limit pubsub; empty: the default
		stall    time.Duration
		overflow bool
	}{
		{"default buffers", "", 0, false},
		{"overflowing a 64kB pubsub buffer", "pubsub 65536 32768 0", 2 * time.Second, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []containers.RedisOption
			if tt.overflow {
				opts = append(opts, containers.WithSysctls(map[string]string{"net.ipv4.tcp_wmem": "4096 8192 16384"}))
			}
			r := newRig(t, 5*time.Second, opts...)
			if tt.limit != "" {
				if err := r.auth.ConfigSet(t.Context(), "client-output-buffer-limit", tt.limit).Err(); err != nil {
					t.Fatal(err)
				}
			}
			v := r.verifier(t, tt.stall)
			const total, workers = 10000, 8
			issueStart := time.Now()
			var wg sync.WaitGroup
			errs := make(chan error, workers)
			for range workers {
				wg.Go(func() {
					for range total / workers {
						if _, err := r.revoke(t.Context(), r.entry()); err != nil {
							errs <- err
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatalf("revoke during the burst: %v", err)
			}
			t.Logf("issued %d revocations in %v", total, time.Since(issueStart).Round(time.Millisecond))
			snap := r.converged(t, v, 60*time.Second)
			if len(snap.Entries) != total {
				t.Errorf("store holds %d entries, want %d", len(snap.Entries), total)
			}
			if d := v.bus.disconnects.Load(); tt.overflow && d == 0 {
				t.Errorf("Redis never dropped the slow subscriber: the overflow was not exercised")
			}
			t.Logf("%d revocations; subscriber dropped %d times, %d events pushed through, resyncs: connected %d, gap %d",
				total, v.bus.disconnects.Load(), v.bus.revokedEvents.Load(), v.metrics.resynced("connected"), v.metrics.resynced("gap"))
		})
	}
}

var viaProxy = flag.Bool("proxy", false, "BenchmarkPropagation: connect through the published port (Docker's userland proxy) instead of the container network")
