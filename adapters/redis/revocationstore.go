package redis

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/keygate/keygate/core/revocation"
	"github.com/keygate/keygate/ports"
)

// RevocationStore is a ports.RevocationStore on Redis. Entries live in a hash
// ("{p}:rev:entries", field "<kind>:<key>", value "<not-before ns> <expiry ns>", each 20
// digits) and a sorted set of the same fields scored by expiry in milliseconds
// ("{p}:rev:expiry"); "{p}:rev:seq" counts revocations, and the stream "{p}:rev:log" (entry id
// "<seq>-0", capped at about Config.ReplayLog) replays the latest ones. Revoke is one Lua
// script that stores, logs and publishes on the EventBus channel of the same prefix (it also
// drops up to 100 expired entries), plus a WAIT in the same round trip when
// Config.RevokeReplicas asks for one. No call is proportional to the size of the set: a
// Snapshot reads the sequence number, then the hash in chunks (HSCAN, Config.SnapshotChunk
// entries a call), then the revocations made meanwhile from the log, and merges them. Safe
// for concurrent use.
type RevocationStore struct {
	client   goredis.UniversalClient
	keys     keys
	keep     int
	chunk    int
	replicas int
	wait     time.Duration
}

var _ ports.RevocationStore = (*RevocationStore)(nil)

// NewRevocationStore returns a RevocationStore on client with cfg's prefix, replay log,
// snapshot chunk and revoke durability.
func NewRevocationStore(client goredis.UniversalClient, cfg Config) (*RevocationStore, error) {
	if client == nil {
		return nil, fmt.Errorf("redis: revocation store: nil client")
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &RevocationStore{client: client, keys: newKeys(cfg),
		keep: cmp.Or(cfg.ReplayLog, DefaultReplayLog), chunk: cmp.Or(cfg.SnapshotChunk, DefaultSnapshotChunk),
		replicas: cfg.RevokeReplicas, wait: orDefault(cfg.RevokeWait, time.Second)}, nil
}

// later(a, b) compares two 20-digit decimal strings as numbers in two exact halves (Lua
// numbers are doubles). The log entry carries the entry as given (not merged): replaying it
// merges the same way. A log whose last id is not below the new seq (the counter was reset
// under it) is dropped and restarted.
// The event is published last, as "<ARGV[7]><seq><ARGV[8]>" (the wire form of the EventBus).
// KEYS: seq, entries, expiry, log. ARGV: field, nbf, exp, exp ms, log size, channel, event
// head, event tail.
const revokeLua = nowMillisLua + `
local function later(a, b)
  local ah, bh = tonumber(string.sub(a, 1, 10)), tonumber(string.sub(b, 1, 10))
  if ah ~= bh then return ah > bh end
  return tonumber(string.sub(a, 11, 20)) > tonumber(string.sub(b, 11, 20))
end
local seq = redis.call('INCR', KEYS[1])
local id = tostring(seq) .. '-0'
local logged = redis.pcall('XADD', KEYS[4], 'MAXLEN', '~', ARGV[5], id, 'f', ARGV[1], 'v', ARGV[2] .. ' ' .. ARGV[3], 't', now)
if type(logged) == 'table' and logged.err then
  redis.call('DEL', KEYS[4])
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[5], id, 'f', ARGV[1], 'v', ARGV[2] .. ' ' .. ARGV[3], 't', now)
end
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
redis.call('PUBLISH', ARGV[6], ARGV[7] .. tostring(seq) .. ARGV[8])
return seq
`

// sinceLua returns {seq, status, id, field, value, time, ...}: status "ok" with the log's
// entries after ARGV[1] (at most ARGV[3]), "ahead" when ARGV[1] is past the store, "trimmed"
// when the log no longer starts at ARGV[2] (the id after ARGV[1]).
// KEYS: seq, log. ARGV: after, next id, limit.
const sinceLua = `
local seq = redis.call('GET', KEYS[1]) or '0'
local after, cur = tonumber(ARGV[1]), tonumber(seq)
if after == cur then return {seq, 'ok'} end
if after > cur then return {seq, 'ahead'} end
local evs = redis.call('XRANGE', KEYS[2], ARGV[2], '+', 'COUNT', ARGV[3])
if #evs == 0 or evs[1][1] ~= ARGV[2] then return {seq, 'trimmed'} end
local out = {seq, 'ok'}
for i = 1, #evs do
  local f = evs[i][2]
  out[#out + 1] = evs[i][1]
  out[#out + 1] = f[2]
  out[#out + 1] = f[4]
  out[#out + 1] = f[6]
end
return out
`

var (
	revokeScript = goredis.NewScript(revokeLua)
	sinceScript  = goredis.NewScript(sinceLua)
)

// pad20 formats a non-negative decimal of at most 20 digits to exactly 20.
func pad20(s string) string {
	if strings.HasPrefix(s, "-") {
		s = "0" // a time before 1970: as early as we can say
	}
	return strings.Repeat("0", 20-len(s)) + s
}

// Revoke stores e merged with any live entry for the same kind and key, logs it, publishes it
// on the EventBus of the same prefix (PublishedAt: now by this process's clock), and returns
// its sequence number, in one script: one round trip. An entry already expired (by the server's clock) is counted, logged
// and forgotten. With Config.RevokeReplicas it returns once that many replicas hold it, or
// fails with ports.ErrUnavailable (the entry is stored on the primary; a retry is harmless).
func (s *RevocationStore) Revoke(ctx context.Context, e revocation.Entry) (uint64, error) {
	if err := e.Validate(); err != nil {
		return 0, fmt.Errorf("redis: revoke: %w", err)
	}
	keys := []string{s.keys.revSeq(), s.keys.revEntries(), s.keys.revExpiry(), s.keys.revLog()}
	head, tail := splitEvent(revocation.Event{Kind: revocation.EventRevoked, Entry: e, PublishedAt: time.Now()})
	args := []any{string(e.Kind) + ":" + e.Key, pad20(nanos(e.NotBefore)), pad20(nanos(e.ExpiresAt)),
		ceilMillis(e.ExpiresAt), s.keep, s.keys.events(), head, tail}
	if s.replicas <= 0 {
		seq, err := revokeScript.Run(ctx, s.client, keys, args...).Int64()
		if err != nil {
			return 0, wrap("revoke", err)
		}
		return uint64(seq), nil
	}
	// The script and the WAIT in one round trip, on one connection (WAIT counts the
	// replicas that hold every write of its connection so far).
	run := func(eval func(p goredis.Pipeliner) *goredis.Cmd) (*goredis.Cmd, *goredis.Cmd, error) {
		var sc, wc *goredis.Cmd
		_, err := s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
			sc = eval(p)
			wc = p.Do(ctx, "WAIT", s.replicas, s.wait.Milliseconds())
			return nil
		})
		return sc, wc, err
	}
	sc, wc, err := run(func(p goredis.Pipeliner) *goredis.Cmd { return revokeScript.EvalSha(ctx, p, keys, args...) })
	if err != nil && goredis.HasErrorPrefix(sc.Err(), "NOSCRIPT") {
		sc, wc, err = run(func(p goredis.Pipeliner) *goredis.Cmd { return revokeScript.Eval(ctx, p, keys, args...) })
	}
	if err != nil {
		return 0, wrap("revoke", err)
	}
	seq, err := sc.Int64()
	if err != nil {
		return 0, wrap("revoke", err)
	}
	if n, _ := wc.Int64(); n < int64(s.replicas) {
		return 0, fmt.Errorf("redis: revoke: seq %d held by %d of %d replicas after %v: %w",
			seq, n, s.replicas, s.wait, ports.ErrUnavailable)
	}
	return uint64(seq), nil
}

// Snapshot returns every entry not yet expired and the sequence number of the last revocation
// it includes. It reads the sequence number and the server's time, the hash in chunks, then
// the revocations made since the first read from the log; none of these calls grows with the
// set. An entry appears twice only when the hash was resized during the scan (HSCAN's rule). If the log was trimmed past its watermark meanwhile (more than Config.ReplayLog
// revocations during one snapshot) it starts over, at most three times.
func (s *RevocationStore) Snapshot(ctx context.Context) (revocation.Snapshot, error) {
	var err error
	for range 3 {
		var snap revocation.Snapshot
		if snap, err = s.snapshot(ctx); !errors.Is(err, ports.ErrNotFound) {
			return snap, err
		}
	}
	return revocation.Snapshot{}, fmt.Errorf("redis: snapshot: revocations outran the replay log three times: %w", ports.ErrUnavailable)
}

func (s *RevocationStore) snapshot(ctx context.Context) (revocation.Snapshot, error) {
	var seqCmd *goredis.StringCmd
	var timeCmd *goredis.TimeCmd
	var roleCmd *goredis.Cmd
	_, _ = s.client.Pipelined(ctx, func(p goredis.Pipeliner) error { // each command's error is read below
		seqCmd = p.Get(ctx, s.keys.revSeq())
		timeCmd = p.Time(ctx)
		roleCmd = p.Do(ctx, "ROLE")
		return nil
	})
	if err := replicaLinked(roleCmd); err != nil {
		return revocation.Snapshot{}, wrap("snapshot", err)
	}
	if err := cmp.Or(timeCmd.Err(), seqCmd.Err()); err != nil && !errors.Is(err, goredis.Nil) {
		return revocation.Snapshot{}, wrap("snapshot", err)
	}
	watermark := uint64(0)
	if v, err := seqCmd.Result(); err == nil {
		if watermark, err = parseSeq(v); err != nil {
			return revocation.Snapshot{}, fmt.Errorf("redis: snapshot: %w", err)
		}
	}
	now := timeCmd.Val()
	var entries []revocation.Entry
	var cursor uint64
	for {
		page, next, err := s.client.HScan(ctx, s.keys.revEntries(), cursor, "", int64(s.chunk)).Result()
		if err != nil {
			return revocation.Snapshot{}, wrap("snapshot", err)
		}
		if entries == nil {
			entries = make([]revocation.Entry, 0, len(page)/2)
		}
		for i := 0; i+1 < len(page); i += 2 {
			e, err := decodeEntry(page[i], page[i+1])
			if err != nil {
				return revocation.Snapshot{}, fmt.Errorf("redis: snapshot: %w", err)
			}
			if now.Before(e.ExpiresAt) {
				entries = append(entries, e)
			}
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	seq := watermark
	var logged []revocation.Entry
	for {
		evs, err := s.Since(ctx, seq, 10_000)
		if err != nil {
			return revocation.Snapshot{}, err
		}
		if len(evs) == 0 {
			break
		}
		for _, ev := range evs {
			if now.Before(ev.Entry.ExpiresAt) {
				logged = append(logged, ev.Entry)
			}
		}
		seq = evs[len(evs)-1].Seq
	}
	return revocation.Snapshot{Seq: seq, Entries: mergeLogged(entries, logged)}, nil
}

// mergeLogged returns the scanned entries with the logged ones merged in, each (kind, key)
// once: the log replays revocations the scan may have seen already. The cost is one lookup
// per scanned entry in a map of the (few) logged keys, and nothing when none were logged.
func mergeLogged(scanned, logged []revocation.Entry) []revocation.Entry {
	if len(logged) == 0 {
		return scanned
	}
	type key struct {
		kind revocation.Kind
		key  string
	}
	idx := make(map[key]int, len(logged))
	merged := logged[:0]
	for _, e := range logged {
		k := key{e.Kind, e.Key}
		if i, ok := idx[k]; ok {
			merged[i] = revocation.Merge(merged[i], e)
			continue
		}
		idx[k] = len(merged)
		merged = append(merged, e)
	}
	out := scanned[:0]
	for _, e := range scanned {
		if i, ok := idx[key{e.Kind, e.Key}]; ok {
			merged[i] = revocation.Merge(merged[i], e)
			continue
		}
		out = append(out, e)
	}
	return append(out, merged...)
}

// Since returns the revocations after seq from the replay log, at most limit (default
// 10,000), or ports.ErrNotFound when the log no longer holds seq+1 or seq is past the store;
// ports.ErrUnavailable from a replica cut off from its primary (see replicaLinked).
func (s *RevocationStore) Since(ctx context.Context, seq uint64, limit int) ([]revocation.Event, error) {
	if limit <= 0 {
		limit = 10_000
	}
	if err := replicaLinked(s.client.Do(ctx, "ROLE")); err != nil {
		return nil, wrap("revocations since", err)
	}
	raw, err := sinceScript.Run(ctx, s.client, []string{s.keys.revSeq(), s.keys.revLog()},
		seq, strconv.FormatUint(seq+1, 10)+"-0", limit).StringSlice()
	if err != nil {
		return nil, wrap("revocations since", err)
	}
	if len(raw) < 2 || (len(raw)-2)%4 != 0 {
		return nil, fmt.Errorf("redis: revocations since: malformed reply of %d items", len(raw))
	}
	if raw[1] != "ok" {
		return nil, fmt.Errorf("redis: revocations since %d: log %s (store at %s): %w", seq, raw[1], raw[0], ports.ErrNotFound)
	}
	out := make([]revocation.Event, 0, (len(raw)-2)/4)
	for i := 2; i < len(raw); i += 4 {
		n, _, _ := strings.Cut(raw[i], "-")
		evSeq, err := parseSeq(n)
		if err != nil {
			return nil, fmt.Errorf("redis: revocations since: %w", err)
		}
		e, err := decodeEntry(raw[i+1], raw[i+2])
		if err != nil {
			return nil, fmt.Errorf("redis: revocations since: %w", err)
		}
		ms, err := strconv.ParseInt(raw[i+3], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("redis: revocations since: bad time %q", raw[i+3])
		}
		out = append(out, revocation.Event{Kind: revocation.EventRevoked, Entry: e, Seq: evSeq,
			PublishedAt: time.UnixMilli(ms).UTC()})
	}
	return out, nil
}

// Seq returns the sequence number of the last Revoke (0 if none). On a replica whose link to its primary is down it fails with ports.ErrUnavailable (see
// replicaLinked): the number it holds may be behind the primary's.
func (s *RevocationStore) Seq(ctx context.Context) (uint64, error) {
	var getCmd *goredis.StringCmd
	var roleCmd *goredis.Cmd
	_, _ = s.client.Pipelined(ctx, func(p goredis.Pipeliner) error { // each command's error is read below
		getCmd = p.Get(ctx, s.keys.revSeq())
		roleCmd = p.Do(ctx, "ROLE")
		return nil
	})
	if err := replicaLinked(roleCmd); err != nil {
		return 0, wrap("seq", err)
	}
	v, err := getCmd.Result()
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

// errReplicaUnlinked is what replicaLinked reports for a replica cut off from its primary.
var errReplicaUnlinked = errors.New("replica's link to its primary is down: its revocations may be behind")

// replicaLinked reads the reply of ROLE: on a replica (a verifier in another region may read
// one) whose replication link is not "connected", it returns an error that wraps
// ports.ErrUnavailable once passed to wrap, so a feed on it never takes the replica's stale
// sequence number for proof that its set is current: its staleness grows and a fail-closed
// bound applies, as when the store is down. The replica notices a silent link only after its
// repl-timeout (default 60s; deploy/README.md, Multi-region). A ROLE that fails (an ACL user
// without it, an old server) says nothing: the caller goes on as before.
func replicaLinked(role *goredis.Cmd) error {
	if role == nil || role.Err() != nil {
		return nil
	}
	r, ok := role.Val().([]any)
	if !ok || len(r) < 4 {
		return nil
	}
	if kind, _ := r[0].(string); kind != "slave" {
		return nil
	}
	if state, _ := r[3].(string); state != "connected" {
		host, _ := r[1].(string)
		return fmt.Errorf("%w (replica of %s:%v, state %s): %w", errReplicaUnlinked, host, r[2], state, ports.ErrUnavailable)
	}
	return nil
}
