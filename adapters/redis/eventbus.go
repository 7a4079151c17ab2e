package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/keygate/keygate/core/backoff"
	"github.com/keygate/keygate/core/revocation"
	"github.com/keygate/keygate/ports"
)

// EventBus is a ports.EventBus on Redis pub/sub (channel "{p}:events"). Pub/sub is
// at-most-once, so a subscriber is told of every (re)subscription with EventConnected and
// resynchronises from the RevocationStore. Subscribe reads the connection itself, one reply at a
// time, and never buffers or drops: a handler that falls behind makes Redis close the
// connection (client-output-buffer-limit pubsub), which is seen as a loss and followed by a
// new subscription. An idle subscription is checked with PING every Config.PingInterval, so a
// server that stopped answering (paused, partitioned) is noticed within two intervals. Safe
// for concurrent use.
type EventBus struct {
	client  goredis.UniversalClient
	channel string
	ping    time.Duration
}

var _ ports.EventBus = (*EventBus)(nil)

// NewEventBus returns an EventBus on client with cfg's prefix and ping interval.
func NewEventBus(client goredis.UniversalClient, cfg Config) (*EventBus, error) {
	if client == nil {
		return nil, fmt.Errorf("redis: event bus: nil client")
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &EventBus{client: client, channel: newKeys(cfg).events(), ping: cfg.pingInterval()}, nil
}

// Publish sends e, PublishedAt as given, to every current subscriber.
func (b *EventBus) Publish(ctx context.Context, e revocation.Event) error {
	if err := b.client.Publish(ctx, b.channel, encodeEvent(e)).Err(); err != nil {
		return wrap("publish", err)
	}
	return nil
}

// Subscribe calls h with EventConnected each time Redis confirms the subscription, then with
// every event published after it, in order, and with EventDisconnected when the subscription
// is lost; it resubscribes on its own (with backoff) until ctx ends, then returns ctx's error.
func (b *EventBus) Subscribe(ctx context.Context, h func(revocation.Event)) error {
	s := &subscription{bus: b, h: h}
	for {
		ps := b.client.Subscribe(ctx, b.channel)
		stop := context.AfterFunc(ctx, func() { _ = ps.Close() }) // unblocks a pending read
		s.receive(ctx, ps)
		stop()
		_ = ps.Close()
		s.lost()
		// Resubscribe after 50ms doubling to 2s, with jitter.
		if ctx.Err() != nil || !backoff.Sleep(ctx, backoff.Delay(50*time.Millisecond, 2*time.Second, s.failures)) {
			return ctx.Err()
		}
		s.failures++
	}
}

// subscription is the state of one Subscribe call.
type subscription struct {
	bus       *EventBus
	h         func(revocation.Event)
	connected bool
	failures  int // since the last confirmed subscription
}

func (s *subscription) lost() {
	if s.connected {
		s.connected = false
		s.h(revocation.Event{Kind: revocation.EventDisconnected})
	}
}

// receive reads ps until ctx ends, the connection fails, or the server stops answering pings.
func (s *subscription) receive(ctx context.Context, ps *goredis.PubSub) {
	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, s.bus.ping)
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return
		case isTimeout(err) && !pinged:
			// Idle for an interval: ask the server to prove it is there. The pong (or
			// an error) arrives through ReceiveTimeout.
			_ = ps.Ping(ctx)
			pinged = true
			continue
		default:
			// Lost (or no answer for two intervals): start over on a new connection, in a
			// known state, rather than trust whatever go-redis redialled.
			return
		}
		pinged = false
		switch m := msg.(type) {
		case *goredis.Subscription:
			if m.Kind == "subscribe" && m.Channel == s.bus.channel {
				s.connected, s.failures = true, 0
				s.h(revocation.Event{Kind: revocation.EventConnected})
			}
		case *goredis.Message:
			e, err := decodeEvent(m.Payload)
			if err != nil {
				// An event we cannot read may be a revocation: have the subscriber
				// resynchronise rather than drop it silently.
				s.h(revocation.Event{Kind: revocation.EventConnected})
				continue
			}
			s.h(e)
		case *goredis.Pong:
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// The wire form of an event is "1 <kind> <seq> <published ns> <entry kind> <not-before ns>
// <expiry ns> <key>": space-separated, the key last and raw, so any bytes survive. A
// key-change event has no entry ("-") and carries its revocation.KeyChange in the key's place
// as a form ("jwks_etag=...&withdrawn=...", names unknown to a reader ignored): a reader from
// before it existed ignores the key of a key-change event, and an event from before it has an
// empty one, so both versions read each other's events.
const eventVersion = "1"

// Names of the KeyChange fields in a key-change event's form.
const (
	formJWKSETag  = "jwks_etag"
	formWithdrawn = "withdrawn"
)

func encodeEvent(e revocation.Event) string {
	ek := string(e.Entry.Kind)
	if ek == "" {
		ek = "-"
	}
	last := e.Entry.Key
	if e.Kind == revocation.EventKeysChanged && ek == "-" {
		last = encodeKeyChange(e.Keys)
	}
	var b strings.Builder
	b.Grow(64 + len(last))
	for _, s := range []string{eventVersion, string(e.Kind), strconv.FormatUint(e.Seq, 10),
		nanos(e.PublishedAt), ek, nanos(e.Entry.NotBefore), nanos(e.Entry.ExpiresAt)} {
		b.WriteString(s)
		b.WriteByte(' ')
	}
	b.WriteString(last)
	return b.String()
}

func encodeKeyChange(c revocation.KeyChange) string {
	v := url.Values{}
	if c.JWKSETag != "" {
		v.Set(formJWKSETag, c.JWKSETag)
	}
	if c.Withdrawn != "" {
		v.Set(formWithdrawn, c.Withdrawn)
	}
	return v.Encode()
}

// decodeKeyChange reads what encodeKeyChange wrote. A form it cannot read says nothing more
// than that the keys changed (the verifier then refetches until the JWKS changes).
func decodeKeyChange(s string) revocation.KeyChange {
	v, err := url.ParseQuery(s)
	if err != nil {
		return revocation.KeyChange{}
	}
	return revocation.KeyChange{JWKSETag: v.Get(formJWKSETag), Withdrawn: v.Get(formWithdrawn)}
}

// splitEvent returns the wire form of e around its sequence number: head + seq + tail, for a
// script that publishes an event with the number it assigns.
func splitEvent(e revocation.Event) (head, tail string) {
	e.Seq = 0
	w := encodeEvent(e)
	// The sequence number is the third field: after "<version> <kind> ".
	i := len(eventVersion) + 1 + len(e.Kind) + 1
	return w[:i], w[i+1:] // drop the "0" encodeEvent wrote
}

func decodeEvent(s string) (revocation.Event, error) {
	f := strings.SplitN(s, " ", 8)
	if len(f) != 8 || f[0] != eventVersion || f[1] == "" {
		return revocation.Event{}, errors.New("redis: malformed event")
	}
	seq, err := strconv.ParseUint(f[2], 10, 64)
	if err != nil {
		return revocation.Event{}, errors.New("redis: malformed event sequence number")
	}
	var t [3]time.Time
	for i, v := range []string{f[3], f[5], f[6]} {
		if t[i], err = parseNanos(v); err != nil {
			return revocation.Event{}, fmt.Errorf("redis: malformed event: %w", err)
		}
	}
	e := revocation.Event{Kind: revocation.EventKind(f[1]), Seq: seq, PublishedAt: t[0]}
	switch {
	case f[4] != "-":
		e.Entry = revocation.Entry{Kind: revocation.Kind(f[4]), Key: f[7], NotBefore: t[1], ExpiresAt: t[2]}
	case e.Kind == revocation.EventKeysChanged:
		e.Keys = decodeKeyChange(f[7])
	case f[7] != "":
		e.Entry.Key = f[7]
	}
	return e, nil
}
