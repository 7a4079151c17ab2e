package jose

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keygate/keygate/core/backoff"
	"github.com/keygate/keygate/core/key"
	"github.com/keygate/keygate/core/token"
	"github.com/keygate/keygate/ports"
)

// Config tunes a RemoteKeySet. Zero fields take their defaults.
type Config struct {
	// Issuer is the issuer whose keys these are. With URL empty the JWKS URL is discovered
	// from Issuer + DiscoveryPath (its "issuer" must equal Issuer).
	Issuer string
	// URL is the JWKS URL (KEYGATE_JWKS_URL); it overrides discovery.
	URL string

	Cooldown time.Duration // least time between unknown-kid fetches, from the last attempt; default 30s
	// PushInterval is the least time between the fetches of Refresh calls that name no JWKS
	// ETag (an event from an older publisher), in real time; default 1s. A Refresh naming an
	// ETag is not paced: it fetches only while that document is not held, and one chase runs
	// at a time.
	PushInterval time.Duration
	// PushRetries bounds the refetches after a key-change event while the issuer serves
	// another document than the event named (or, for an event naming none, the unchanged
	// one): an issuer replica that has not reloaded its keys yet. PushRetryMin is the first
	// delay, doubling up to PushRetryMax; defaults 20, 5ms and 100ms, about 1.7s in all.
	PushRetries   int
	PushRetryMin  time.Duration
	PushRetryMax  time.Duration
	MaxWait       time.Duration // longest PublicKey waits for a fetch in flight; default 2s
	StaleIfError  time.Duration // keys stay usable this long past their freshness when fetches fail; default 24h
	DefaultMaxAge time.Duration // refresh interval when the response has no cache headers; default 5m
	MinInterval   time.Duration // floor of the refresh interval; default 30s
	MaxInterval   time.Duration // ceiling of the refresh interval; default 1h
	RetryMin      time.Duration // first retry after a failed fetch; default 1s
	RetryMax      time.Duration // retry cap (exponential backoff with jitter); default 60s
	NegativeTTL   time.Duration // how long a kid a fetch showed absent answers at once; default 5m
	Timeout       time.Duration // whole request; default 3s
	DialTimeout   time.Duration // connection set-up, for the client built when none is given; default 1s
	MaxBodyBytes  int64         // largest JWKS or discovery body; default 64 KiB
	// RootCAs verifies an https:// JWKS or issuer server, for the client built when none is
	// given (KEYGATE_JWKS_CA_FILE); nil: the system's roots.
	RootCAs *x509.CertPool
}

func (c *Config) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.Cooldown, 30*time.Second)
	def(&c.PushInterval, time.Second)
	def(&c.PushRetryMin, 5*time.Millisecond)
	def(&c.PushRetryMax, 100*time.Millisecond)
	c.PushRetryMax = max(c.PushRetryMax, c.PushRetryMin)
	if c.PushRetries <= 0 {
		c.PushRetries = 20
	}
	def(&c.MaxWait, 2*time.Second)
	def(&c.StaleIfError, 24*time.Hour)
	def(&c.DefaultMaxAge, 5*time.Minute)
	def(&c.MinInterval, 30*time.Second)
	def(&c.MaxInterval, time.Hour)
	def(&c.RetryMin, time.Second)
	def(&c.RetryMax, time.Minute)
	def(&c.NegativeTTL, 5*time.Minute)
	def(&c.Timeout, 3*time.Second)
	def(&c.DialTimeout, time.Second)
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 64 << 10
	}
	c.MaxInterval = max(c.MaxInterval, c.MinInterval)
	c.RetryMax = max(c.RetryMax, c.RetryMin)
}

// RemoteKeySet implements ports.KeySet over an issuer's JWKS. A known kid is answered from an
// immutable snapshot behind an atomic pointer (one load and one map lookup, no lock, no I/O).
// The snapshot is replaced as a whole by a fetch: on a schedule (Run), for an unknown kid
// (single-flight, at most one per Cooldown, never blocking more than MaxWait), or on Refresh
// (a key-change event: past any cache, until the document the event names is served).
// Distrust removes a withdrawn kid from the snapshot at once and from every later one. A
// failed fetch keeps the last good keys until they are StaleIfError past their freshness;
// after that PublicKey answers token.ErrKeysUnavailable. Safe for concurrent use.
type RemoteKeySet struct {
	client  *http.Client
	clock   ports.Clock
	metrics ports.Metrics
	cfg     Config

	snap       atomic.Pointer[snapshot]
	snapMu     sync.Mutex // serialises replacing snap, so a Distrust is never undone by a fetch
	distrusted key.Withdrawn

	ctx    context.Context // ends at Close; fetches run under it
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu          sync.Mutex
	closed      bool
	url         string // resolved JWKS URL
	inflight    *call
	started     uint64 // fetches started
	lastForced  time.Time
	lastPush    time.Time // monotonic, for pacing Refresh
	pushPending bool
	negative    map[string]time.Time // kid -> until
	lastOutcome string
	lastErr     error
	skipped     int
	target      string // the JWKS ETag the latest Refresh named, "" once held (or given up)
	targetGen   uint64 // incremented whenever target is set
}

var _ ports.KeySet = (*RemoteKeySet)(nil)

// snapshot is one good JWKS response. Never modified once published.
type snapshot struct {
	keys       map[string]ed25519.PublicKey
	fetchedAt  time.Time     // the last 200 or 304
	interval   time.Duration // when to refresh, from the cache headers, clamped
	staleAfter time.Time     // after this the keys are unusable
	etag       string
}

// triggerPush names the fetches a key-change event (Refresh) starts.
const triggerPush = "push"

// call is one fetch; done is closed when it ends.
type call struct {
	id   uint64
	done chan struct{}
	err  error
}

// NewRemoteKeySet returns a RemoteKeySet; it fetches nothing until Run or a lookup needs it.
// client may be nil: a dedicated client is built (dial 1s, total 3s); a given client is
// copied and made to never follow redirects. The returned func is Close, for wire's cleanup.
func NewRemoteKeySet(client *http.Client, clock ports.Clock, m ports.Metrics, cfg Config) (*RemoteKeySet, func(), error) {
	cfg.defaults()
	if cfg.URL == "" {
		if err := checkIssuer(cfg.Issuer); err != nil {
			return nil, nil, fmt.Errorf("jose: remote key set needs a JWKS URL or an issuer: %w", err)
		}
	} else if u, err := url.Parse(cfg.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, nil, fmt.Errorf("jose: JWKS URL %q is not an absolute http(s) URL", cfg.URL)
	}
	if clock == nil || m == nil {
		return nil, nil, errors.New("jose: remote key set needs a clock and metrics")
	}
	var c http.Client
	if client != nil {
		c = *client
	} else {
		c.Transport = &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: cfg.DialTimeout}).DialContext,
			TLSHandshakeTimeout:   cfg.Timeout,
			ResponseHeaderTimeout: cfg.Timeout,
			MaxIdleConnsPerHost:   2,
			ForceAttemptHTTP2:     true,
			TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: cfg.RootCAs},
		}
	}
	if c.Timeout == 0 || c.Timeout > cfg.Timeout {
		c.Timeout = cfg.Timeout
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	ctx, cancel := context.WithCancel(context.Background())
	ks := &RemoteKeySet{client: &c, clock: clock, metrics: m, cfg: cfg, ctx: ctx, cancel: cancel,
		url: cfg.URL, negative: map[string]time.Time{}}
	return ks, ks.Close, nil
}

// Close stops Run and any fetch in flight and waits for them.
func (ks *RemoteKeySet) Close() {
	ks.mu.Lock()
	ks.closed = true // no fetch starts after this, so wg.Wait below is final
	ks.mu.Unlock()
	ks.cancel()
	ks.wg.Wait()
}

// PublicKey returns the key for kid. See ports.KeySet.
func (ks *RemoteKeySet) PublicKey(ctx context.Context, kid string, mayRefresh bool) (ed25519.PublicKey, error) {
	s := ks.snap.Load()
	if s != nil {
		if k, ok := s.keys[kid]; ok && ks.clock.Now().Before(s.staleAfter) {
			return k, nil
		}
	}
	return ks.slowPath(ctx, kid, mayRefresh)
}

func (ks *RemoteKeySet) usable(s *snapshot, now time.Time) bool {
	return s != nil && now.Before(s.staleAfter)
}

// miss is the answer for a kid not in a usable snapshot.
func (ks *RemoteKeySet) miss(now time.Time) error {
	if !ks.usable(ks.snap.Load(), now) {
		return token.ErrKeysUnavailable
	}
	return token.ErrUnknownKid
}

func (ks *RemoteKeySet) slowPath(ctx context.Context, kid string, mayRefresh bool) (ed25519.PublicKey, error) {
	now := ks.clock.Now()
	if !mayRefresh || ks.distrusted.Has(kid) {
		return nil, ks.miss(now)
	}
	ks.mu.Lock()
	if until, ok := ks.negative[kid]; ok && now.Before(until) && ks.usable(ks.snap.Load(), now) {
		ks.mu.Unlock()
		return nil, token.ErrUnknownKid
	}
	c := ks.inflight
	if c == nil {
		if !ks.lastForced.IsZero() && now.Sub(ks.lastForced) < ks.cfg.Cooldown {
			ks.mu.Unlock()
			return nil, ks.miss(now) // cooling down: fail fast, never queue
		}
		ks.lastForced = now
		c = ks.startLocked("unknown_kid", true)
	}
	ks.mu.Unlock()

	t := time.NewTimer(ks.cfg.MaxWait)
	defer t.Stop()
	select {
	case <-c.done:
	case <-t.C:
	case <-ctx.Done():
	}
	now = ks.clock.Now()
	if s := ks.snap.Load(); ks.usable(s, now) {
		if k, ok := s.keys[kid]; ok {
			return k, nil
		}
	}
	select {
	case <-c.done:
		if c.err == nil {
			ks.mu.Lock()
			if len(ks.negative) >= 1024 {
				clear(ks.negative)
			}
			ks.negative[kid] = now.Add(ks.cfg.NegativeTTL)
			ks.mu.Unlock()
		}
	default:
	}
	return nil, ks.miss(now)
}

// Refresh fetches the JWKS now (a key-change event arrived), in a fetch that starts after the
// call, past any cache: no If-None-Match, Cache-Control: no-cache. With etag (the ETag of the
// document the event names) it returns at once if that document is held, else it looks again
// (PushRetries, from PushRetryMin doubling to PushRetryMax) until the issuer serves it,
// installing only that document, or the last one served if it never comes (the event was
// overtaken by a later change, or no issuer replica has reloaded). A Refresh naming another
// ETag while one runs moves its goal there. Without etag (an older publisher) it looks again
// while the document is unchanged, installing each; and at most one such fetch starts per
// PushInterval: a call inside the interval returns nil at once and one deferred fetch runs at
// the interval's end, so a burst of events costs one fetch and none is lost. The error is
// informational.
func (ks *RemoteKeySet) Refresh(ctx context.Context, etag string) error {
	if etag != "" && ks.holds(etag) {
		return nil
	}
	ks.mu.Lock()
	want := ks.started + 1
	if etag != "" {
		ks.target = etag
		ks.targetGen++
	}
	ks.mu.Unlock()
	for {
		if etag != "" && ks.holds(etag) {
			return nil // a chase in flight reached it
		}
		ks.mu.Lock()
		c := ks.inflight
		if c == nil {
			// Pacing uses the monotonic clock: it bounds load on the issuer, in real time.
			if wait := time.Until(ks.lastPush.Add(ks.cfg.PushInterval)); etag == "" && !ks.lastPush.IsZero() && wait > 0 {
				ks.deferPushLocked(wait)
				ks.mu.Unlock()
				return nil
			}
			if etag != "" && ks.target == "" {
				// Another chase ended without it (given up): it was installed or overtaken.
				ks.mu.Unlock()
				return nil
			}
			ks.lastPush = time.Now()
			c = ks.startLocked(triggerPush, true)
		}
		ks.mu.Unlock()
		select {
		case <-c.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if c.id >= want {
			return c.err
		}
	}
}

// holds reports whether the snapshot is the document etag names.
func (ks *RemoteKeySet) holds(etag string) bool {
	s := ks.snap.Load()
	return s != nil && sameETag(s.etag, etag)
}

// sameETag compares two entity tags, ignoring weakness: a proxy that compresses the document
// (nginx gzip) turns the issuer's strong ETag into a weak one for the same keys.
func sameETag(a, b string) bool {
	a, b = strings.TrimPrefix(a, "W/"), strings.TrimPrefix(b, "W/")
	return a != "" && a == b
}

// Distrust implements ports.KeySet: kid leaves the snapshot now and is dropped from every
// document fetched later.
func (ks *RemoteKeySet) Distrust(kid string) {
	if kid == "" {
		return
	}
	ks.snapMu.Lock()
	defer ks.snapMu.Unlock()
	ks.distrusted.Add(kid)
	if s := ks.snap.Load(); s != nil {
		if _, ok := s.keys[kid]; ok {
			next := *s
			next.keys = maps.Clone(s.keys)
			delete(next.keys, kid)
			ks.snap.Store(&next)
		}
	}
}

// install makes s the snapshot, without the distrusted kids.
func (ks *RemoteKeySet) install(s *snapshot) {
	ks.snapMu.Lock()
	defer ks.snapMu.Unlock()
	if !ks.distrusted.Empty() {
		for kid := range s.keys {
			if ks.distrusted.Has(kid) {
				delete(s.keys, kid) // s is ours: fetch built it
			}
		}
	}
	ks.snap.Store(s)
}

// deferPushLocked schedules one Refresh after wait, unless one is scheduled; ks.mu is held.
func (ks *RemoteKeySet) deferPushLocked(wait time.Duration) {
	if ks.pushPending || ks.closed {
		return
	}
	ks.pushPending = true
	ks.wg.Go(func() {
		ok := backoff.Sleep(ks.ctx, wait)
		ks.mu.Lock()
		ks.pushPending = false
		ks.mu.Unlock()
		if ok {
			_ = ks.Refresh(ks.ctx, "")
		}
	})
}

// Run fetches the JWKS at once, then again at the interval its cache headers give (clamped,
// with ±10% jitter), retrying failures with backoff, until ctx ends or Close is called. It
// returns ctx's error, or nil after Close.
func (ks *RemoteKeySet) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ks.ctx, cancel)
	defer stop()
	trigger := "startup"
	for attempt := 0; ; {
		ks.mu.Lock()
		c := ks.inflight
		if c == nil {
			c = ks.startLocked(trigger, false)
		}
		ks.mu.Unlock()
		select {
		case <-c.done:
		case <-ctx.Done():
			return ks.runErr(ctx)
		}
		var d time.Duration
		if s := ks.snap.Load(); c.err == nil && s != nil {
			attempt = 0
			d = backoff.Spread(s.interval)
		} else {
			d = backoff.Delay(ks.cfg.RetryMin, ks.cfg.RetryMax, attempt)
			attempt++
		}
		trigger = "schedule"
		if !backoff.Sleep(ctx, d) {
			return ks.runErr(ctx)
		}
	}
}

func (ks *RemoteKeySet) runErr(ctx context.Context) error {
	if ks.ctx.Err() != nil { // closed
		return nil
	}
	return ctx.Err()
}

// Ready reports whether there are usable keys (for /ready).
func (ks *RemoteKeySet) Ready() bool { return ks.usable(ks.snap.Load(), ks.clock.Now()) }

// KeySetStatus describes a RemoteKeySet for health details and logs.
type KeySetStatus struct {
	Ready       bool
	URL         string        // the JWKS URL ("" until discovered)
	Keys        int           // usable keys
	Skipped     int           // unusable keys skipped in the last good document
	Age         time.Duration // since the last good response (0 if none)
	LastOutcome string        // of the last fetch: 200, 304, http_error, ...
	LastError   string        // of the last fetch, "" if it succeeded
}

// Status reports the key set's state.
func (ks *RemoteKeySet) Status() KeySetStatus {
	now := ks.clock.Now()
	s := ks.snap.Load()
	ks.mu.Lock()
	st := KeySetStatus{Ready: ks.usable(s, now), URL: ks.url, Skipped: ks.skipped, LastOutcome: ks.lastOutcome}
	if ks.lastErr != nil {
		st.LastError = ks.lastErr.Error()
	}
	ks.mu.Unlock()
	if s != nil {
		st.Keys = len(s.keys)
		st.Age = now.Sub(s.fetchedAt)
	}
	return st
}

// startLocked starts a fetch; ks.mu is held and no fetch is in flight.
func (ks *RemoteKeySet) startLocked(trigger string, forced bool) *call {
	ks.started++
	c := &call{id: ks.started, done: make(chan struct{})}
	ks.inflight = c
	if ks.closed {
		c.err = errors.New("jose: remote key set closed")
		ks.inflight = nil
		close(c.done)
		return c
	}
	ks.wg.Go(func() {
		var outcome string
		var err error
		if trigger == triggerPush {
			outcome, err = ks.chase()
		} else {
			var next *snapshot
			t0 := ks.clock.Now()
			next, outcome, err = ks.fetch(trigger, forced)
			ks.metrics.JWKSFetch(trigger, outcome, ks.clock.Now().Sub(t0))
			if err == nil {
				ks.install(next)
			}
		}
		ks.mu.Lock()
		ks.inflight = nil
		ks.lastOutcome, ks.lastErr = outcome, err
		c.err = err
		ks.mu.Unlock()
		close(c.done)
	})
	return c
}

// chase runs the fetches of a key-change event (see Refresh): until the document the latest
// Refresh named is served (or, naming none, until the document changes), bounded.
func (ks *RemoteKeySet) chase() (outcome string, err error) {
	var before string
	if s := ks.snap.Load(); s != nil {
		before = s.etag
	}
	ks.mu.Lock()
	gen := ks.targetGen
	ks.mu.Unlock()
	for attempt := 0; ; attempt++ {
		t0 := ks.clock.Now()
		next, outcome, err := ks.fetch(triggerPush, true)
		ks.metrics.JWKSFetch(triggerPush, outcome, ks.clock.Now().Sub(t0))
		if err != nil {
			return outcome, err
		}
		ks.mu.Lock()
		target := ks.target
		if ks.targetGen != gen { // a later event named another document: a fresh budget for it
			gen, attempt = ks.targetGen, 0
		}
		done := attempt >= ks.cfg.PushRetries
		switch {
		case target != "" && sameETag(next.etag, target):
			done = true
		case target == "" && (before == "" || next.etag != before):
			done = true
		}
		if done && ks.targetGen == gen {
			ks.target = ""
		}
		ks.mu.Unlock()
		// Install what the event named; while chasing it, keep the keys held (a replica that
		// has not reloaded serves the set from before the change, no better); give up on the
		// last document served. An event that names nothing installs every answer.
		if done || target == "" {
			ks.install(next)
		}
		if done {
			return outcome, nil
		}
		if !backoff.Sleep(ks.ctx, min(ks.cfg.PushRetryMin<<min(attempt, 30), ks.cfg.PushRetryMax)) {
			return outcome, ks.ctx.Err()
		}
	}
}

// fetch runs one GET of the JWKS (conditional unless trigger is a push) and returns the
// snapshot its answer makes, for the caller to install.
func (ks *RemoteKeySet) fetch(trigger string, forced bool) (next *snapshot, outcome string, err error) {
	ctx, cancel := context.WithTimeout(ks.ctx, ks.cfg.Timeout)
	defer cancel()
	defer func() {
		var fe *fetchError
		switch {
		case err == nil:
		case errors.As(err, &fe):
			outcome = fe.outcome
		default:
			outcome = outcomeHTTPError
		}
	}()
	u, err := ks.jwksURL(ctx)
	if err != nil {
		return nil, "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, "", failed(outcomeHTTPError, "%w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	if forced {
		// A cache on the way must ask the issuer (RFC 9111 section 5.2.1.4; Pragma for
		// HTTP/1.0 caches).
		req.Header.Set("Cache-Control", "no-cache")
		req.Header.Set("Pragma", "no-cache")
	}
	old := ks.snap.Load()
	if old != nil && old.etag != "" && trigger != triggerPush {
		// Not after a key-change event: a replica that has not reloaded would answer 304 and
		// the old keys would look current.
		req.Header.Set("If-None-Match", old.etag)
	}
	resp, err := ks.client.Do(req)
	if err != nil {
		return nil, "", transportError(err)
	}
	defer resp.Body.Close()
	now := ks.clock.Now()
	switch {
	case resp.StatusCode == http.StatusNotModified && old != nil:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, ks.cfg.MaxBodyBytes))
		next := *old
		next.keys = maps.Clone(old.keys)
		ks.fresh(&next, resp.Header, now)
		if etag := resp.Header.Get("ETag"); etag != "" {
			next.etag = etag
		}
		return &next, outcome304, nil
	case resp.StatusCode != http.StatusOK:
		return nil, "", failed(outcomeHTTPError, "status %d", resp.StatusCode)
	}
	if err := checkJSON(resp.Header, "application/jwk-set+json"); err != nil {
		return nil, "", err
	}
	body, err := ks.read(resp.Body)
	if err != nil {
		return nil, "", err
	}
	keys, skipped, err := parseJWKS(body)
	if err != nil {
		return nil, "", err
	}
	next = &snapshot{keys: keys, etag: resp.Header.Get("ETag")}
	ks.fresh(next, resp.Header, now)
	ks.mu.Lock()
	ks.skipped = skipped
	ks.mu.Unlock()
	return next, outcome200, nil
}

// fresh sets a snapshot's times from a response's cache headers (RFC 9111 max-age, or
// Expires - Date; no-store/no-cache mean the floor) and its stale-if-error (RFC 5861), capped
// by the configuration.
func (ks *RemoteKeySet) fresh(s *snapshot, h http.Header, now time.Time) {
	maxAge, sie := ks.cfg.DefaultMaxAge, ks.cfg.StaleIfError
	haveMaxAge := false
	for _, d := range strings.Split(h.Get("Cache-Control"), ",") {
		name, val, _ := strings.Cut(strings.TrimSpace(d), "=")
		secs, err := strconv.ParseInt(strings.Trim(val, `"`), 10, 64)
		switch strings.ToLower(name) {
		case "no-store", "no-cache":
			maxAge, haveMaxAge = 0, true
		case "max-age":
			if err == nil && !haveMaxAge {
				maxAge, haveMaxAge = time.Duration(min(max(secs, 0), 1<<31))*time.Second, true
			}
		case "stale-if-error":
			if err == nil {
				sie = min(time.Duration(min(max(secs, 0), 1<<31))*time.Second, ks.cfg.StaleIfError)
			}
		}
	}
	if !haveMaxAge {
		exp, err1 := http.ParseTime(h.Get("Expires"))
		date, err2 := http.ParseTime(h.Get("Date"))
		if err1 == nil && err2 == nil {
			maxAge = max(exp.Sub(date), 0)
		}
	}
	s.fetchedAt = now
	s.interval = min(max(maxAge, ks.cfg.MinInterval), ks.cfg.MaxInterval)
	s.staleAfter = now.Add(s.interval + sie)
}

// jwksURL returns the JWKS URL, discovering it from the issuer the first time.
func (ks *RemoteKeySet) jwksURL(ctx context.Context) (string, error) {
	ks.mu.Lock()
	u := ks.url
	ks.mu.Unlock()
	if u != "" {
		return u, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ks.cfg.Issuer+DiscoveryPath, nil)
	if err != nil {
		return "", failed(outcomeHTTPError, "%w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := ks.client.Do(req)
	if err != nil {
		return "", transportError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", failed(outcomeHTTPError, "discovery: status %d", resp.StatusCode)
	}
	if err := checkJSON(resp.Header, ""); err != nil {
		return "", err
	}
	body, err := ks.read(resp.Body)
	if err != nil {
		return "", err
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", failed(outcomeParseError, "discovery: %w", err)
	}
	if doc.Issuer != ks.cfg.Issuer {
		return "", failed(outcomeParseError, "discovery: issuer %q, want %q", doc.Issuer, ks.cfg.Issuer)
	}
	if p, err := url.Parse(doc.JWKSURI); err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
		return "", failed(outcomeParseError, "discovery: jwks_uri %q is not an absolute http(s) URL", doc.JWKSURI)
	}
	ks.mu.Lock()
	ks.url = doc.JWKSURI
	ks.mu.Unlock()
	return doc.JWKSURI, nil
}

// read reads a body of at most MaxBodyBytes.
func (ks *RemoteKeySet) read(r io.Reader) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r, ks.cfg.MaxBodyBytes+1))
	if err != nil {
		return nil, transportError(err)
	}
	if int64(len(body)) > ks.cfg.MaxBodyBytes {
		return nil, failed(outcomeTooLarge, "body over %d bytes", ks.cfg.MaxBodyBytes)
	}
	return body, nil
}

// checkJSON accepts application/json or also (when not empty) the given JSON subtype.
func checkJSON(h http.Header, also string) error {
	mt, _, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || (mt != "application/json" && (also == "" || mt != also)) {
		return failed(outcomeParseError, "content type %q", h.Get("Content-Type"))
	}
	return nil
}

func transportError(err error) error {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return &fetchError{outcome: outcomeTimeout, err: err}
	}
	return &fetchError{outcome: outcomeHTTPError, err: err}
}
