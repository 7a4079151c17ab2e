package redis_test

import (
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	redisadapter "github.com/keygate/keygate/adapters/redis"
	"github.com/keygate/keygate/core/revocation"
	"github.com/keygate/keygate/ports"
	"github.com/keygate/keygate/test/containers"
)

// TestRevocationStoreOnAReplica: a verifier in another region reads its revocations from a
// replica of the primary authd writes to. While the replica is linked it answers the feed's
// reads (Seq, Snapshot, Since: the replay script only reads) with the primary's revocations,
// pushed events included (Redis replicates PUBLISH to a replica's subscribers). Once its
// link is down every read fails with ports.ErrUnavailable instead of offering a sequence
// number that may be behind, so a feed on it counts its staleness; linked again, it answers.
func TestRevocationStoreOnAReplica(t *testing.T) {
	primary := containers.StartRedis(t)
	replica := containers.StartRedis(t)
	host, port, err := net.SplitHostPort(primary.ContainerAddr)
	if err != nil {
		t.Fatal(err)
	}
	replica.CLI(t, "REPLICAOF", host, port)

	cfg := redisadapter.Config{Prefix: fmt.Sprintf("replica-%d", time.Now().UnixNano())}
	open := func(addr string) (*redisadapter.RevocationStore, *redisadapter.EventBus) {
		c := cfg
		c.Addrs = []string{addr}
		client, closeFn, err := redisadapter.NewClient(c)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(closeFn)
		return must[*redisadapter.RevocationStore](t)(redisadapter.NewRevocationStore(client, c)),
			must[*redisadapter.EventBus](t)(redisadapter.NewEventBus(client, c))
	}
	writer, _ := open(primary.Addr)
	reader, bus := open(replica.Addr)
	ctx := t.Context()

	waitLinked := func() {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			if _, err := reader.Seq(ctx); err == nil {
				return
			} else if time.Now().After(deadline) {
				t.Fatalf("replica not linked within 30s: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitLinked()

	pushed, connected := make(chan revocation.Event, 16), make(chan struct{}, 16)
	go func() {
		_ = bus.Subscribe(ctx, func(e revocation.Event) {
			switch e.Kind {
			case revocation.EventRevoked:
				pushed <- e
			case revocation.EventConnected:
				connected <- struct{}{}
			}
		})
	}()
	select {
	case <-connected:
	case <-time.After(10 * time.Second):
		t.Fatal("no subscription to the replica within 10s")
	}
	seq, err := writer.Revoke(ctx, revEntry("on-the-primary"))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-pushed:
		if e.Seq != seq || e.Entry.Key != "on-the-primary" {
			t.Errorf("subscriber of the replica got %+v, want seq %d on-the-primary", e, seq)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("a subscriber of the replica got no event within 5s of a revocation on the primary")
	}
	deadline := time.Now().Add(5 * time.Second)
	for got, _ := reader.Seq(ctx); got != seq; got, _ = reader.Seq(ctx) {
		if time.Now().After(deadline) {
			t.Fatalf("replica Seq %d, want the primary's %d", got, seq)
		}
		time.Sleep(20 * time.Millisecond)
	}
	snap, err := reader.Snapshot(ctx)
	if err != nil || snap.Seq != seq || len(snap.Entries) != 1 {
		t.Errorf("snapshot of the replica: %+v, %v; want seq %d and the one entry", snap, err, seq)
	}
	if evs, err := reader.Since(ctx, seq-1, 0); err != nil || len(evs) != 1 {
		t.Errorf("since on the replica: %v, %v; want the one revocation", evs, err)
	}

	// Cut the link: the replica points at an address where nothing answers.
	replica.CLI(t, "REPLICAOF", "127.0.0.1", "1")
	for name, call := range map[string]func() error{
		"seq":      func() error { _, err := reader.Seq(ctx); return err },
		"snapshot": func() error { _, err := reader.Snapshot(ctx); return err },
		"since":    func() error { _, err := reader.Since(ctx, seq, 0); return err },
	} {
		if err := call(); !errors.Is(err, ports.ErrUnavailable) {
			t.Errorf("%s on an unlinked replica: %v, want ports.ErrUnavailable", name, err)
		}
	}

	replica.CLI(t, "REPLICAOF", host, port)
	waitLinked()
	if got, err := reader.Seq(ctx); err != nil || got != seq {
		t.Errorf("relinked replica: Seq %d, %v; want %d", got, err, seq)
	}
}
