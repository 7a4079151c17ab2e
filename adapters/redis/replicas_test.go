package redis_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	redisadapter "github.com/keygate/keygate/adapters/redis"
	"github.com/keygate/keygate/core/revocation"
	"github.com/keygate/keygate/core/session"
	"github.com/keygate/keygate/ports"
	"github.com/keygate/keygate/ports/portstest"
)

// The suites again, each call going to the next of three instances on their own clients with
// one prefix, as three replicas of the auth service would: the race cases then contend on the
// server (the Lua compare-and-set of Update, the counters), not on a lock in this process.

const replicas = 3

// replicaClients returns replicas clients on one fresh prefix.
func replicaClients(t *testing.T, open func(t *testing.T) (redisClient, redisadapter.Config)) []replica {
	t.Helper()
	c, cfg := open(t)
	out := []replica{{c, cfg}}
	for len(out) < replicas {
		c2, closeFn, err := redisadapter.NewClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(closeFn)
		out = append(out, replica{c2, cfg})
	}
	return out
}

type replica struct {
	c   redisClient
	cfg redisadapter.Config
}

type roundRobin[T any] struct {
	all  []T
	next atomic.Uint64
}

func (r *roundRobin[T]) pick() T { return r.all[(r.next.Add(1)-1)%uint64(len(r.all))] }

type sessionReplicas struct {
	roundRobin[*redisadapter.SessionStore]
}

func (s *sessionReplicas) Create(ctx context.Context, v session.Session) error {
	return s.pick().Create(ctx, v)
}
func (s *sessionReplicas) Get(ctx context.Context, sid string) (session.Session, error) {
	return s.pick().Get(ctx, sid)
}
func (s *sessionReplicas) Update(ctx context.Context, sid string, seen *session.Session, fn func(*session.Session) error) (session.Session, error) {
	return s.pick().Update(ctx, sid, seen, fn)
}
func (s *sessionReplicas) Delete(ctx context.Context, sid string) error {
	return s.pick().Delete(ctx, sid)
}
func (s *sessionReplicas) ListByUser(ctx context.Context, uid string) ([]session.Session, error) {
	return s.pick().ListByUser(ctx, uid)
}
func (s *sessionReplicas) DeleteByUser(ctx context.Context, uid string) ([]string, error) {
	return s.pick().DeleteByUser(ctx, uid)
}

type limiterReplicas struct {
	roundRobin[*redisadapter.RateLimiter]
}

func (l *limiterReplicas) Allow(ctx context.Context, key string, limit int, window time.Duration) (bool, time.Duration, error) {
	return l.pick().Allow(ctx, key, limit, window)
}

func (l *limiterReplicas) Count(ctx context.Context, key string, window time.Duration) (int, time.Duration, error) {
	return l.pick().Count(ctx, key, window)
}

type revocationReplicas struct {
	roundRobin[*redisadapter.RevocationStore]
}

func (s *revocationReplicas) Revoke(ctx context.Context, e revocation.Entry) (uint64, error) {
	return s.pick().Revoke(ctx, e)
}
func (s *revocationReplicas) Snapshot(ctx context.Context) (revocation.Snapshot, error) {
	return s.pick().Snapshot(ctx)
}
func (s *revocationReplicas) Seq(ctx context.Context) (uint64, error) { return s.pick().Seq(ctx) }
func (s *revocationReplicas) Since(ctx context.Context, seq uint64, limit int) ([]revocation.Event, error) {
	return s.pick().Since(ctx, seq, limit)
}

func TestSessionStoreReplicas(t *testing.T) {
	open := server(t)
	portstest.RunSessionStore(t, func(t *testing.T) ports.SessionStore {
		s := &sessionReplicas{}
		for _, r := range replicaClients(t, open) {
			s.all = append(s.all, must[*redisadapter.SessionStore](t)(redisadapter.NewSessionStore(r.c, r.cfg)))
		}
		return s
	})
}

func TestRateLimiterReplicas(t *testing.T) {
	open := server(t)
	portstest.RunRateLimiter(t, func(t *testing.T) ports.RateLimiter {
		l := &limiterReplicas{}
		for _, r := range replicaClients(t, open) {
			l.all = append(l.all, must[*redisadapter.RateLimiter](t)(redisadapter.NewRateLimiter(r.c, r.cfg)))
		}
		return l
	})
}

func TestRevocationStoreReplicas(t *testing.T) {
	open := server(t)
	portstest.RunRevocationStore(t, func(t *testing.T) ports.RevocationStore {
		s := &revocationReplicas{}
		for _, r := range replicaClients(t, open) {
			s.all = append(s.all, must[*redisadapter.RevocationStore](t)(redisadapter.NewRevocationStore(r.c, r.cfg)))
		}
		return s
	})
}
