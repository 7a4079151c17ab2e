package redis_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate/core/revocation"
	"github.com/keygate/keygate/test/containers"
)

// TestAcknowledgedRevocationSurvivesKill9: revocations are made from 8 goroutines while Redis
// is killed with SIGKILL (no shutdown, no final save); after a restart on the same data, every
// revocation whose Revoke had returned is in the store. With appendfsync always (the
// single-server profile, see docs/revocation.md) none is lost; the same run without the AOF
// loses them, which shows the kill is a real one and the check can fail.
func TestAcknowledgedRevocationSurvivesKill9(t *testing.T) {
	for _, tt := range []struct {
		name    string
		opts    []containers.RedisOption
		durable bool
	}{
		{"appendfsync always", []containers.RedisOption{containers.WithAOF()}, true},
		{"no persistence (control)", []containers.RedisOption{containers.WithRedisArgs("--appendonly", "no", "--save", "")}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, time.Second, tt.opts...)
			ctx, cancel := context.WithCancel(t.Context())
			var mu sync.Mutex
			var acked []revocation.Entry
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					for ctx.Err() == nil {
						e := r.entry()
						if _, err := r.store.Revoke(ctx, e); err != nil {
							continue // not acknowledged: no promise made
						}
						mu.Lock()
						acked = append(acked, e)
						mu.Unlock()
					}
				})
			}
			// Kill once a few hundred are acknowledged, while revokes are in flight.
			for {
				mu.Lock()
				n := len(acked)
				mu.Unlock()
				if n >= 300 {
					break
				}
				time.Sleep(time.Millisecond)
			}
			r.redis.Kill(t)
			time.Sleep(200 * time.Millisecond)
			cancel()
			wg.Wait()
			mu.Lock()
			defer mu.Unlock()
			r.redis.Start(t)
			var snap revocation.Snapshot
			deadline := time.Now().Add(30 * time.Second)
			for {
				var err error
				if snap, err = r.store.Snapshot(t.Context()); err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no snapshot after the restart: %v", err)
				}
				time.Sleep(100 * time.Millisecond)
			}
			in := map[string]bool{}
			for _, e := range snap.Entries {
				in[string(e.Kind)+":"+e.Key] = true
			}
			lost := 0
			for _, e := range acked {
				if !in[string(e.Kind)+":"+e.Key] {
					lost++
				}
			}
			t.Logf("%d acknowledged before the kill, %d lost, store at seq %d with %d entries after the restart",
				len(acked), lost, snap.Seq, len(snap.Entries))
			switch {
			case tt.durable && lost > 0:
				t.Errorf("%d of %d acknowledged revocations lost to kill -9", lost, len(acked))
			case !tt.durable && lost == 0:
				t.Errorf("control without persistence lost nothing: the kill did not happen as the test thinks")
			}
			if tt.durable && snap.Seq < uint64(len(acked)) {
				t.Errorf("store seq %d after the restart, below the %d acknowledged", snap.Seq, len(acked))
			}
		})
	}
}
