package redis

import (
	"context"
	"fmt"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/keygate/keygate/core/revocation"
	"github.com/keygate/keygate/ports"
)

// RevocationStore is a ports.RevocationStore on Redis. Entries live in a hash
// ("{p}:rev:entries", field "<kind>:<key>", value "<not-before ns> <expiry ns>", each 20
// digits) and a sorted set of the same fields scored by expiry in milliseconds
// ("{p}:rev:expiry"); "{p}:rev:seq" counts revocations. Revoke and Snapshot are each one Lua
// script, so a snapshot's entries and sequence number are read atomically together. Revoke
// also drops up to 100 expired entries. With AOF (appendfsync always) an acknowledged Revoke
// survives a restart. Safe for concurrent use.
type RevocationStore struct {
	client goredis.UniversalClient
	keys   keys
}

var _ ports.RevocationStore = (*RevocationStore)(nil)

// NewRevocationStore returns a RevocationStore on client with cfg's prefix.
func NewRevocationStore(client goredis.UniversalClient, cfg Config) (*RevocationStore, error) {
	if client == nil {
		return nil, fmt.Errorf("redis: revocation store: nil client")
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &RevocationStore{client: client, keys: newKeys(cfg)}, nil
}

// later(a, b) compares two 20-digit decimal strings as numbers in two exact halves (Lua
// numbers are doubles).
const revokeLua = nowMillisLua + `
local function later(a, b)
  local ah, bh = tonumber(string.sub(a, 1, 10)), tonumber(string.sub(b, 1, 10))
  if ah ~= bh then return ah > bh end
  return tonumber(string.sub(a, 11, 20)) > tonumber(string.sub(b, 11, 20))
end
local seq = redis.call('INCR', KEYS[1])
local gone = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 100)
if #gone > 0 then
  redis.call('HDEL', KEYS[2], unpack(gone))
  redis.call('ZREM', KEYS[3], unpack(gone))
end
local exp_ms = tonumber(ARGV[4])
if exp_ms > now then
  local nbf, exp = ARGV[2], ARGV[3]
  local score = redis.call('ZSCORE', KEYS[3], ARGV[1])
  if score and tonumber(score) > now then
    local old = redis.call('HGET', KEYS[2], ARGV[1])
    if old then
      local onbf, oexp = string.sub(old, 1, 20), string.sub(old, 22, 41)
      if later(onbf, nbf) then nbf = onbf end
      if later(oexp, exp) then exp = oexp end
    end
  end
  redis.call('HSET', KEYS[2], ARGV[1], nbf .. ' ' .. exp)
  redis.call('ZADD', KEYS[3], 'GT', exp_ms, ARGV[1])
end
return seq
`

const snapshotLua = nowMillisLua + `
local seq = redis.call('GET', KEYS[1]) or '0'
local live = redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. now, '+inf')
local out = {seq}
for i = 1, #live do
  local v = redis.call('HGET', KEYS[2], live[i])
  if v then
    out[#out + 1] = live[i]
    out[#out + 1] = v
  end
end
return out
`

var (
	revokeScript   = goredis.NewScript(revokeLua)
	snapshotScript = goredis.NewScript(snapshotLua)
)

// pad20 formats a non-negative decimal of at most 20 digits to exactly 20.
func pad20(s string) string {
	if strings.HasPrefix(s, "-") {
		s = "0" // a time before 1970: as early as we can say
	}
	return strings.Repeat("0", 20-len(s)) + s
}

// Revoke stores e merged with any live entry for the same kind and key, and returns its
// sequence number. An entry already expired (by the server's clock) is counted and forgotten.
func (s *RevocationStore) Revoke(ctx context.Context, e revocation.Entry) (uint64, error) {
	if err := e.Validate(); err != nil {
		return 0, fmt.Errorf("redis: revoke: %w", err)
	}
	field := string(e.Kind) + ":" + e.Key
	seq, err := revokeScript.Run(ctx, s.client,
		[]string{s.keys.revSeq(), s.keys.revEntries(), s.keys.revExpiry()},
		field, pad20(nanos(e.NotBefore)), pad20(nanos(e.ExpiresAt)), ceilMillis(e.ExpiresAt)).Int64()
	if err != nil {
		return 0, wrap("revoke", err)
	}
	return uint64(seq), nil
}

// Snapshot returns every entry not yet expired and the sequence number of the last Revoke,
// read atomically together.
func (s *RevocationStore) Snapshot(ctx context.Context) (revocation.Snapshot, error) {
	raw, err := snapshotScript.Run(ctx, s.client,
		[]string{s.keys.revSeq(), s.keys.revEntries(), s.keys.revExpiry()}).StringSlice()
	if err != nil {
		return revocation.Snapshot{}, wrap("snapshot", err)
	}
	if len(raw) == 0 || len(raw)%2 != 1 {
		return revocation.Snapshot{}, fmt.Errorf("redis: snapshot: malformed reply of %d items", len(raw))
	}
	seq, err := parseSeq(raw[0])
	if err != nil {
		return revocation.Snapshot{}, fmt.Errorf("redis: snapshot: %w", err)
	}
	snap := revocation.Snapshot{Seq: seq, Entries: make([]revocation.Entry, 0, len(raw)/2)}
	for i := 1; i < len(raw); i += 2 {
		e, err := decodeEntry(raw[i], raw[i+1])
		if err != nil {
			return revocation.Snapshot{}, fmt.Errorf("redis: snapshot: %w", err)
		}
		snap.Entries = append(snap.Entries, e)
	}
	return snap, nil
}

// Seq returns the sequence number of the last Revoke (0 if none).
func (s *RevocationStore) Seq(ctx context.Context) (uint64, error) {
	v, err := s.client.Get(ctx, s.keys.revSeq()).Result()
	switch {
	case err == goredis.Nil:
		return 0, nil
	case err != nil:
		return 0, wrap("seq", err)
	}
	seq, err := parseSeq(v)
	if err != nil {
		return 0, fmt.Errorf("redis: seq: %w", err)
	}
	return seq, nil
}

func parseSeq(s string) (uint64, error) {
	var n uint64
	if _, err := fmt.Sscan(s, &n); err != nil {
		return 0, fmt.Errorf("bad sequence number %q", s)
	}
	return n, nil
}

// decodeEntry reverses Revoke's field and value.
func decodeEntry(field, value string) (revocation.Entry, error) {
	kind, key, ok := strings.Cut(field, ":")
	nbfS, expS, ok2 := strings.Cut(value, " ")
	if !ok || !ok2 {
		return revocation.Entry{}, fmt.Errorf("malformed entry %q", field)
	}
	nbf, err := parseNanos(strings.TrimLeft(nbfS, "0"))
	if err != nil {
		return revocation.Entry{}, err
	}
	exp, err := parseNanos(strings.TrimLeft(expS, "0"))
	if err != nil {
		return revocation.Entry{}, err
	}
	return revocation.Entry{Kind: revocation.Kind(kind), Key: key, NotBefore: nbf, ExpiresAt: exp}, nil
}
