// resource-server.mjs is a resource server in Node, as a team outside Go would write it: it
// verifies keygate access tokens with jose (keys from the JWKS the issuer's RFC 8414 metadata
// names) and follows authd's revocation feed (docs/revocation-feed.md) with nothing but the
// standard library, keeping the revocation set in memory. The Go tests in test/e2e run it.
//
// Environment: ISSUER, AUDIENCE, KEYGATE_VERIFIER_TOKEN. It listens on 127.0.0.1 on a free
// port and prints "listening http://127.0.0.1:PORT".
//
//   GET  /api/whoami       Bearer token -> 200 {"sub","sid"} | 401 | 503 until the set is loaded
//   GET  /_feed            the feed's state: {"synced","last","connects","starts","entries"}
//   POST /_feed/drop       cut the feed connection and stay disconnected (test control)
//   POST /_feed/reconnect  reconnect (with Last-Event-ID)
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';

const issuer = process.env.ISSUER;
const audience = process.env.AUDIENCE;
const credential = process.env.KEYGATE_VERIFIER_TOKEN;

const metaRes = await fetch(`${issuer}/.well-known/oauth-authorization-server`);
const meta = await metaRes.json();
if (meta.issuer !== issuer) throw new Error(`metadata names issuer ${meta.issuer}, want ${issuer}`);
let jwks = createRemoteJWKSet(new URL(meta.jwks_uri));
// Kids a keys event named withdrawn: refused at once, whatever a JWKS fetched later lists.
const withdrawn = new Set();

// The revocation set: kind -> key -> {exp (ms), nb (ms, subjects only)}.
const set = { token: new Map(), session: new Map(), subject: new Map() };

function apply(e) {
  const m = set[e.kind];
  if (!m || !e.key) return; // unknown kinds are ignored
  const next = { exp: Date.parse(e.expires_at), nb: e.not_before ? Date.parse(e.not_before) : 0 };
  const old = m.get(e.key);
  if (old) {
    next.exp = Math.max(next.exp, old.exp);
    next.nb = Math.max(next.nb, old.nb);
  }
  m.set(e.key, next);
}

function replace(entries) {
  for (const m of Object.values(set)) m.clear();
  for (const e of entries) apply(e);
}

function revoked(p, now) {
  const live = (x) => x && now < x.exp;
  if (live(set.token.get(p.jti))) return true;
  if (p.sid && live(set.session.get(p.sid))) return true;
  const s = set.subject.get(p.sub);
  return live(s) && p.iat * 1000 < s.nb;
}

setInterval(() => { // prune expired entries
  const now = Date.now();
  for (const m of Object.values(set)) for (const [k, v] of m) if (now >= v.exp) m.delete(k);
}, 60_000).unref();

// The feed client (docs/revocation-feed.md, "The client's rules").
const feed = { synced: false, last: null, connects: 0, starts: [], current: 0, held: null, ctrl: null };

async function follow() {
  for (let attempt = 0; ; ) {
    if (feed.held) await feed.held.promise;
    const ctrl = new AbortController();
    feed.ctrl = ctrl;
    try {
      const headers = { authorization: `Bearer ${credential}`, accept: 'text/event-stream' };
      if (feed.last !== null) headers['last-event-id'] = String(feed.last);
      const res = await fetch(`${issuer}/revocations/feed`, { headers, signal: ctrl.signal });
      if (res.status !== 200) {
        await res.body?.cancel();
        throw new Error(`feed: status ${res.status}`);
      }
      feed.connects++;
      attempt = 0;
      await read(res.body, ctrl);
    } catch (e) {
      if (!ctrl.signal.aborted) console.error(`feed: ${e.message}`);
    }
    feed.ctrl = null;
    if (!feed.held) {
      const d = Math.min(100 * 2 ** attempt++, 30_000); // backoff with jitter over the upper half
      await sleep(d / 2 + Math.random() * d / 2);
    }
  }
}

async function read(body, ctrl) {
  let buf = '';
  let watchdog;
  let gap;
  const alive = () => { // no byte for 15 s: the connection is dead
    clearTimeout(watchdog);
    watchdog = setTimeout(() => ctrl.abort(), 15_000);
  };
  const fresh = () => { feed.last = null; ctrl.abort(); }; // reconnect for a new snapshot
  alive();
  try {
    for await (const chunk of body.pipeThrough(new TextDecoderStream())) {
      alive();
      buf += chunk.replace(/\r\n?/g, '\n');
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        let event = 'message';
        let data = '';
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) continue; // comment: keep-alive
          const c = line.indexOf(':');
          const field = c < 0 ? line : line.slice(0, c);
          const value = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
          if (field === 'event') event = value;
          else if (field === 'data') data += value;
        }
        if (data === '') continue;
        const m = JSON.parse(data);
        switch (event) {
          case 'snapshot':
            replace(m.entries);
            feed.last = m.seq;
            feed.synced = true;
            feed.current = Date.now();
            feed.starts.push('snapshot');
            break;
          case 'resumed':
            if (m.seq !== feed.last) return fresh();
            feed.starts.push('resumed');
            break;
          case 'revoked':
            apply(m);
            if (feed.last === null || m.seq > feed.last + 1) return fresh(); // a hole: never expected
            if (m.seq === feed.last + 1) feed.last = m.seq;
            break;
          case 'heartbeat':
            if (m.seq === feed.last) {
              feed.current = Date.now();
            } else if (m.seq > feed.last && !gap) {
              const want = m.seq;
              gap = setTimeout(() => { gap = null; if (feed.last < want) fresh(); }, 1000);
            }
            break;
          case 'keys':
            if (m.withdrawn) withdrawn.add(m.withdrawn);
            jwks = createRemoteJWKSet(new URL(meta.jwks_uri)); // forget cached keys: refetch
            break;
        }
      }
    }
  } finally {
    clearTimeout(watchdog);
    clearTimeout(gap);
  }
}

follow();

const send = (res, status, body, headers = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
};

const server = http.createServer(async (req, res) => {
  try {
    if (req.method === 'GET' && req.url === '/api/whoami') {
      if (!feed.synced) return send(res, 503, { error: 'revocation set not loaded' }, { 'retry-after': '1' });
      const m = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '');
      if (!m) return send(res, 401, { error: 'no token' }, { 'www-authenticate': 'Bearer' });
      let payload;
      try {
        if (withdrawn.has(decodeProtectedHeader(m[1]).kid)) throw new Error('withdrawn key');
        ({ payload } = await jwtVerify(m[1], jwks, { issuer, audience, typ: 'at+jwt', algorithms: ['EdDSA'] }));
      } catch {
        return send(res, 401, { error: 'invalid token' }, { 'www-authenticate': 'Bearer error="invalid_token"' });
      }
      if (revoked(payload, Date.now())) {
        return send(res, 401, { error: 'revoked' }, { 'www-authenticate': 'Bearer error="invalid_token"' });
      }
      return send(res, 200, { sub: payload.sub, sid: payload.sid });
    }
    if (req.method === 'GET' && req.url === '/_feed') {
      const entries = set.token.size + set.session.size + set.subject.size;
      return send(res, 200, { synced: feed.synced, last: feed.last, connects: feed.connects, starts: feed.starts, entries });
    }
    if (req.method === 'POST' && req.url === '/_feed/drop') {
      if (!feed.held) {
        let resolve;
        const promise = new Promise((r) => { resolve = r; });
        feed.held = { promise, resolve };
      }
      feed.ctrl?.abort();
      return send(res, 200, { dropped: true });
    }
    if (req.method === 'POST' && req.url === '/_feed/reconnect') {
      const h = feed.held;
      feed.held = null;
      h?.resolve();
      return send(res, 200, { reconnecting: true });
    }
    send(res, 404, { error: 'not found' });
  } catch (e) {
    send(res, 500, { error: e.message });
  }
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => console.log(`listening http://127.0.0.1:${server.address().port}`));
