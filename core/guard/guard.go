// Package guard is the use case of a microservice: authenticate a raw access token into the
// claims of its caller, checking cheapest things first, the signature through a KeySet, the
// claims, then the local revocation set that a Feed keeps current. It imports only ports/, the
// core nouns and the standard library.
package guard

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/keygate/keygate/core/token"
	"github.com/keygate/keygate/ports"
)

// Config is what a verifier checks.
type Config struct {
	Issuer        string        // exact iss
	Audiences     []string      // a token must name at least one of these in aud
	Leeway        time.Duration // one leeway for exp, nbf, iat; default 30s, at most 120s
	MaxAge        time.Duration // now - iat (and exp - iat) must not exceed MaxAge + Leeway; default 15m
	MaxTokenBytes int           // default 4096, at most 8192
	// FailClosedAfter bounds how stale the revocation set may be before every token is refused
	// with token.ErrRevocationUnavailable; 0 fails open (the last-known set is used however
	// stale). Either way no token is accepted before the set's first load.
	FailClosedAfter time.Duration
	// CacheEntries bounds the cache of verified tokens (see cache.go); default 16384, negative
	// disables the cache.
	CacheEntries int
	// CacheBytes bounds the estimated memory of the cache of verified tokens; default 16 MiB,
	// negative disables the cache.
	CacheBytes int
	// SessionOptional accepts tokens without a sid claim (a foreign issuer's). By default sid
	// is required, as jti is: every keygate access token has one, and revoking a session
	// reaches its access tokens only through it.
	SessionOptional bool
	// Verifier checks the Ed25519 signatures; nil: crypto/ed25519.Verify, which decompresses
	// the public key on every call (about 8% of a verification). The apps wire
	// adapters/edwards25519, which keeps each key decoded and accepts exactly what
	// crypto/ed25519 accepts (ports.SignatureVerifier's contract).
	Verifier ports.SignatureVerifier
}

// Defaults and bounds of Config.
const (
	DefaultLeeway        = 30 * time.Second
	MaxLeeway            = 120 * time.Second
	DefaultMaxAge        = 15 * time.Minute
	DefaultMaxTokenBytes = 4096
	MaxTokenBytes        = 8192
)

// Guard authenticates access tokens. Safe for concurrent use.
type Guard struct {
	keys     ports.KeySet
	feed     *Feed
	clock    ports.Clock
	metrics  ports.Metrics
	cfg      Config
	cache    *cache // nil when disabled
	required int    // the claims a token must have (bits of parse.go)
}

// New returns a Guard. feed supplies the revocation set and its staleness. Zero Config fields
// take their defaults; an empty Issuer or Audiences, or a value out of bounds, is an error.
func New(keys ports.KeySet, feed *Feed, clock ports.Clock, m ports.Metrics, cfg Config) (*Guard, error) {
	if keys == nil || feed == nil || clock == nil || m == nil {
		return nil, errors.New("guard: nil dependency")
	}
	if cfg.Issuer == "" {
		return nil, errors.New("guard: issuer is required")
	}
	cfg.Audiences = slices.DeleteFunc(slices.Clone(cfg.Audiences), func(s string) bool { return s == "" })
	if len(cfg.Audiences) == 0 {
		return nil, errors.New("guard: at least one audience is required")
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = DefaultLeeway
	}
	if cfg.MaxAge == 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	if cfg.MaxTokenBytes == 0 {
		cfg.MaxTokenBytes = DefaultMaxTokenBytes
	}
	switch {
	case cfg.Leeway < 0 || cfg.Leeway > MaxLeeway:
		return nil, fmt.Errorf("guard: leeway %v outside [0, %v]", cfg.Leeway, MaxLeeway)
	case cfg.MaxAge < 0:
		return nil, fmt.Errorf("guard: negative max age %v", cfg.MaxAge)
	case cfg.MaxTokenBytes < 0 || cfg.MaxTokenBytes > MaxTokenBytes:
		return nil, fmt.Errorf("guard: max token bytes %d outside [0, %d]", cfg.MaxTokenBytes, MaxTokenBytes)
	case cfg.FailClosedAfter < 0:
		return nil, fmt.Errorf("guard: negative fail-closed-after %v", cfg.FailClosedAfter)
	}
	if cfg.CacheEntries == 0 {
		cfg.CacheEntries = DefaultCacheEntries
	}
	if cfg.CacheBytes == 0 {
		cfg.CacheBytes = DefaultCacheBytes
	}
	if cfg.Verifier == nil {
		cfg.Verifier = stdVerifier{}
	}
	req := required | hasSid
	if cfg.SessionOptional {
		req = required
	}
	return &Guard{keys: keys, feed: feed, clock: clock, metrics: m, cfg: cfg,
		cache: newCache(cfg.CacheEntries, cfg.CacheBytes), required: req}, nil
}

// Authenticate verifies raw and returns its claims, or an error wrapping one of token's
// sentinels (token.Unavailable tells 503 from 401). It does no I/O unless the token names a
// key this verifier has not seen and is plausibly ours (then the KeySet may refresh once,
// briefly and rate-limited). Every result is reported to Metrics.Verified.
func (g *Guard) Authenticate(ctx context.Context, raw string) (token.Claims, error) {
	start := g.clock.Now()
	c, err := g.authenticate(ctx, raw, start)
	g.metrics.Verified(token.Reason(err), g.clock.Now().Sub(start))
	if err != nil {
		return token.Claims{}, err
	}
	return c, nil
}

func (g *Guard) authenticate(ctx context.Context, raw string, now time.Time) (token.Claims, error) {
	var c token.Claims
	// 1. Size and shape, before any decoding.
	if len(raw) > g.cfg.MaxTokenBytes {
		return c, token.ErrTooLarge
	}
	// A token verified before skips its decoding and signature check, nothing else.
	if g.cache != nil {
		if e := g.cache.get(raw); e != nil {
			if c, ok, err := g.hit(ctx, raw, e, now); ok {
				g.metrics.TokenCache(true)
				return c, err
			}
		}
		g.metrics.TokenCache(false)
	}
	return g.verify(ctx, raw, now)
}

// verify is the full path of authenticate: decoding, the key, the signature, the checks and
// admission into the cache. It is a function of its own so that its frame (about 1.9 KB of
// decoding buffers) is not taken by every cache hit: the hit path's stack is 2.3 KB instead
// of 4 KB, which keeps a server goroutine within the stack the garbage collector shrinks it
// back to.
//
//go:noinline
func (g *Guard) verify(ctx context.Context, raw string, now time.Time) (token.Claims, error) {
	var c token.Claims
	hs, ps, ss, err := segments(raw)
	if err != nil {
		return c, err
	}
	if len(ss) != sigChars {
		return c, errSigLength
	}
	if len(hs) > maxHeaderChars {
		return c, errHeaderSize
	}
	// The signature and the header are decoded from copies on the stack, so a token refused
	// by its header costs no allocation.
	var sig [ed25519.SignatureSize]byte
	var seg [maxHeaderChars]byte
	if _, err := decode(sig[:], seg[:copy(seg[:], ss)]); err != nil {
		return c, err
	}
	// 2. Header.
	var hbuf [maxHeaderBytes + 3]byte
	n, err := decode(hbuf[:], seg[:copy(seg[:], hs)])
	if err != nil {
		return c, err
	}
	if n > maxHeaderBytes {
		return c, errHeaderSize
	}
	h, err := parseHeader(string(hbuf[:n]))
	if err != nil {
		return c, err
	}
	// 3. Claims, decoded strictly but not yet trusted. One copy of the token holds the
	// payload to decode and the signing input.
	rb := []byte(raw)
	signingInput := rb[:len(hs)+1+len(ps)]
	pbuf := make([]byte, b64.DecodedLen(len(ps)))
	n, err = decode(pbuf, signingInput[len(hs)+1:])
	if err != nil {
		return c, err
	}
	seen, err := parseClaims(string(pbuf[:n]), &c)
	if err != nil {
		return token.Claims{}, err
	}
	// 4. Key: a refresh for an unknown kid only when the token is plausibly ours and alive.
	mayRefresh := seen&hasIss != 0 && c.Issuer == g.cfg.Issuer &&
		seen&hasExp != 0 && now.Before(c.ExpiresAt.Add(g.cfg.Leeway))
	pub, err := g.keys.PublicKey(ctx, h.kid, mayRefresh)
	if err != nil {
		if errors.Is(err, token.ErrUnknownKid) || errors.Is(err, token.ErrKeysUnavailable) {
			return token.Claims{}, err
		}
		return token.Claims{}, fmt.Errorf("%w: %w", token.ErrKeysUnavailable, err)
	}
	if len(pub) != ed25519.PublicKeySize {
		return token.Claims{}, fmt.Errorf("%w: key %q is not an Ed25519 public key", token.ErrKeysUnavailable, h.kid)
	}
	// 5. Signature over the signing input exactly as received, by Config.Verifier (which may
	// keep the key decoded). A cache hit skips this step altogether.
	if !g.cfg.Verifier.Verify(pub, signingInput, sig[:]) {
		return token.Claims{}, token.ErrBadSignature
	}
	// 6. Claims.
	if err := g.checkClaims(&c, seen, now); err != nil {
		return token.Claims{}, err
	}
	// 7. Revocation, then how much that answer can be trusted.
	if err := g.checkRevocation(&c, now); err != nil {
		return token.Claims{}, err
	}
	// 8. Admission: only now, after the signature, and only while the token lives.
	if g.cache != nil && now.Before(c.ExpiresAt) {
		e := &cached{claims: c, seen: seen, kid: h.kid, pub: pub}
		e.claims.Audience, e.claims.Roles = slices.Clone(c.Audience), slices.Clone(c.Roles)
		g.cache.add(strings.Clone(raw), e, now)
	}
	return c, nil
}

// stdVerifier is crypto/ed25519.Verify as a ports.SignatureVerifier.
type stdVerifier struct{}

func (stdVerifier) Verify(pub ed25519.PublicKey, message, sig []byte) bool {
	return len(pub) == ed25519.PublicKeySize && ed25519.Verify(pub, message, sig)
}

// hit answers a token found in the cache as a miss would, with every check that depends on
// time or state made again: the KeySet must still publish the key that verified it, then the
// claims (exp, nbf, iat with leeway), the revocation set and its state. ok is false when the
// full path must decide instead (the entry expired, or its key is not the KeySet's answer
// now); the entry is then dropped.
func (g *Guard) hit(ctx context.Context, raw string, e *cached, now time.Time) (token.Claims, bool, error) {
	if !now.Before(e.claims.ExpiresAt) {
		g.cache.remove(raw, e)
		return token.Claims{}, false, nil
	}
	pub, err := g.keys.PublicKey(ctx, e.kid, false)
	if err != nil || !bytes.Equal(pub, e.pub) {
		g.cache.remove(raw, e)
		return token.Claims{}, false, nil
	}
	c := e.claims
	if err := g.checkClaims(&c, e.seen, now); err != nil {
		return token.Claims{}, true, err
	}
	if err := g.checkRevocation(&c, now); err != nil {
		return token.Claims{}, true, err
	}
	// The caller may change what it is given; the entry must not change.
	c.Audience, c.Roles = slices.Clone(c.Audience), slices.Clone(c.Roles)
	return c, true, nil
}

// checkRevocation refuses a token revoked in the local set, and any token while the set cannot
// be trusted: never loaded (whatever FailClosedAfter says: failing open keeps the last-known
// set, and before the first load there is none), or staler than FailClosedAfter.
func (g *Guard) checkRevocation(c *token.Claims, now time.Time) error {
	if g.feed.set.Revoked(c.ID, c.SessionID, c.Subject, c.IssuedAt, now) {
		return token.ErrRevoked
	}
	if !g.readiness(now).State.Serving() {
		return token.ErrRevocationUnavailable
	}
	return nil
}

// State is how far a Guard can trust its revocation set, from the one rule both Authenticate
// and readiness checks apply.
type State string

// The states of a Guard's revocation set.
const (
	// StateNotLoaded: the set was never loaded from the store; every token is refused with
	// token.ErrRevocationUnavailable, fail-closed or not.
	StateNotLoaded State = "not_loaded"
	// StateStale: the set is staler than Config.FailClosedAfter; every token is refused with
	// token.ErrRevocationUnavailable.
	StateStale State = "stale"
	// StateDegraded: the feed is disconnected, or the set is going stale (not known current
	// for three poll intervals: the store does not answer, or it is a replica cut off from
	// its primary), and tokens are checked against the last-known set (fail open, or within
	// the fail-closed bound).
	StateDegraded State = "degraded"
	// StateOK: the set is loaded and the feed connected.
	StateOK State = "ok"
)

// Serving reports whether a Guard in state s accepts tokens.
func (s State) Serving() bool { return s == StateOK || s == StateDegraded }

// Readiness is a Guard's revocation state, for readiness checks and dashboards.
type Readiness struct {
	State           State
	Staleness       time.Duration // time since the set was last known current (before the first load: since the feed was made)
	FailClosedAfter time.Duration // the configured bound; 0: fail open
}

// Readiness reports the state Authenticate acts on now.
func (g *Guard) Readiness() Readiness { return g.readiness(g.clock.Now()) }

func (g *Guard) readiness(now time.Time) Readiness {
	stale, synced := g.feed.staleness(now)
	r := Readiness{Staleness: stale, FailClosedAfter: g.cfg.FailClosedAfter}
	switch {
	case !synced:
		r.State = StateNotLoaded
	case g.cfg.FailClosedAfter > 0 && stale > g.cfg.FailClosedAfter:
		r.State = StateStale
	case !g.feed.connected.Load() || stale > g.feed.goingStale():
		r.State = StateDegraded
	default:
		r.State = StateOK
	}
	return r
}

func (g *Guard) checkClaims(c *token.Claims, seen int, now time.Time) error {
	if missing := g.required &^ seen; missing != 0 {
		return fmt.Errorf("%w: %s", token.ErrClaimsMissing, claimNames(missing))
	}
	if c.Issuer != g.cfg.Issuer {
		return token.ErrIssuerMismatch
	}
	if !slices.ContainsFunc(g.cfg.Audiences, c.HasAudience) {
		return token.ErrAudienceMismatch
	}
	lw := g.cfg.Leeway
	if !now.Before(c.ExpiresAt.Add(lw)) {
		return token.ErrExpired
	}
	if seen&hasNbf != 0 && now.Before(c.NotBefore.Add(-lw)) {
		return token.ErrNotYetValid
	}
	if c.IssuedAt.After(now.Add(lw)) {
		return token.ErrIssuedInFuture
	}
	limit := g.cfg.MaxAge + lw
	if now.Sub(c.IssuedAt) > limit {
		return token.ErrTooOld
	}
	if c.ExpiresAt.Sub(c.IssuedAt) > limit {
		return fmt.Errorf("%w: lifetime %v exceeds the maximum age", token.ErrTooOld, c.ExpiresAt.Sub(c.IssuedAt))
	}
	return nil
}

func claimNames(bits int) string {
	var out []string
	for _, b := range []struct {
		bit  int
		name string
	}{{hasIss, "iss"}, {hasSub, "sub"}, {hasAud, "aud"}, {hasExp, "exp"}, {hasIat, "iat"}, {hasJti, "jti"}, {hasSid, "sid"}, {hasClientID, "client_id"}} {
		if bits&b.bit != 0 {
			out = append(out, b.name)
		}
	}
	return fmt.Sprint(out)
}
