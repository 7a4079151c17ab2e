package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/keygate/keygate/core/onetime"
	"github.com/keygate/keygate/ports"
)

// OneTimeTokenStore is a ports.OneTimeTokenStore on Redis: a token is one string key
// "{p}:ott:<purpose>:<hash>" written with SET NX PXAT (Redis expires it at the token's
// expiry, by the server's clock) and taken with GETDEL, one atomic command, so of concurrent
// Takes exactly one gets it. The value is JSON of the user id, the stamp and the expiry.
// Safe for concurrent use.
type OneTimeTokenStore struct {
	client goredis.UniversalClient
	keys   keys
}

var _ ports.OneTimeTokenStore = (*OneTimeTokenStore)(nil)

// NewOneTimeTokenStore returns a OneTimeTokenStore on client with cfg's prefix.
func NewOneTimeTokenStore(client goredis.UniversalClient, cfg Config) (*OneTimeTokenStore, error) {
	if client == nil {
		return nil, fmt.Errorf("redis: one-time token store: nil client")
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &OneTimeTokenStore{client: client, keys: newKeys(cfg)}, nil
}

type ottValue struct {
	User      string `json:"u"`
	Stamp     string `json:"s"`
	ExpiresMS int64  `json:"e"`
}

// KEYS: token. ARGV: value, expiry ms. Returns 1 stored, 0 exists, 2 already expired (nothing
// written).
var putOneTimeScript = goredis.NewScript(nowMillisLua + `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if tonumber(ARGV[2]) <= now then return 2 end
redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2])
return 1
`)

// Put implements ports.OneTimeTokenStore, in one script: the expiry is judged by the server's
// clock, as Redis will apply it.
func (s *OneTimeTokenStore) Put(ctx context.Context, t onetime.Token) error {
	v, err := json.Marshal(ottValue{User: t.UserID, Stamp: t.Stamp, ExpiresMS: t.ExpiresAt.UnixMilli()})
	if err != nil {
		return fmt.Errorf("redis: put one-time token: %w", err)
	}
	n, err := putOneTimeScript.Run(ctx, s.client, []string{s.keys.oneTime(string(t.Purpose), t.Hash)},
		v, t.ExpiresAt.UnixMilli()).Int()
	if err != nil {
		return wrap("put one-time token", err)
	}
	if n == 0 {
		return fmt.Errorf("redis: put one-time token: %w", ports.ErrConflict)
	}
	return nil
}

// Take implements ports.OneTimeTokenStore with GETDEL.
func (s *OneTimeTokenStore) Take(ctx context.Context, p onetime.Purpose, hash string) (onetime.Token, error) {
	b, err := s.client.GetDel(ctx, s.keys.oneTime(string(p), hash)).Bytes()
	switch {
	case errors.Is(err, goredis.Nil):
		return onetime.Token{}, fmt.Errorf("redis: take one-time token: %w", ports.ErrNotFound)
	case err != nil:
		return onetime.Token{}, wrap("take one-time token", err)
	}
	var v ottValue
	if err := json.Unmarshal(b, &v); err != nil {
		return onetime.Token{}, fmt.Errorf("redis: take one-time token: malformed value: %w", err)
	}
	// A key past its PXAT is never returned: Redis checks the expiry on every access.
	return onetime.Token{Hash: hash, Purpose: p, UserID: v.User, Stamp: v.Stamp,
		ExpiresAt: time.UnixMilli(v.ExpiresMS).UTC()}, nil
}
