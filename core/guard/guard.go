// Package guard is the use case of a microservice: authenticate a raw access token into the
// claims of its caller, checking cheapest things first, the signature through a KeySet, the
// claims, then the local revocation set that a Feed keeps current. It imports only ports/, the
// core nouns and the standard library.
package guard

import (
	"context"
	"errors"
	"time"

	"github.com/keygate/keygate/core/revocation"
	"github.com/keygate/keygate/core/token"
	"github.com/keygate/keygate/ports"
)

// Config is what a verifier checks.
type Config struct {
	Issuer          string        // exact iss
	Audiences       []string      // a token must name at least one of these in aud
	Leeway          time.Duration // one leeway for exp, nbf, iat; default 30s, at most 120s
	MaxAge          time.Duration // now - iat must not exceed MaxAge + Leeway; default 15m
	MaxTokenBytes   int           // default 4096, at most 8192
	FailClosedAfter time.Duration // 0: fail open; else ErrRevocationUnavailable once the feed is staler
}

// Guard authenticates access tokens. Safe for concurrent use.
type Guard struct {
	keys    ports.KeySet
	feed    *Feed
	clock   ports.Clock
	metrics ports.Metrics
	cfg     Config
}

// New returns a Guard. feed supplies the revocation set and its staleness.
func New(keys ports.KeySet, feed *Feed, clock ports.Clock, m ports.Metrics, cfg Config) (*Guard, error) {
	return nil, errors.New("guard: unimplemented")
}

// Authenticate verifies raw and returns its claims, or an error wrapping one of token's
// sentinels (token.Unavailable tells 503 from 401).
func (g *Guard) Authenticate(ctx context.Context, raw string) (token.Claims, error) {
	return token.Claims{}, errors.New("guard: unimplemented")
}

// Feed keeps a revocation.Set equal to a RevocationStore's through an EventBus.
type Feed struct {
	set *revocation.Set
}

// FeedConfig tunes a Feed.
type FeedConfig struct {
	Reconcile time.Duration // full resync at least this often; default 5m
	Poll      time.Duration // compare the store's Seq with ours this often; default 5s
}

// NewFeed returns a Feed over an empty set. keys may be nil (no key-change handling).
func NewFeed(store ports.RevocationStore, bus ports.EventBus, keys ports.KeySet, clock ports.Clock, m ports.Metrics, cfg FeedConfig) *Feed {
	return &Feed{set: revocation.NewSet()}
}

// Run subscribes and keeps the set current until ctx ends.
func (f *Feed) Run(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }

// FeedStatus is what /ready and metrics report.
type FeedStatus struct {
	Connected bool
	Synced    bool          // at least one snapshot loaded
	Staleness time.Duration // time since the set was last known current
	Seq       uint64
	Entries   int
}

// Status reports the feed's state.
func (f *Feed) Status() FeedStatus { return FeedStatus{} }
