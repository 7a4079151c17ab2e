package redis

import (
	"context"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/keygate/keygate/ports"
)

// RateLimiter is a ports.RateLimiter on Redis: one counter per key and window length
// ("{p}:rl:<window ms>:<key>"), incremented and given its expiry in one Lua script, so a window
// starts at a key's first attempt and every replica sharing the server shares the count. Safe
// for concurrent use.
type RateLimiter struct {
	client goredis.UniversalClient
	keys   keys
}

var _ ports.RateLimiter = (*RateLimiter)(nil)

// NewRateLimiter returns a RateLimiter on client with cfg's prefix.
func NewRateLimiter(client goredis.UniversalClient, cfg Config) (*RateLimiter, error) {
	if client == nil {
		return nil, fmt.Errorf("redis: rate limiter: nil client")
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &RateLimiter{client: client, keys: newKeys(cfg)}, nil
}

// KEYS: counter. ARGV: window ms. Returns {count, ms left in the window}.
var allowScript = goredis.NewScript(`
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if n == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}
`)

// Allow counts one attempt for key in the current window and reports whether it is within
// limit; when it is not, retryAfter is the time until the window ends.
func (l *RateLimiter) Allow(ctx context.Context, key string, limit int, window time.Duration) (bool, time.Duration, error) {
	if window < time.Millisecond {
		return false, 0, fmt.Errorf("redis: rate limit %q: window %v shorter than a millisecond", key, window)
	}
	res, err := allowScript.Run(ctx, l.client, []string{l.keys.limit(window, key)}, window.Milliseconds()).Int64Slice()
	if err != nil {
		return false, 0, wrap("rate limit", err)
	}
	if len(res) != 2 {
		return false, 0, fmt.Errorf("redis: rate limit: malformed reply %v", res)
	}
	if res[0] <= int64(limit) {
		return true, 0, nil
	}
	return false, min(max(time.Duration(res[1])*time.Millisecond, time.Millisecond), window), nil
}

// KEYS: counter. Returns {count, ms left in the window}; {0, 0} when there is no window.
var countScript = goredis.NewScript(`
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  return {0, 0}
end
return {n, ttl}
`)

// Count returns the attempts counted for key in its current window, without counting one.
func (l *RateLimiter) Count(ctx context.Context, key string, window time.Duration) (int, time.Duration, error) {
	if window < time.Millisecond {
		return 0, 0, fmt.Errorf("redis: rate limit %q: window %v shorter than a millisecond", key, window)
	}
	res, err := countScript.Run(ctx, l.client, []string{l.keys.limit(window, key)}).Int64Slice()
	if err != nil {
		return 0, 0, wrap("rate limit count", err)
	}
	if len(res) != 2 {
		return 0, 0, fmt.Errorf("redis: rate limit count: malformed reply %v", res)
	}
	return int(res[0]), time.Duration(res[1]) * time.Millisecond, nil
}
