package redis

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/keygate/keygate/core/backoff"
	"github.com/keygate/keygate/core/session"
	"github.com/keygate/keygate/ports"
)

// SessionStore is a ports.SessionStore on Redis. A session is a hash "{p}:sess:<sid>" that
// Redis expires at the session's absolute expiry (PEXPIREAT), with a version field; a user's
// sessions are indexed by the set "{p}:usess:<uid>", which expires with the user's last
// session. Update is optimistic: it reads the session, calls fn, and writes the result with a
// Lua script only if the version is unchanged, retrying otherwise; Updates of one session from
// this process are also queued on a local lock, so they rarely retry. Safe for concurrent use.
type SessionStore struct {
	client goredis.UniversalClient
	keys   keys
	locks  [64]chan struct{} // one-slot semaphores, so a wait can end with its context
	seed   maphash.Seed
}

var _ ports.SessionStore = (*SessionStore)(nil)

// NewSessionStore returns a SessionStore on client with cfg's prefix.
func NewSessionStore(client goredis.UniversalClient, cfg Config) (*SessionStore, error) {
	if client == nil {
		return nil, fmt.Errorf("redis: session store: nil client")
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	st := &SessionStore{client: client, keys: newKeys(cfg), seed: maphash.MakeSeed()}
	for i := range st.locks {
		st.locks[i] = make(chan struct{}, 1)
	}
	return st, nil
}

// maxUpdateAttempts bounds Update's optimistic retries under contention from other processes.
const maxUpdateAttempts = 50

// extendLua is a Lua function that makes key expire no earlier than exp (ms).
const extendLua = `
local function extend(key, exp)
  local cur = redis.call('PEXPIRETIME', key)
  if cur == -1 or cur < tonumber(exp) then redis.call('PEXPIREAT', key, exp) end
end
`

// KEYS: session, user index. ARGV: expiry ms, sid, key base, field/value pairs.
// Returns 1 created, 0 exists, 2 already expired (nothing written).
// Redis expires sessions but not their ids in the index, which a user who keeps logging in
// keeps alive: each Create checks up to 10 ids at random and drops those whose session is
// gone, so expired ids stay a bounded fraction of the index.
const createLua = nowMillisLua + extendLua + `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if tonumber(ARGV[1]) <= now then return 2 end
redis.call('HSET', KEYS[1], 'v', '1', unpack(ARGV, 4))
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
local sample = redis.call('SRANDMEMBER', KEYS[2], 10)
for i = 1, #sample do
  if redis.call('EXISTS', ARGV[3] .. 'sess:' .. sample[i]) == 0 then
    redis.call('SREM', KEYS[2], sample[i])
  end
end
redis.call('SADD', KEYS[2], ARGV[2])
extend(KEYS[2], ARGV[1])
return 1
`

// KEYS: session, old user index, new user index. ARGV: expected version, expiry ms, sid,
// field/value pairs. Returns 1 written, 0 version changed, -1 gone.
const updateLua = extendLua + `
local v = redis.call('HGET', KEYS[1], 'v')
if not v then return -1 end
if v ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', tostring(tonumber(v) + 1), unpack(ARGV, 4))
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
if KEYS[2] ~= KEYS[3] then redis.call('SREM', KEYS[2], ARGV[3]) end
redis.call('SADD', KEYS[3], ARGV[3])
extend(KEYS[3], ARGV[2])
return 1
`

// updateSeenLua is updateLua against the session's content instead of its version: it writes
// only if every field of the stored session equals the caller's expectation, and otherwise
// returns the session as stored, so the caller's retry needs no read. With same = "1" (the
// user and the expiry are those of the expectation, as in a refresh) the fields are
// overwritten in place: the key's expiry and the user's index are already right.
// KEYS: session, old user index, new user index. ARGV: 2n, n expected field/value pairs,
// expiry ms, sid, same, new field/value pairs. Returns {1} written, {-1} gone, or {0, field,
// value, ...} changed.
const updateSeenLua = extendLua + `
local cur = redis.call('HGETALL', KEYS[1])
if #cur == 0 then return {-1} end
local m = {}
for i = 1, #cur, 2 do m[cur[i]] = cur[i + 1] end
local n = tonumber(ARGV[1])
for i = 2, n, 2 do
  if m[ARGV[i]] ~= ARGV[i + 1] then
    table.insert(cur, 1, 0)
    return cur
  end
end
local exp, sid = ARGV[n + 2], ARGV[n + 3]
local v = tostring(tonumber(m['v'] or '0') + 1)
if ARGV[n + 4] == '1' then
  redis.call('HSET', KEYS[1], 'v', v, unpack(ARGV, n + 5))
  return {1}
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', v, unpack(ARGV, n + 5))
redis.call('PEXPIREAT', KEYS[1], exp)
if KEYS[2] ~= KEYS[3] then redis.call('SREM', KEYS[2], sid) end
redis.call('SADD', KEYS[3], sid)
extend(KEYS[3], exp)
return {1}
`

// KEYS: session. ARGV: key base, sid. The index key is derived from the session's user, in the
// same hash slot. Returns 1 deleted, 0 none.
const deleteLua = `
local u = redis.call('HGET', KEYS[1], 'u')
if not u then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SREM', ARGV[1] .. 'usess:' .. u, ARGV[2])
return 1
`

// KEYS: user index. ARGV: key base, user id. Returns the ids of the sessions deleted.
const deleteByUserLua = `
local sids = redis.call('SMEMBERS', KEYS[1])
local out = {}
for i = 1, #sids do
  local k = ARGV[1] .. 'sess:' .. sids[i]
  if redis.call('HGET', k, 'u') == ARGV[2] then
    redis.call('DEL', k)
    out[#out + 1] = sids[i]
  end
end
redis.call('DEL', KEYS[1])
return out
`

var (
	createScript       = goredis.NewScript(createLua)
	updateScript       = goredis.NewScript(updateLua)
	updateSeenScript   = goredis.NewScript(updateSeenLua)
	deleteScript       = goredis.NewScript(deleteLua)
	deleteByUserScript = goredis.NewScript(deleteByUserLua)
)

// sessionFields returns s as hash field/value pairs (the version excluded).
func sessionFields(s session.Session) []any {
	return []any{
		"id", s.ID, "u", s.UserID, "c", s.ClientID, "g", strconv.FormatUint(s.Generation, 10),
		"r", nanos(s.RotatedAt), "ca", nanos(s.CreatedAt), "lu", nanos(s.LastUsedAt),
		"x", nanos(s.ExpiresAt), "ua", s.UserAgent, "ip", s.RemoteIP,
	}
}

// decodeSession reverses sessionFields and returns the version too.
func decodeSession(m map[string]string) (session.Session, string, error) {
	s := session.Session{ID: m["id"], UserID: m["u"], ClientID: m["c"], UserAgent: m["ua"], RemoteIP: m["ip"]}
	var err error
	if s.Generation, err = strconv.ParseUint(m["g"], 10, 64); err != nil {
		return session.Session{}, "", fmt.Errorf("malformed session %q: generation", s.ID)
	}
	for _, f := range []struct {
		dst *time.Time
		key string
	}{{&s.RotatedAt, "r"}, {&s.CreatedAt, "ca"}, {&s.LastUsedAt, "lu"}, {&s.ExpiresAt, "x"}} {
		if *f.dst, err = parseNanos(m[f.key]); err != nil {
			return session.Session{}, "", fmt.Errorf("malformed session %q: %w", s.ID, err)
		}
	}
	return s, m["v"], nil
}

// Create stores s; ErrConflict if its ID exists. A session already past its expiry (by the
// server's clock) is accepted and never readable.
func (st *SessionStore) Create(ctx context.Context, s session.Session) error {
	args := append([]any{ceilMillis(s.ExpiresAt), s.ID, st.keys.base}, sessionFields(s)...)
	res, err := createScript.Run(ctx, st.client,
		[]string{st.keys.session(s.ID), st.keys.userSessions(s.UserID)}, args...).Int()
	switch {
	case err != nil:
		return wrap("create session", err)
	case res == 0:
		return fmt.Errorf("redis: create session: %w", ports.ErrConflict)
	}
	return nil
}

// Get returns session sid or ErrNotFound.
func (st *SessionStore) Get(ctx context.Context, sid string) (session.Session, error) {
	s, _, err := st.get(ctx, sid)
	if err != nil {
		return session.Session{}, fmt.Errorf("redis: get session: %w", err)
	}
	return s, nil
}

func (st *SessionStore) get(ctx context.Context, sid string) (session.Session, string, error) {
	m, err := st.client.HGetAll(ctx, st.keys.session(sid)).Result()
	switch {
	case err != nil:
		return session.Session{}, "", wrap("read", err)
	case len(m) == 0:
		return session.Session{}, "", ports.ErrNotFound
	}
	return decodeSession(m)
}

// lock takes the local lock of sid's stripe, or gives up when ctx ends, and returns its
// release. An Update queued behind a slow one answers within its caller's budget.
func (st *SessionStore) lock(ctx context.Context, sid string) (func(), error) {
	l := st.locks[maphash.String(st.seed, sid)%uint64(len(st.locks))]
	select {
	case l <- struct{}{}:
		return func() { <-l }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Update atomically applies fn to session sid and stores the result; fn may run more than
// once. The session keeps its ID; a changed UserID moves it between users' lists. With seen
// (the session as the caller read it) the first attempt is one script that writes only if the
// stored session is still exactly seen, and hands back the stored one if not: one round trip
// instead of a read and a write. An error of fn is returned only when fn ran on the session as
// stored.
func (st *SessionStore) Update(ctx context.Context, sid string, seen *session.Session, fn func(*session.Session) error) (session.Session, error) {
	unlock, err := st.lock(ctx, sid)
	if err != nil {
		return session.Session{}, wrap("update session", err)
	}
	defer unlock()
	var known map[string]string // the stored session, when the seen attempt returned it
	if seen != nil && seen.ID == sid {
		s := *seen
		if err := fn(&s); err == nil {
			s.ID = sid
			cur, done, err := st.updateSeen(ctx, sid, *seen, s)
			switch {
			case err != nil:
				return session.Session{}, err
			case done:
				return s, nil
			}
			known = cur
		}
		// fn refused seen: ask it again about the session as stored.
	}
	for attempt := range maxUpdateAttempts {
		var s session.Session
		var ver string
		var err error
		if known != nil {
			s, ver, err = decodeSession(known)
			known = nil
		} else {
			s, ver, err = st.get(ctx, sid)
		}
		if err != nil {
			return session.Session{}, fmt.Errorf("redis: update session: %w", err)
		}
		oldUser := s.UserID
		if err := fn(&s); err != nil {
			return session.Session{}, err
		}
		s.ID = sid
		args := append([]any{ver, ceilMillis(s.ExpiresAt), sid}, sessionFields(s)...)
		res, err := updateScript.Run(ctx, st.client, []string{st.keys.session(sid),
			st.keys.userSessions(oldUser), st.keys.userSessions(s.UserID)}, args...).Int()
		switch {
		case err != nil:
			return session.Session{}, wrap("update session", err)
		case res == 1:
			return s, nil
		case res == -1:
			return session.Session{}, fmt.Errorf("redis: update session: %w", ports.ErrNotFound)
		}
		// Another process wrote it first: read it again.
		if !backoff.Sleep(ctx, time.Duration(attempt+1)*time.Millisecond) {
			return session.Session{}, wrap("update session", ctx.Err())
		}
	}
	return session.Session{}, fmt.Errorf("redis: update session: %d attempts lost to concurrent writers: %w",
		maxUpdateAttempts, ports.ErrUnavailable)
}

// updateSeen writes next if session sid is stored exactly as seen. It reports done, or returns
// the session as stored; ErrNotFound when there is none.
func (st *SessionStore) updateSeen(ctx context.Context, sid string, seen, next session.Session) (map[string]string, bool, error) {
	want := sessionFields(seen)
	args := make([]any, 0, 5+len(want)*2)
	args = append(args, len(want))
	args = append(args, want...)
	same := "0"
	if next.UserID == seen.UserID && next.ExpiresAt.Equal(seen.ExpiresAt) {
		same = "1"
	}
	args = append(args, ceilMillis(next.ExpiresAt), sid, same)
	args = append(args, sessionFields(next)...)
	raw, err := updateSeenScript.Run(ctx, st.client, []string{st.keys.session(sid),
		st.keys.userSessions(seen.UserID), st.keys.userSessions(next.UserID)}, args...).Slice()
	if err != nil {
		return nil, false, wrap("update session", err)
	}
	if len(raw) == 0 {
		return nil, false, errors.New("redis: update session: empty reply")
	}
	switch code, _ := raw[0].(int64); code {
	case 1:
		return nil, true, nil
	case -1:
		return nil, false, fmt.Errorf("redis: update session: %w", ports.ErrNotFound)
	}
	cur := make(map[string]string, len(raw)/2)
	for i := 1; i+1 < len(raw); i += 2 {
		k, _ := raw[i].(string)
		v, _ := raw[i+1].(string)
		cur[k] = v
	}
	return cur, false, nil
}

// Delete removes session sid; ErrNotFound if there is none.
func (st *SessionStore) Delete(ctx context.Context, sid string) error {
	res, err := deleteScript.Run(ctx, st.client, []string{st.keys.session(sid)}, st.keys.base, sid).Int()
	switch {
	case err != nil:
		return wrap("delete session", err)
	case res == 0:
		return fmt.Errorf("redis: delete session: %w", ports.ErrNotFound)
	}
	return nil
}

// ListByUser returns the user's sessions, in any order.
func (st *SessionStore) ListByUser(ctx context.Context, userID string) ([]session.Session, error) {
	sids, err := st.client.SMembers(ctx, st.keys.userSessions(userID)).Result()
	if err != nil {
		return nil, wrap("list sessions", err)
	}
	if len(sids) == 0 {
		return nil, nil
	}
	cmds := make([]*goredis.MapStringStringCmd, len(sids))
	_, err = st.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, sid := range sids {
			cmds[i] = p.HGetAll(ctx, st.keys.session(sid))
		}
		return nil
	})
	if err != nil {
		return nil, wrap("list sessions", err)
	}
	out := make([]session.Session, 0, len(sids))
	for _, c := range cmds {
		m := c.Val()
		if len(m) == 0 {
			continue // expired or deleted since the index was read
		}
		s, _, err := decodeSession(m)
		if err != nil {
			return nil, fmt.Errorf("redis: list sessions: %w", err)
		}
		if s.UserID == userID {
			out = append(out, s)
		}
	}
	return out, nil
}

// DeleteByUser removes every session of the user, atomically, and returns their ids.
func (st *SessionStore) DeleteByUser(ctx context.Context, userID string) ([]string, error) {
	ids, err := deleteByUserScript.Run(ctx, st.client, []string{st.keys.userSessions(userID)},
		st.keys.base, userID).StringSlice()
	if err != nil && !errors.Is(err, goredis.Nil) {
		return nil, wrap("delete user sessions", err)
	}
	return ids, nil
}
