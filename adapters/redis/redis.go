// Package redis implements keygate's RevocationStore, EventBus, SessionStore, RateLimiter and
// OneTimeTokenStore on Redis with go-redis v9. Every multi-step change is one Lua script, so it is atomic on the
// server; times are read from the server (TIME) where an expiry is decided, so replicas with
// skewed clocks agree. Every key of one deployment starts with "{Prefix}:", which is also a
// Redis Cluster hash tag: all of them live in one slot and the scripts may touch several.
// Errors that mean "Redis cannot answer now" (refused, reset, timed out, LOADING, READONLY,
// MASTERDOWN...) wrap ports.ErrUnavailable.
//
// Elsewhere this package is imported as redisadapter, since go-redis is also called redis.
package redis

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/keygate/keygate/ports"
)

// DefaultPrefix is the key prefix when Config.Prefix is empty.
const DefaultPrefix = "keygate"

// Config is how to reach Redis and how to name keys.
type Config struct {
	// Addrs are host:port addresses: one server; several Redis Cluster nodes; or, with
	// MasterName, the Sentinels.
	Addrs      []string
	Password   string
	MasterName string // Sentinel master name; empty without Sentinel
	// SentinelPassword authenticates to the Sentinels themselves (Password is the data
	// nodes'); empty when the Sentinels need none.
	SentinelPassword string
	// TLS, when not nil, is used for every connection: to the data nodes and to the
	// Sentinels (rediss://). Nil means plain TCP.
	TLS *tls.Config
	DB  int
	// Prefix names every key and the event channel ("{Prefix}:..."), so deployments and
	// tests can share a server. It must not contain '{' or '}'. Default DefaultPrefix.
	Prefix string
	// DialTimeout, ReadTimeout and WriteTimeout bound each network step. Zero means 1s to dial
	// (an auth request that cannot reach Redis should answer 503 quickly, not hang) and 3s to
	// read or write (a snapshot of a large revocation set is one long reply).
	DialTimeout, ReadTimeout, WriteTimeout time.Duration
	// MaxRetries is how often a failed command is retried on a fresh connection (a reset
	// after a failover). Zero means 1; negative means none.
	MaxRetries int
	// PingInterval is how often an idle subscription is checked with a PING; one left
	// unanswered for another interval declares the subscription lost. Default 1s.
	PingInterval time.Duration
	// ReplayLog is how many of the latest revocations the replay log ("{Prefix}:rev:log", a
	// capped stream) keeps at least, for verifiers that missed events. Default
	// DefaultReplayLog.
	ReplayLog int
	// SnapshotChunk is how many entries one call of a snapshot reads (HSCAN COUNT): each
	// call stays short however large the set. Default DefaultSnapshotChunk.
	SnapshotChunk int
	// RevokeReplicas, when positive, makes every Revoke wait (WAIT, in the same round trip)
	// until that many replicas hold it, for at most RevokeWait (default 1s); short of them
	// Revoke fails with ports.ErrUnavailable. Use it where a replica takes over when the
	// primary dies (Sentinel); a single server instead needs appendfsync always. Not for
	// Redis Cluster clients.
	RevokeReplicas int
	RevokeWait     time.Duration
}

// DefaultReplayLog and DefaultSnapshotChunk are the defaults of Config.ReplayLog and
// Config.SnapshotChunk.
const (
	DefaultReplayLog     = 100_000
	DefaultSnapshotChunk = 1_000
)

// LogValue redacts the password.
func (c Config) LogValue() slog.Value {
	pw := ""
	if c.Password != "" || c.SentinelPassword != "" {
		pw = "[redacted]"
	}
	return slog.GroupValue(
		slog.Any("addrs", c.Addrs), slog.String("password", pw), slog.String("master", c.MasterName),
		slog.Bool("tls", c.TLS != nil), slog.Int("db", c.DB), slog.String("prefix", c.prefix()))
}

func (c Config) prefix() string {
	if c.Prefix == "" {
		return DefaultPrefix
	}
	return c.Prefix
}

func (c Config) pingInterval() time.Duration {
	if c.PingInterval <= 0 {
		return time.Second
	}
	return c.PingInterval
}

// validate reports a Config the adapters cannot use.
func (c Config) validate() error {
	if strings.ContainsAny(c.Prefix, "{}") {
		return fmt.Errorf("redis: prefix %q must not contain '{' or '}'", c.Prefix)
	}
	if c.ReplayLog < 0 || c.SnapshotChunk < 0 || c.RevokeReplicas < 0 {
		return errors.New("redis: replay log, snapshot chunk and revoke replicas must not be negative")
	}
	return nil
}

// NewClient returns a go-redis universal client for cfg (a plain, Sentinel or Cluster client
// depending on Addrs and MasterName) and a cleanup that closes it. It does not dial: Redis may
// be down at start, and every call then fails with ports.ErrUnavailable until it is back.
func NewClient(cfg Config) (goredis.UniversalClient, func(), error) {
	if len(cfg.Addrs) == 0 {
		return nil, nil, errors.New("redis: no address")
	}
	for _, a := range cfg.Addrs {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return nil, nil, fmt.Errorf("redis: address %q: %w", a, err)
		}
	}
	if err := cfg.validate(); err != nil {
		return nil, nil, err
	}
	c := goredis.NewUniversalClient(&goredis.UniversalOptions{
		Addrs:            cfg.Addrs,
		Password:         cfg.Password,
		MasterName:       cfg.MasterName,
		SentinelPassword: cfg.SentinelPassword,
		TLSConfig:        cfg.TLS,
		DB:               cfg.DB,
		DialTimeout:      orDefault(cfg.DialTimeout, time.Second),
		ReadTimeout:      orDefault(cfg.ReadTimeout, 3*time.Second),
		WriteTimeout:     orDefault(cfg.WriteTimeout, 3*time.Second),
		MaxRetries:       cmp.Or(cfg.MaxRetries, 1),
		MinRetryBackoff:  8 * time.Millisecond,
		MaxRetryBackoff:  64 * time.Millisecond,
		// Without it go-redis ignores the caller's deadline on the socket and waits out
		// ReadTimeout (times the retries): a request's budget and the feed's bound on a store
		// call would not hold against a server that stopped answering.
		ContextTimeoutEnabled: true,
		Protocol:              2, // plain RESP2 pub/sub; nothing here needs RESP3
	})
	return c, func() { _ = c.Close() }, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// keys names the keys of one prefix.
type keys struct{ base string }

func newKeys(cfg Config) keys { return keys{base: "{" + cfg.prefix() + "}:"} }

func (k keys) revSeq() string     { return k.base + "rev:seq" }
func (k keys) revEntries() string { return k.base + "rev:entries" }
func (k keys) revExpiry() string  { return k.base + "rev:expiry" }
func (k keys) revLog() string     { return k.base + "rev:log" }
func (k keys) events() string     { return k.base + "events" }
func (k keys) session(sid string) string {
	return k.base + "sess:" + sid
}
func (k keys) userSessions(uid string) string { return k.base + "usess:" + uid }
func (k keys) oneTime(purpose, hash string) string {
	return k.base + "ott:" + purpose + ":" + hash
}
func (k keys) limit(window time.Duration, key string) string {
	return k.base + "rl:" + strconv.FormatInt(window.Milliseconds(), 10) + ":" + key
}

// wrap prefixes err with the operation and, when it means Redis cannot answer now, wraps
// ports.ErrUnavailable too.
func wrap(op string, err error) error {
	if unavailable(err) {
		return fmt.Errorf("redis: %s: %w: %w", op, ports.ErrUnavailable, err)
	}
	return fmt.Errorf("redis: %s: %w", op, err)
}

// unavailable reports whether err says Redis is down, unreachable, slow, or not ready to
// serve (loading, read-only replica, failover in progress), as opposed to a bad request.
func unavailable(err error) bool {
	var netErr net.Error
	switch {
	case err == nil:
		return false
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.As(err, &netErr),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed),
		errors.Is(err, goredis.ErrPoolTimeout), errors.Is(err, goredis.ErrClosed),
		goredis.IsLoadingError(err), goredis.IsReadOnlyError(err),
		goredis.IsMasterDownError(err), goredis.IsClusterDownError(err),
		goredis.IsTryAgainError(err), goredis.IsMaxClientsError(err),
		goredis.IsOOMError(err), goredis.IsNoReplicasError(err):
		return true
	}
	// A script still running (BUSY) has no typed error in go-redis; its code is the reply's
	// first word.
	return goredis.HasErrorPrefix(err, "BUSY ")
}

// nanos encodes t as Unix nanoseconds in decimal, "0" for the zero time; the range is clamped
// to what int64 nanoseconds can hold.
func nanos(t time.Time) string {
	if t.IsZero() {
		return "0"
	}
	return strconv.FormatInt(clampNanos(t), 10)
}

func clampNanos(t time.Time) int64 {
	const minT, maxT = -1 << 63, 1<<63 - 1
	switch {
	case t.Before(time.Unix(0, minT)):
		return minT
	case t.After(time.Unix(0, maxT)):
		return maxT
	}
	return t.UnixNano()
}

// parseNanos decodes nanos; "0" and "" give the zero time.
func parseNanos(s string) (time.Time, error) {
	if s == "" || s == "0" {
		return time.Time{}, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad time %q", s)
	}
	return time.Unix(0, n).UTC(), nil
}

// ceilMillis returns t in Unix milliseconds, rounded up, as a Redis expiry or score: an
// entry is never dropped before its time.
func ceilMillis(t time.Time) int64 {
	ns := clampNanos(t)
	ms := ns / 1e6
	if ns%1e6 > 0 {
		ms++
	}
	return ms
}

// nowMillisLua is a Lua snippet that sets now to the server's time in milliseconds.
const nowMillisLua = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`
