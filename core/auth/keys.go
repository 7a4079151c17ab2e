package auth

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/keygate/keygate/core/audit"
	"github.com/keygate/keygate/core/key"
	"github.com/keygate/keygate/core/revocation"
	"github.com/keygate/keygate/core/token"
	"github.com/keygate/keygate/ports"
)

// kidReloadEvery bounds the reloads an unknown kid can cause (anyone can send a token with
// a made-up kid).
const kidReloadEvery = time.Second

// ringState is one immutable snapshot of the signing-key ring, with the private halves that
// this replica could open.
type ringState struct {
	ring    key.Ring
	fp      string // identity of the ring: ids, slots and times
	version uint64
	openErr error // keys whose private half could not be opened (wrong KEK?)
}

type jwksDoc struct {
	kids string
	doc  []byte
	etag string
}

func (s *Service) lock(ctx context.Context) error {
	select {
	case s.loadMu <- struct{}{}:
		return nil
	case <-ctx.Done():
		return unavailable("key ring", ctx.Err())
	}
}

func (s *Service) unlock() { <-s.loadMu }

// Init loads the signing-key ring from the KeyStore, opening the private keys with the KEK,
// and creates the first key (or the next one, if due) when needed. Call it once at start: it
// fails when the KeyStore cannot be read or a published key cannot be opened with the KEK
// (a misconfigured replica must not start). Without Init, the first use case that needs the
// ring loads it (and does not check the KEK of keys it does not sign with).
func (s *Service) Init(ctx context.Context) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.unlock()
	now := s.d.Clock.Now()
	st, err := s.ensureLocked(ctx, now)
	if err != nil {
		return err
	}
	if st.openErr != nil {
		pub := st.ring.Published(now, s.cfg.Keys)
		for _, k := range pub {
			if len(k.Private) == 0 {
				return fmt.Errorf("auth: init: %w", st.openErr)
			}
		}
	}
	return nil
}

// current returns the ring, loading it on first use.
func (s *Service) current(ctx context.Context) (*ringState, error) {
	if st := s.ring.Load(); st != nil {
		return st, nil
	}
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.unlock()
	if st := s.ring.Load(); st != nil {
		return st, nil
	}
	return s.ensureLocked(ctx, s.d.Clock.Now())
}

// reloadLocked reads the ring from the KeyStore and swaps the snapshot if it changed. On a
// store failure the previous snapshot stays in place.
func (s *Service) reloadLocked(ctx context.Context) (*ringState, error) {
	s.reloads.Add(1)
	keys, err := s.d.Keys.Keys(ctx)
	if err != nil {
		s.lastReloadErr = unavailable("load keys", err)
		return s.ring.Load(), s.lastReloadErr
	}
	s.lastReloadErr = nil
	ring := make(key.Ring, 0, len(keys))
	var openErr error
	for _, k := range keys {
		k.Private = nil
		if o, ok := s.opened[k.ID]; ok {
			k.Private = o.Private
		} else if o, err := key.Open(k, s.cfg.KEK); err != nil {
			openErr = errors.Join(openErr, fmt.Errorf("auth: key %s: %w", k.ID, err))
		} else {
			k = o
			s.opened[k.ID] = o
		}
		ring = append(ring, k)
	}
	sort.Slice(ring, func(i, j int) bool { return ring[i].Seq < ring[j].Seq })
	var b strings.Builder
	for _, k := range ring {
		fmt.Fprintf(&b, "%s/%d/%d/%d/%t;", k.ID, k.Seq, k.ActivatesAt.UnixNano(), unixNano(k.RetiredAt), len(k.Private) > 0)
	}
	old := s.ring.Load()
	if old != nil && old.fp == b.String() {
		return old, nil
	}
	st := &ringState{ring: ring, fp: b.String(), version: 1, openErr: openErr}
	if old != nil {
		st.version = old.version + 1
	}
	s.ring.Store(st)
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
func (s *Service) ensureLocked(ctx context.Context, now time.Time) (*ringState, error) {
	st, err := s.reloadLocked(ctx)
	if err != nil {
		return st, err
	}
	for range 3 {
		due, seq, at := st.ring.Due(now, s.cfg.Keys)
		if !due {
			return st, nil
		}
		k, err := s.createLocked(ctx, seq, now, at)
		if err != nil && !errors.Is(err, ports.ErrConflict) {
			return st, err
		}
		if st, err = s.reloadLocked(ctx); err != nil {
			return st, err
		}
		if k.ID != "" {
			s.keysChanged(ctx, now)
			s.audit(ctx, audit.Event{At: now, Action: audit.ActionKeyRotated,
				Detail: fmt.Sprintf("kid %s slot %d activates %s (scheduled)", k.ID, k.Seq, at.UTC().Format(time.RFC3339))})
		}
	}
	return st, nil
}

// createLocked generates the key of slot seq, seals it and inserts it. ErrConflict (wrapped)
// when the slot is taken.
func (s *Service) createLocked(ctx context.Context, seq int64, now, at time.Time) (key.Key, error) {
	k, err := key.Generate(nil, seq, now, at)
	if err != nil {
		return key.Key{}, fmt.Errorf("auth: create key: %w", err)
	}
	k, err = key.Seal(k, s.cfg.KEK)
	if err != nil {
		return key.Key{}, fmt.Errorf("auth: create key: %w", err)
	}
	stored := k
	stored.Private = nil
	if err := s.d.Keys.Insert(ctx, stored); err != nil {
		if errors.Is(err, ports.ErrConflict) {
			return key.Key{}, fmt.Errorf("auth: create key: %w", err)
		}
		return key.Key{}, unavailable("create key", err)
	}
	s.opened[k.ID] = k
	return k, nil
}

// keysChanged tells verifiers to refetch the JWKS.
func (s *Service) keysChanged(ctx context.Context, now time.Time) {
	err := s.d.Bus.Publish(ctx, revocation.Event{Kind: revocation.EventKeysChanged, PublishedAt: now})
	if err != nil {
		s.publishFailures.Add(1)
	}
}

// public returns k without private material.
func public(k key.Key) key.Key {
	k.Private, k.Sealed = nil, nil
	return k
}

// JWKS returns the current JWKS document (the keys key.Ring.Published lists now) and its
// strong ETag (a quoted SHA-256 prefix of the document). The document is cached until the set
// of published keys changes; callers must not modify it.
func (s *Service) JWKS(ctx context.Context) (doc []byte, etag string, err error) {
	st, err := s.current(ctx)
	if err != nil {
		return nil, "", err
	}
	pub := st.ring.Published(s.d.Clock.Now(), s.cfg.Keys)
	ids := make([]string, len(pub))
	for i, k := range pub {
		ids[i] = k.ID
		pub[i] = public(k)
	}
	kids := strings.Join(ids, ",")
	if c := s.jwks.Load(); c != nil && c.kids == kids {
		return c.doc, c.etag, nil
	}
	doc, err = s.d.Issuer.JWKS(pub)
	if err != nil {
		return nil, "", fmt.Errorf("auth: jwks: %w", err)
	}
	sum := sha256.Sum256(doc)
	c := &jwksDoc{kids: kids, doc: doc, etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
	s.jwks.Store(c)
	return c.doc, c.etag, nil
}

// RotateKeys creates the next key now (key.Ring.Next: published PublishLead before it
// signs), tells verifiers, and returns it without private material. If another replica
// creates a key at the same moment, the error wraps ports.ErrConflict: try again.
func (s *Service) RotateKeys(ctx context.Context) (key.Key, error) {
	if err := s.lock(ctx); err != nil {
		return key.Key{}, err
	}
	defer s.unlock()
	now := s.d.Clock.Now()
	st, err := s.reloadLocked(ctx)
	if err != nil {
		return key.Key{}, err
	}
	seq, at := st.ring.Next(now, s.cfg.Keys)
	k, err := s.createLocked(ctx, seq, now, at)
	if err != nil {
		_, _ = s.reloadLocked(ctx)
		return key.Key{}, fmt.Errorf("auth: rotate keys: %w", err)
	}
	_, _ = s.reloadLocked(ctx) // the new key is in s.opened; a failed reload is retried by Run
	s.keysChanged(ctx, now)
	s.audit(ctx, audit.Event{At: now, Action: audit.ActionKeyRotated,
		Detail: fmt.Sprintf("kid %s slot %d activates %s", k.ID, k.Seq, at.UTC().Format(time.RFC3339))})
	return public(k), nil
}

// RetireKey stops key kid signing now. It stays published until the tokens it signed have
// expired (Keys.KeepAfter), so nobody is logged out; the pending key, if any, signs at once
// when kid was the signing key (key.Ring.Signing). ports.ErrNotFound for an unknown kid.
func (s *Service) RetireKey(ctx context.Context, kid string) error {
	return s.retire(ctx, kid, false)
}

// WithdrawKey is RetireKey for a compromised key: it stops signing and leaves the JWKS at once,
// so every verifier refuses the tokens it signed as soon as the key-change event reaches it
// (their holders refresh and get tokens from the next key).
func (s *Service) WithdrawKey(ctx context.Context, kid string) error {
	return s.retire(ctx, kid, true)
}

func (s *Service) retire(ctx context.Context, kid string, withdraw bool) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.unlock()
	now := s.d.Clock.Now()
	at, action := now, audit.ActionKeyRetired
	if withdraw {
		// Retired KeepAfter ago: key.Ring.Published drops it now. One mechanism, no new state.
		at, action = now.Add(-s.cfg.Keys.KeepAfter), audit.ActionKeyWithdrawn
	}
	if err := s.d.Keys.Retire(ctx, kid, at); err != nil {
		if errors.Is(err, ports.ErrNotFound) {
			return fmt.Errorf("auth: retire key: %w", err)
		}
		return unavailable("retire key", err)
	}
	_, err := s.ensureLocked(ctx, now)
	s.keysChanged(ctx, now)
	s.audit(ctx, audit.Event{At: now, Action: action, Detail: "kid " + kid})
	return err
}

// Run does the background work until ctx ends, then returns ctx's error: it reloads the ring
// and creates the next key when due every KeyCheckEvery (reporting Metrics.SigningKey), and
// publishes an EventHeartbeat carrying the RevocationStore's sequence number every
// HeartbeatEvery. Failures are retried at the next tick; Run does not stop on them.
func (s *Service) Run(ctx context.Context) error {
	s.checkKeys(ctx)
	s.heartbeat(ctx)
	hb := time.NewTicker(s.cfg.HeartbeatEvery)
	defer hb.Stop()
	kc := time.NewTicker(s.cfg.KeyCheckEvery)
	defer kc.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-hb.C:
			s.heartbeat(ctx)
		case <-kc.C:
			s.checkKeys(ctx)
		}
	}
}

// checkKeys reloads the ring, rotates if due and reports the signing key's age.
func (s *Service) checkKeys(ctx context.Context) {
	if s.lock(ctx) != nil {
		return
	}
	now := s.d.Clock.Now()
	st, _ := s.ensureLocked(ctx, now)
	s.unlock()
	if st == nil {
		return
	}
	signing, err := st.ring.Signing(now)
	if err != nil {
		return
	}
	next := signing.ActivatesAt.Add(s.cfg.Keys.RotateEvery)
	for _, k := range st.ring {
		if k.ActivatesAt.After(now) && (k.RetiredAt.IsZero() || k.RetiredAt.After(now)) && k.ActivatesAt.Before(next) {
			next = k.ActivatesAt
		}
	}
	s.d.Metrics.SigningKey(now.Sub(signing.ActivatesAt), next.Sub(now))
}

// heartbeat publishes the store's sequence number so verifiers notice missed events.
func (s *Service) heartbeat(ctx context.Context) {
	start := s.d.Clock.Now()
	seq, err := s.d.Revocations.Seq(ctx)
	now := s.d.Clock.Now()
	s.d.Metrics.RevocationStoreOp("seq", now.Sub(start), err)
	if err != nil {
		return // a heartbeat with a wrong sequence number would mislead; skip this beat
	}
	if err := s.d.Bus.Publish(ctx, revocation.Event{Kind: revocation.EventHeartbeat, Seq: seq, PublishedAt: now}); err != nil {
		s.publishFailures.Add(1)
	}
}

// KeySet returns the ring as a ports.KeySet, for authd's own guard: PublicKey answers from
// the keys the JWKS publishes now, from memory; an unknown kid may cause one coalesced
// reload per second; Refresh reloads (coalesced with any reload already waiting).
func (s *Service) KeySet() ports.KeySet { return keySet{s} }

type keySet struct{ s *Service }

var _ ports.KeySet = keySet{}

func (k keySet) lookup(kid string) (ed25519.PublicKey, bool, bool) {
	st := k.s.ring.Load()
	if st == nil {
		return nil, false, false
	}
	now := k.s.d.Clock.Now()
	for _, key := range st.ring.Published(now, k.s.cfg.Keys) {
		if key.ID == kid {
			return key.Public, true, true
		}
	}
	return nil, false, true
}

// PublicKey implements ports.KeySet.
func (k keySet) PublicKey(ctx context.Context, kid string, mayRefresh bool) (ed25519.PublicKey, error) {
	pk, ok, loaded := k.lookup(kid)
	if ok {
		return pk, nil
	}
	if mayRefresh {
		now := k.s.d.Clock.Now().UnixNano()
		last := k.s.lastKidReload.Load()
		if !loaded || (now-last >= int64(kidReloadEvery) && k.s.lastKidReload.CompareAndSwap(last, now)) {
			rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			_ = k.s.reloadCoalesced(rctx)
			cancel()
			pk, ok, loaded = k.lookup(kid)
			if ok {
				return pk, nil
			}
		}
	}
	if !loaded {
		return nil, token.ErrKeysUnavailable
	}
	return nil, token.ErrUnknownKid
}

// Refresh implements ports.KeySet.
func (k keySet) Refresh(ctx context.Context) error { return k.s.reloadCoalesced(ctx) }

// reloadCoalesced reloads the ring unless a reload started after the call began (its result
// is as fresh as ours would be).
func (s *Service) reloadCoalesced(ctx context.Context) error {
	want := s.reloads.Load()
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.unlock()
	if s.reloads.Load() > want {
		return s.lastReloadErr
	}
	_, err := s.reloadLocked(ctx)
	return err
}
