// Package keyring is the signing-key ring of the auth service: it creates, rotates, retires
// and withdraws the Ed25519 signing keys kept (sealed under the KEK) in a ports.KeyStore,
// signs access tokens with the current key, serves the JWKS document with its ETag, and is the
// ports.KeySet of authd's own guard. It imports only ports/, the core nouns and the standard
// library.
//
// Rules (the schedule itself is key.Ring's): a new key is published Policy.PublishLead before
// it signs; a key that stops signing stays published for Policy.KeepAfter (at least the life
// of the tokens it signed), so nobody is logged out; a withdrawn (compromised) key leaves the
// JWKS at once. Every change is told to verifiers with an EventKeysChanged on the bus, once
// it is committed to the KeyStore and this replica serves it, carrying the ETag of the JWKS
// document that serves it and, for a withdrawal, the withdrawn kid; and it is recorded in the
// audit log. Replicas sharing one KeyStore agree on the ring: a slot is
// filled once (KeyStore.Insert answers ErrConflict to the loser, who reloads).
//
// Lifecycle: New checks the configuration and touches no store. Init loads the ring
// (creating the first key when the KeyStore is empty) and should be called once at start, so
// that a bad KEK or an unreachable KeyStore stops the process early; without it the first use
// loads the ring. Run reloads the ring and rotates when due every CheckEvery until its
// context ends.
//
// Errors: a KeyStore, KEK or signing failure that another try (or another replica) may not
// meet wraps ports.ErrUnavailable; Retire and Withdraw of an unknown kid wrap
// ports.ErrNotFound; Rotate racing another replica wraps ports.ErrConflict.
package keyring

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/keygate/keygate/core/audit"
	"github.com/keygate/keygate/core/key"
	"github.com/keygate/keygate/core/revocation"
	"github.com/keygate/keygate/core/token"
	"github.com/keygate/keygate/ports"
)

// ErrInvalidConfig is wrapped by every error of New.
var ErrInvalidConfig = errors.New("keyring: invalid configuration")

// Deps are the ports the ring drives. Every field is required except Metrics (nil: not
// recorded).
type Deps struct {
	Keys    ports.KeyStore
	Issuer  ports.TokenIssuer
	Bus     ports.EventBus // EventKeysChanged after every change
	Audit   ports.AuditLog // key_rotated, key_retired, key_withdrawn
	Clock   ports.Clock
	Metrics ports.Metrics // TokenIssued, SigningKey
}

// Config holds the ring's settings. Zero values take the defaults named on each field.
type Config struct {
	KEK []byte // required, 32 bytes; seals the private keys in the KeyStore
	// TokenLife is the longest a token signed by the ring is accepted anywhere: the access
	// token's TTL plus the largest exp leeway of a verifier; default DefaultTokenLife.
	TokenLife time.Duration
	// Policy is the schedule; default {RotateEvery 720h, PublishLead 10m, KeepAfter
	// TokenLife+CheckEvery}. KeepAfter may not be shorter than TokenLife.
	Policy     key.Policy
	CheckEvery time.Duration // how often Run reloads the ring and checks rotation; default 1m
}

// Defaults.
const (
	// DefaultTokenLife is a 15-minute access token plus a verifier's 2-minute leeway.
	DefaultTokenLife   = 17 * time.Minute
	DefaultRotateEvery = 720 * time.Hour
	DefaultPublishLead = 10 * time.Minute
	DefaultCheckEvery  = time.Minute
)

// kidReloadEvery bounds the reloads an unknown kid can cause (anyone can send a token with
// a made-up kid).
const kidReloadEvery = time.Second

// Ring is the signing-key ring. Safe for concurrent use.
type Ring struct {
	d   Deps
	cfg Config

	// An immutable snapshot swapped atomically; loadMu (a one-slot semaphore, so waiting
	// honours a context) serialises reloads and key creation.
	state         atomic.Pointer[state]
	loadMu        chan struct{}
	opened        map[string]key.Key // kid -> key with Private, guarded by loadMu
	reloads       atomic.Uint64      // reloads started, for coalescing
	lastReloadErr error              // guarded by loadMu
	lastKidReload atomic.Int64       // unix nanos of the last unknown-kid reload
	jwks          atomic.Pointer[jwksDoc]
	distrusted    key.Withdrawn // kids a key-change event named withdrawn, refused before the reload shows it

	publishFailures atomic.Uint64
	auditFailures   atomic.Uint64
}

var _ ports.KeySet = (*Ring)(nil)

// state is one immutable snapshot of the ring, with the private halves this replica could
// open.
type state struct {
	ring    key.Ring
	fp      string // identity of the ring: ids, slots and times
	openErr error  // keys whose private half could not be opened (wrong KEK?)
}

type jwksDoc struct {
	kids string
	doc  []byte
	etag string
}

// New checks cfg, fills in defaults and returns a Ring. It does no I/O: see Init.
func New(d Deps, cfg Config) (*Ring, error) {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...))
	}
	for _, dep := range []struct {
		name    string
		missing bool
	}{{"Keys", d.Keys == nil}, {"Issuer", d.Issuer == nil}, {"Bus", d.Bus == nil}, {"Audit", d.Audit == nil},
		{"Clock", d.Clock == nil}} {
		if dep.missing {
			bad("dependency %s missing", dep.name)
		}
	}
	if d.Metrics == nil {
		d.Metrics = ports.NopMetrics{}
	}
	if len(cfg.KEK) != 32 {
		bad("KEK must be 32 bytes, got %d", len(cfg.KEK))
	}
	cfg.KEK = slices.Clone(cfg.KEK)
	def := func(p *time.Duration, v time.Duration, name string) {
		if *p == 0 {
			*p = v
		} else if *p < 0 {
			bad("%s must be positive", name)
		}
	}
	def(&cfg.TokenLife, DefaultTokenLife, "token life")
	def(&cfg.CheckEvery, DefaultCheckEvery, "key check interval")
	def(&cfg.Policy.RotateEvery, DefaultRotateEvery, "key rotation interval")
	def(&cfg.Policy.PublishLead, DefaultPublishLead, "key publish lead")
	def(&cfg.Policy.KeepAfter, cfg.TokenLife+cfg.CheckEvery, "key keep-after")
	if cfg.Policy.KeepAfter < cfg.TokenLife {
		bad("key keep-after %v is shorter than the token life %v", cfg.Policy.KeepAfter, cfg.TokenLife)
	}
	if cfg.Policy.RotateEvery <= cfg.Policy.PublishLead {
		bad("key rotation interval must exceed the publish lead")
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &Ring{d: d, cfg: cfg, opened: make(map[string]key.Key), loadMu: make(chan struct{}, 1)}, nil
}

// Config returns the effective configuration (defaults filled in, the KEK removed).
func (r *Ring) Config() Config {
	c := r.cfg
	c.KEK = nil
	return c
}

// KeepAfter is how long a key stays published after it stops signing (Policy.KeepAfter).
func (r *Ring) KeepAfter() time.Duration { return r.cfg.Policy.KeepAfter }

// PublishFailures returns how many key-change events could not be published on the bus.
// Verifiers still learn of the change when they refetch the JWKS (its max-age, or an
// unknown kid).
func (r *Ring) PublishFailures() uint64 { return r.publishFailures.Load() }

// AuditFailures returns how many audit events could not be appended (best effort).
func (r *Ring) AuditFailures() uint64 { return r.auditFailures.Load() }

func (r *Ring) lock(ctx context.Context) error {
	select {
	case r.loadMu <- struct{}{}:
		return nil
	case <-ctx.Done():
		return unavailable("key ring", ctx.Err())
	}
}

func (r *Ring) unlock() { <-r.loadMu }

// Init loads the ring from the KeyStore, opening the private keys with the KEK, and creates
// the first key (or the next one, if due) when needed. Call it once at start: it fails when
// the KeyStore cannot be read or a published key cannot be opened with the KEK (a
// misconfigured replica must not start). Without Init, the first use loads the ring (and does
// not check the KEK of keys it does not sign with).
func (r *Ring) Init(ctx context.Context) error {
	if err := r.lock(ctx); err != nil {
		return err
	}
	defer r.unlock()
	now := r.d.Clock.Now()
	st, err := r.ensureLocked(ctx, now)
	if err != nil {
		return err
	}
	if st.openErr != nil {
		for _, k := range st.ring.Published(now, r.cfg.Policy) {
			if len(k.Private) == 0 {
				return fmt.Errorf("keyring: init: %w", st.openErr)
			}
		}
	}
	return nil
}

// current returns the ring, loading it on first use.
func (r *Ring) current(ctx context.Context) (*state, error) {
	if st := r.state.Load(); st != nil {
		return st, nil
	}
	if err := r.lock(ctx); err != nil {
		return nil, err
	}
	defer r.unlock()
	if st := r.state.Load(); st != nil {
		return st, nil
	}
	return r.ensureLocked(ctx, r.d.Clock.Now())
}

// reloadLocked reads the ring from the KeyStore and swaps the snapshot if it changed. On a
// store failure the previous snapshot stays in place.
func (r *Ring) reloadLocked(ctx context.Context) (*state, error) {
	r.reloads.Add(1)
	keys, err := r.d.Keys.Keys(ctx)
	if err != nil {
		r.lastReloadErr = unavailable("load keys", err)
		return r.state.Load(), r.lastReloadErr
	}
	r.lastReloadErr = nil
	ring := make(key.Ring, 0, len(keys))
	var openErr error
	for _, k := range keys {
		k.Private = nil
		if o, ok := r.opened[k.ID]; ok {
			k.Private = o.Private
		} else if o, err := key.Open(k, r.cfg.KEK); err != nil {
			openErr = errors.Join(openErr, fmt.Errorf("keyring: key %s: %w", k.ID, err))
		} else {
			k = o
			r.opened[k.ID] = o
		}
		ring = append(ring, k)
	}
	sort.Slice(ring, func(i, j int) bool { return ring[i].Seq < ring[j].Seq })
	var b strings.Builder
	for _, k := range ring {
		fmt.Fprintf(&b, "%s/%d/%d/%d/%t;", k.ID, k.Seq, k.ActivatesAt.UnixNano(), unixNano(k.RetiredAt), len(k.Private) > 0)
	}
	old := r.state.Load()
	if old != nil && old.fp == b.String() {
		return old, nil
	}
	st := &state{ring: ring, fp: b.String(), openErr: openErr}
	r.state.Store(st)
	return st, nil
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// ensureLocked reloads the ring and creates the next key if key.Ring.Due says so. When
// another replica fills the slot first (ErrConflict) it reloads and carries on with theirs.
func (r *Ring) ensureLocked(ctx context.Context, now time.Time) (*state, error) {
	st, err := r.reloadLocked(ctx)
	if err != nil {
		return st, err
	}
	for range 3 {
		due, seq, at := st.ring.Due(now, r.cfg.Policy)
		if !due {
			return st, nil
		}
		k, err := r.createLocked(ctx, seq, now, at)
		if err != nil && !errors.Is(err, ports.ErrConflict) {
			return st, err
		}
		if st, err = r.reloadLocked(ctx); err != nil {
			return st, err
		}
		if k.ID != "" {
			r.changed(ctx, audit.Event{At: now, Action: audit.ActionKeyRotated,
				Detail: fmt.Sprintf("kid %s slot %d activates %s (scheduled)", k.ID, k.Seq, at.UTC().Format(time.RFC3339))},
				revocation.KeyChange{JWKSETag: r.servedETag(ctx)})
		}
	}
	return st, nil
}

// createLocked generates the key of slot seq, seals it and inserts it. ErrConflict (wrapped)
// when the slot is taken.
func (r *Ring) createLocked(ctx context.Context, seq int64, now, at time.Time) (key.Key, error) {
	k, err := key.Generate(nil, seq, now, at)
	if err != nil {
		return key.Key{}, fmt.Errorf("keyring: create key: %w", err)
	}
	k, err = key.Seal(k, r.cfg.KEK)
	if err != nil {
		return key.Key{}, fmt.Errorf("keyring: create key: %w", err)
	}
	stored := k
	stored.Private = nil
	if err := r.d.Keys.Insert(ctx, stored); err != nil {
		if errors.Is(err, ports.ErrConflict) {
			return key.Key{}, fmt.Errorf("keyring: create key: %w", err)
		}
		return key.Key{}, unavailable("create key", err)
	}
	r.opened[k.ID] = k
	return k, nil
}

// changed tells verifiers what changed (c: call it after the change is committed and the
// snapshot reloaded, so that c.JWKSETag is what this replica serves) and records e in the
// audit log, both best effort (see PublishFailures, AuditFailures).
func (r *Ring) changed(ctx context.Context, e audit.Event, c revocation.KeyChange) {
	if err := r.d.Bus.Publish(ctx, revocation.Event{Kind: revocation.EventKeysChanged, PublishedAt: e.At, Keys: c}); err != nil {
		r.publishFailures.Add(1)
	}
	if err := r.d.Audit.Append(context.WithoutCancel(ctx), e); err != nil {
		r.auditFailures.Add(1)
	}
}

// servedETag returns the ETag of the JWKS document this replica serves now, or "" when it
// cannot say (a verifier told "" refetches until the document changes).
func (r *Ring) servedETag(ctx context.Context) string {
	_, etag, err := r.JWKS(ctx)
	if err != nil {
		return ""
	}
	return etag
}

// public returns k without private material.
func public(k key.Key) key.Key {
	k.Private, k.Sealed = nil, nil
	return k
}

// Sign signs c with the key that signs now (key.Ring.Signing) and counts the token
// (Metrics.TokenIssued). The error wraps ports.ErrUnavailable when the ring cannot be loaded,
// no key signs now, or this replica could not open the signing key (wrong KEK: another
// replica may serve the request).
func (r *Ring) Sign(ctx context.Context, c token.Claims) (string, error) {
	k, err := r.signing(ctx)
	if err != nil {
		return "", err
	}
	raw, err := r.d.Issuer.Sign(k, c)
	if err != nil {
		return "", unavailable("sign", err)
	}
	r.d.Metrics.TokenIssued()
	return raw, nil
}

// Ready reports whether Sign can sign now (loading the ring on first use): the use cases ask
// before they change state that a failed signature would leave half done.
func (r *Ring) Ready(ctx context.Context) error {
	_, err := r.signing(ctx)
	return err
}

func (r *Ring) signing(ctx context.Context) (key.Key, error) {
	st, err := r.current(ctx)
	if err != nil {
		return key.Key{}, err
	}
	k, err := st.ring.Signing(r.d.Clock.Now())
	if err != nil {
		return key.Key{}, unavailable("signing key", err)
	}
	if len(k.Private) == 0 {
		return key.Key{}, unavailable("signing key", fmt.Errorf("key %s: %w", k.ID, key.ErrSealed))
	}
	return k, nil
}

// JWKS returns the current JWKS document (the keys key.Ring.Published lists now) and its
// strong ETag (see ETag). The document is cached until the set of published keys changes;
// callers must not modify it.
func (r *Ring) JWKS(ctx context.Context) (doc []byte, etag string, err error) {
	st, err := r.current(ctx)
	if err != nil {
		return nil, "", err
	}
	pub := st.ring.Published(r.d.Clock.Now(), r.cfg.Policy)
	if !r.distrusted.Empty() {
		// Told of a withdrawal before this replica's reload showed it: never serve the key
		// again (and serve the document the withdrawal's event names a little sooner).
		pub = slices.DeleteFunc(pub, func(k key.Key) bool { return r.distrusted.Has(k.ID) })
	}
	ids := make([]string, len(pub))
	for i, k := range pub {
		ids[i] = k.ID
		pub[i] = public(k)
	}
	kids := strings.Join(ids, ",")
	if c := r.jwks.Load(); c != nil && c.kids == kids {
		return c.doc, c.etag, nil
	}
	doc, err = r.d.Issuer.JWKS(pub)
	if err != nil {
		return nil, "", fmt.Errorf("keyring: jwks: %w", err)
	}
	c := &jwksDoc{kids: kids, doc: doc, etag: ETag(doc)}
	r.jwks.Store(c)
	return c.doc, c.etag, nil
}

// ETag is the strong ETag of a JWKS document: a quoted 128-bit SHA-256 prefix of it. Every
// replica serving the same published keys answers the same one.
func ETag(doc []byte) string {
	sum := sha256.Sum256(doc)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}

// List returns the keys in the KeyStore, oldest slot first, without private material.
func (r *Ring) List(ctx context.Context) ([]key.Key, error) {
	ks, err := r.d.Keys.Keys(ctx)
	if err != nil {
		return nil, unavailable("list keys", err)
	}
	for i := range ks {
		ks[i] = public(ks[i])
	}
	slices.SortFunc(ks, func(a, b key.Key) int { return int(a.Seq - b.Seq) })
	return ks, nil
}

// Rotate creates the next key now (key.Ring.Next: published PublishLead before it signs),
// tells verifiers, and returns it without private material. If another replica creates a key
// at the same moment, the error wraps ports.ErrConflict: try again.
func (r *Ring) Rotate(ctx context.Context) (key.Key, error) {
	if err := r.lock(ctx); err != nil {
		return key.Key{}, err
	}
	defer r.unlock()
	now := r.d.Clock.Now()
	st, err := r.reloadLocked(ctx)
	if err != nil {
		return key.Key{}, err
	}
	seq, at := st.ring.Next(now, r.cfg.Policy)
	k, err := r.createLocked(ctx, seq, now, at)
	if err != nil {
		_, _ = r.reloadLocked(ctx)
		return key.Key{}, fmt.Errorf("keyring: rotate: %w", err)
	}
	// The new key is in r.opened; a failed reload is retried by Run, and the event then names
	// no document (this replica does not serve the new one yet).
	var c revocation.KeyChange
	if _, err := r.reloadLocked(ctx); err == nil {
		c.JWKSETag = r.servedETag(ctx)
	}
	r.changed(ctx, audit.Event{At: now, Action: audit.ActionKeyRotated,
		Detail: fmt.Sprintf("kid %s slot %d activates %s", k.ID, k.Seq, at.UTC().Format(time.RFC3339))}, c)
	return public(k), nil
}

// Retire stops key kid signing now. It stays published until the tokens it signed have
// expired (Policy.KeepAfter), so nobody is logged out; the pending key, if any, signs at once
// when kid was the signing key (key.Ring.Signing), else a new one is created. An unknown kid
// wraps ports.ErrNotFound.
func (r *Ring) Retire(ctx context.Context, kid string) error { return r.retire(ctx, kid, false) }

// Withdraw is Retire for a compromised key: it stops signing and leaves the JWKS at once, so
// every verifier refuses the tokens it signed as soon as the key-change event (which names
// it) reaches it (their holders refresh and get tokens from the next key).
func (r *Ring) Withdraw(ctx context.Context, kid string) error { return r.retire(ctx, kid, true) }

func (r *Ring) retire(ctx context.Context, kid string, withdraw bool) error {
	if err := r.lock(ctx); err != nil {
		return err
	}
	defer r.unlock()
	now := r.d.Clock.Now()
	at, action := now, audit.ActionKeyRetired
	if withdraw {
		// Retired KeepAfter ago: key.Ring.Published drops it now. One mechanism, no new state.
		at, action = now.Add(-r.cfg.Policy.KeepAfter), audit.ActionKeyWithdrawn
	}
	if err := r.d.Keys.Retire(ctx, kid, at); err != nil {
		if errors.Is(err, ports.ErrNotFound) {
			return fmt.Errorf("keyring: retire key: %w", err)
		}
		return unavailable("retire key", err)
	}
	_, err := r.ensureLocked(ctx, now)
	c := revocation.KeyChange{}
	if err == nil {
		c.JWKSETag = r.servedETag(ctx)
	}
	if withdraw {
		r.distrusted.Add(kid)
		c.Withdrawn = kid
	}
	r.changed(ctx, audit.Event{At: now, Action: action, Detail: "kid " + kid}, c)
	return err
}

// Run reloads the ring and creates the next key when due every CheckEvery (reporting
// Metrics.SigningKey) until ctx ends, then returns ctx's error. Failures are retried at the
// next tick; Run does not stop on them.
func (r *Ring) Run(ctx context.Context) error {
	r.check(ctx)
	t := time.NewTicker(r.cfg.CheckEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			r.check(ctx)
		}
	}
}

// check reloads the ring, rotates if due and reports the signing key's age.
func (r *Ring) check(ctx context.Context) {
	if r.lock(ctx) != nil {
		return
	}
	now := r.d.Clock.Now()
	st, _ := r.ensureLocked(ctx, now)
	r.unlock()
	if st == nil {
		return
	}
	signing, err := st.ring.Signing(now)
	if err != nil {
		return
	}
	next := signing.ActivatesAt.Add(r.cfg.Policy.RotateEvery)
	for _, k := range st.ring {
		if k.ActivatesAt.After(now) && (k.RetiredAt.IsZero() || k.RetiredAt.After(now)) && k.ActivatesAt.Before(next) {
			next = k.ActivatesAt
		}
	}
	r.d.Metrics.SigningKey(now.Sub(signing.ActivatesAt), next.Sub(now))
}

func (r *Ring) lookup(kid string) (pk ed25519.PublicKey, found, loaded bool) {
	st := r.state.Load()
	if st == nil {
		return nil, false, false
	}
	if r.distrusted.Has(kid) {
		return nil, false, true
	}
	for _, k := range st.ring.Published(r.d.Clock.Now(), r.cfg.Policy) {
		if k.ID == kid {
			return k.Public, true, true
		}
	}
	return nil, false, true
}

// PublicKey implements ports.KeySet from memory, over the keys the JWKS publishes now: an
// unknown kid may cause one coalesced reload per second (anyone can make one up).
func (r *Ring) PublicKey(ctx context.Context, kid string, mayRefresh bool) (ed25519.PublicKey, error) {
	pk, ok, loaded := r.lookup(kid)
	if ok {
		return pk, nil
	}
	if mayRefresh {
		now := r.d.Clock.Now().UnixNano()
		last := r.lastKidReload.Load()
		if !loaded || (now-last >= int64(kidReloadEvery) && r.lastKidReload.CompareAndSwap(last, now)) {
			rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			_ = r.reloadCoalesced(rctx)
			cancel()
			if pk, ok, loaded = r.lookup(kid); ok {
				return pk, nil
			}
		}
	}
	if !loaded {
		return nil, token.ErrKeysUnavailable
	}
	return nil, token.ErrUnknownKid
}

// Refresh implements ports.KeySet: it reloads the ring, coalesced with any reload already
// waiting. The ring reads the KeyStore itself, where a change is committed before its event is
// published, so one reload holds it: etag is not needed.
func (r *Ring) Refresh(ctx context.Context, etag string) error { return r.reloadCoalesced(ctx) }

// Distrust implements ports.KeySet: PublicKey refuses kid at once, before the reload that
// shows it withdrawn.
func (r *Ring) Distrust(kid string) { r.distrusted.Add(kid) }

// reloadCoalesced reloads the ring unless a reload started after the call began (its result
// is as fresh as ours would be).
func (r *Ring) reloadCoalesced(ctx context.Context) error {
	want := r.reloads.Load()
	if err := r.lock(ctx); err != nil {
		return err
	}
	defer r.unlock()
	if r.reloads.Load() > want {
		return r.lastReloadErr
	}
	_, err := r.reloadLocked(ctx)
	return err
}

// unavailable wraps err, the failure of the KeyStore or of signing, so that it matches
// ports.ErrUnavailable.
func unavailable(op string, err error) error {
	if errors.Is(err, ports.ErrUnavailable) {
		return fmt.Errorf("keyring: %s: %w", op, err)
	}
	return fmt.Errorf("keyring: %s: %w: %w", op, ports.ErrUnavailable, err)
}
