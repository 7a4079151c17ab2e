// Package remote holds authd's use cases for verifiers outside this process, in any
// language: Relay, the revocation feed as one ordered stream a client follows with nothing but
// HTTP (docs/revocation-feed.md), and Introspector, RFC 7662 introspection over authd's own
// guard. It imports only ports/, the core nouns and the standard library.
package remote

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/keygate/keygate/core/backoff"
	"github.com/keygate/keygate/core/revocation"
	"github.com/keygate/keygate/ports"
)

// ErrNotReady reports that the relay has not loaded the revocation set yet: it cannot start a
// stream now (retry later).
var ErrNotReady = errors.New("remote: revocation set not loaded yet")

// MessageKind names a message of the stream (the SSE event name).
type MessageKind string

// The messages of a stream, in the order docs/revocation-feed.md gives their meaning.
const (
	MsgSnapshot  MessageKind = "snapshot"  // Seq, Entries: replace the set
	MsgResumed   MessageKind = "resumed"   // Seq: the client's set is current up to Seq
	MsgRevoked   MessageKind = "revoked"   // Seq, Entry, PublishedAt: add the entry
	MsgHeartbeat MessageKind = "heartbeat" // Seq (the store's latest), At
	MsgKeys      MessageKind = "keys"      // KeysVersion, Withdrawn, PublishedAt: the signing keys changed
	MsgKeepAlive MessageKind = "keepalive" // nothing happened for KeepAlive: proof the connection lives (an SSE comment)
)

// Message is one message of a stream.
type Message struct {
	Kind        MessageKind
	Seq         uint64
	Entries     []revocation.Entry // MsgSnapshot
	Entry       revocation.Entry   // MsgRevoked
	PublishedAt time.Time          // MsgRevoked, MsgKeys
	At          time.Time          // MsgHeartbeat
	KeysVersion string             // MsgKeys: the JWKS ETag of the changed key set ("" if the publisher did not say)
	Withdrawn   string             // MsgKeys: the kid the change withdrew, "" if none
}

// RelayConfig tunes a Relay. Zero fields take their defaults.
type RelayConfig struct {
	Backlog  int           // revocations kept for resumption; default 4096
	Poll     time.Duration // compare the store's Seq with the relay's this often; default 2s
	GapGrace time.Duration // how long a sequence gap may stay open before a resync; default 500ms
	Timeout  time.Duration // bound on each store call; default 5s
	RetryMin time.Duration // first retry delay after a failed resync or subscription; default 100ms
	RetryMax time.Duration // retry delay cap; default 30s
	// KeepAlive is the longest a stream stays silent: after it, Follow sends MsgKeepAlive;
	// default 5s.
	KeepAlive time.Duration
}

func (c *RelayConfig) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.Backlog <= 0 {
		c.Backlog = 4096
	}
	def(&c.Poll, 2*time.Second)
	def(&c.GapGrace, 500*time.Millisecond)
	def(&c.Timeout, 5*time.Second)
	def(&c.RetryMin, 100*time.Millisecond)
	def(&c.RetryMax, 30*time.Second)
	def(&c.KeepAlive, 5*time.Second)
	c.RetryMax = max(c.RetryMax, c.RetryMin)
}

// Relay turns the revocation store and event bus into one ordered stream per client: a
// snapshot (or, for a client that resumes from a sequence number the relay still holds, a
// resumption), then every revocation in sequence order with no hole, heartbeats carrying the
// store's sequence number, and key changes. It keeps the set and a log of the last Backlog
// revocations, numbered by the store; when it misses one (a gap that does not close within
// GapGrace, a bus reconnect, a store that went back) it resynchronises from a snapshot and
// every stream gets a fresh snapshot. Safe for concurrent use; Run must be called once.
type Relay struct {
	store ports.RevocationStore
	bus   ports.EventBus
	clock ports.Clock
	cfg   RelayConfig

	mu      sync.Mutex
	set     *revocation.Set
	synced  bool
	epoch   uint64             // incremented whenever continuity is lost; a stream of an older epoch restarts with a snapshot
	base    uint64             // log holds the revocations base+1 .. last
	log     []revocation.Event // in sequence order, contiguous
	last    uint64
	target  uint64                      // highest sequence number known to exist
	pending map[uint64]revocation.Event // received above last+1
	beat    uint64                      // heartbeats received; a stream sends one when it changes
	beatMsg Message                     // the latest heartbeat
	keys    uint64                      // key changes received
	keysMsg Message                     // the latest key change
	wake    chan struct{}               // closed and replaced at every change streams must see
	gapAt   time.Time                   // when the open gap opened (zero: none)
	running bool
}

// NewRelay returns a Relay that has loaded nothing yet.
func NewRelay(store ports.RevocationStore, bus ports.EventBus, clock ports.Clock, cfg RelayConfig) *Relay {
	cfg.defaults()
	return &Relay{store: store, bus: bus, clock: clock, cfg: cfg, set: revocation.NewSet(),
		pending: map[uint64]revocation.Event{}, wake: make(chan struct{})}
}

// Ready reports whether the relay has loaded the revocation set at least once.
func (r *Relay) Ready() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.synced
}

// Seq returns the sequence number up to which the relay holds every revocation.
func (r *Relay) Seq() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

// notifyLocked wakes every stream; r.mu is held.
func (r *Relay) notifyLocked() {
	close(r.wake)
	r.wake = make(chan struct{})
}

// Run subscribes to the bus and keeps the relay current until ctx ends; it returns ctx's
// error. Failures of the store or the bus never end it: it retries and keeps what it has.
func (r *Relay) Run(ctx context.Context) error {
	r.mu.Lock()
	if r.running {
		r.mu.Unlock()
		return errors.New("remote: relay is already running")
	}
	r.running = true
	r.mu.Unlock()

	events := make(chan revocation.Event, 1024)
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { r.subscribe(ctx, events) })

	poll := time.NewTicker(r.cfg.Poll)
	defer poll.Stop()
	check := time.NewTicker(max(r.cfg.GapGrace/4, time.Millisecond))
	defer check.Stop()
	var retry <-chan time.Time
	attempts := 0
	resync := func() {
		if err := r.resync(ctx); err != nil && ctx.Err() == nil {
			retry = time.After(backoff.Delay(r.cfg.RetryMin, r.cfg.RetryMax, attempts))
			attempts++
			return
		}
		retry, attempts = nil, 0
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e := <-events:
			if r.handle(e) {
				resync()
			}
		case <-poll.C:
			if r.poll(ctx) {
				resync()
			}
		case <-check.C:
			if r.gapExpired() {
				resync()
			}
		case <-retry:
			resync()
		}
	}
}

// subscribe keeps a subscription open, forwarding events in order.
func (r *Relay) subscribe(ctx context.Context, out chan<- revocation.Event) {
	send := func(e revocation.Event) {
		select {
		case out <- e:
		case <-ctx.Done():
		}
	}
	for attempt := 0; ; attempt++ {
		_ = r.bus.Subscribe(ctx, send) // returns when the bus refused or ctx ended
		if ctx.Err() != nil {
			return
		}
		send(revocation.Event{Kind: revocation.EventDisconnected})
		if !backoff.Sleep(ctx, backoff.Delay(r.cfg.RetryMin, r.cfg.RetryMax, attempt)) {
			return
		}
	}
}

// handle applies one bus event and reports whether a resync is needed now.
func (r *Relay) handle(e revocation.Event) (resync bool) {
	now := r.clock.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	switch e.Kind {
	case revocation.EventConnected:
		return true // events before this point may be lost
	case revocation.EventRevoked:
		r.set.Apply(e.Entry)
		if e.Seq == 0 {
			return true // an unnumbered revocation has no place in the log: everyone resnapshots
		}
		if !r.synced {
			return false // the first snapshot will include it, or a gap will show
		}
		r.addLocked(e, now)
	case revocation.EventHeartbeat:
		if !r.synced {
			return false
		}
		r.target = max(r.target, e.Seq)
		r.openGapLocked(now)
		r.beat++
		r.beatMsg = Message{Kind: MsgHeartbeat, Seq: e.Seq, At: now}
		r.notifyLocked()
	case revocation.EventKeysChanged:
		r.keys++
		r.keysMsg = Message{Kind: MsgKeys, PublishedAt: e.PublishedAt, KeysVersion: e.Keys.JWKSETag, Withdrawn: e.Keys.Withdrawn}
		r.notifyLocked()
	}
	return false
}

// addLocked puts a numbered revocation in the log, in order, or keeps it pending above a
// gap; r.mu is held.
func (r *Relay) addLocked(e revocation.Event, now time.Time) {
	switch {
	case e.Seq <= r.last:
		return // in the snapshot already, or a duplicate
	case e.Seq > r.last+1:
		if len(r.pending) < r.cfg.Backlog {
			r.pending[e.Seq] = e
		}
		r.target = max(r.target, e.Seq)
		r.openGapLocked(now)
		return
	}
	r.appendLocked(e)
	for {
		next, ok := r.pending[r.last+1]
		if !ok {
			break
		}
		delete(r.pending, next.Seq)
		r.appendLocked(next)
	}
	r.target = max(r.target, r.last)
	if r.last >= r.target {
		r.gapAt = time.Time{}
	}
	r.notifyLocked()
}

func (r *Relay) appendLocked(e revocation.Event) {
	r.log = append(r.log, e)
	r.last = e.Seq
	if len(r.log) >= 2*r.cfg.Backlog {
		drop := len(r.log) - r.cfg.Backlog
		r.log = append([]revocation.Event(nil), r.log[drop:]...)
		r.base += uint64(drop)
	}
}

// openGapLocked starts the gap clock if the relay is behind and no gap is open; never
// extended, so a steady stream cannot postpone the resync.
func (r *Relay) openGapLocked(now time.Time) {
	if r.last < r.target && r.gapAt.IsZero() {
		r.gapAt = now
	}
}

func (r *Relay) gapExpired() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.gapAt.IsZero() && r.clock.Now().Sub(r.gapAt) >= r.cfg.GapGrace
}

// poll compares the store's sequence number with the relay's; it reports whether a resync is
// needed now (never synced, or the store went back). A store ahead opens a gap; a store
// level with the relay is a heartbeat.
func (r *Relay) poll(ctx context.Context) bool {
	if !r.Ready() {
		return true
	}
	cctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	seq, err := r.store.Seq(cctx)
	cancel()
	if err != nil {
		return false // keep what we have; streams see no heartbeat, so their staleness grows
	}
	now := r.clock.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if seq < r.last {
		return true
	}
	r.target = max(r.target, seq)
	r.openGapLocked(now)
	r.beat++
	r.beatMsg = Message{Kind: MsgHeartbeat, Seq: seq, At: now}
	r.notifyLocked()
	return false
}

// resync loads a snapshot. When it continues the log (the store is where the relay is, or
// the pending revocations bridge the difference) streams carry on; otherwise the epoch
// changes and every stream restarts with a snapshot.
func (r *Relay) resync(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	snap, err := r.store.Snapshot(cctx)
	cancel()
	if err != nil {
		return err
	}
	now := r.clock.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.set.Replace(snap.Entries, now)
	for _, e := range r.pending { // revocations after the snapshot stay applied
		if e.Seq > snap.Seq {
			r.set.Apply(e.Entry)
		}
	}
	if !r.synced || snap.Seq != r.last {
		r.epoch++
		r.base, r.last, r.log = snap.Seq, snap.Seq, nil
	}
	r.synced = true
	r.target = max(snap.Seq, r.last)
	for s := range r.pending {
		if s <= r.last {
			delete(r.pending, s)
		}
	}
	for {
		next, ok := r.pending[r.last+1]
		if !ok {
			break
		}
		delete(r.pending, next.Seq)
		r.appendLocked(next)
	}
	for s := range r.pending {
		r.target = max(r.target, s)
	}
	r.gapAt = time.Time{}
	if r.last < r.target {
		r.gapAt = now
	}
	r.notifyLocked()
	return nil
}

// Follow streams to send until ctx ends or send fails (it returns that error). The stream
// starts with MsgResumed when resume (a client's last sequence number, hasResume) lies
// within the relay's log, and with a MsgSnapshot otherwise; then revocations in order with
// no hole (a new snapshot when the relay lost continuity), heartbeats and key changes, as
// docs/revocation-feed.md describes. ErrNotReady before the relay's first snapshot. send is
// called from Follow's goroutine only; a slow client only delays itself.
func (r *Relay) Follow(ctx context.Context, resume uint64, hasResume bool, send func(Message) error) error {
	r.mu.Lock()
	if !r.synced {
		r.mu.Unlock()
		return ErrNotReady
	}
	var first Message
	if hasResume && resume >= r.base && resume <= r.last {
		first = Message{Kind: MsgResumed, Seq: resume}
	} else {
		first = r.snapshotLocked()
	}
	cursor, epoch, beat, keys := first.Seq, r.epoch, r.beat, r.keys
	r.mu.Unlock()
	if err := send(first); err != nil {
		return err
	}
	var out []Message
	quiet := time.NewTimer(r.cfg.KeepAlive)
	defer quiet.Stop()
	for {
		r.mu.Lock()
		out = out[:0]
		if r.epoch != epoch || cursor < r.base {
			snap := r.snapshotLocked()
			out = append(out, snap)
			cursor, epoch = snap.Seq, r.epoch
		}
		for _, e := range r.log[cursor-r.base : r.last-r.base] {
			out = append(out, Message{Kind: MsgRevoked, Seq: e.Seq, Entry: e.Entry, PublishedAt: e.PublishedAt})
		}
		cursor = r.last
		if r.keys != keys {
			keys = r.keys
			out = append(out, r.keysMsg)
		}
		if r.beat != beat {
			beat = r.beat
			out = append(out, r.beatMsg)
		}
		wake := r.wake
		r.mu.Unlock()
		for _, m := range out {
			if err := send(m); err != nil {
				return err
			}
		}
		if len(out) > 0 {
			quiet.Reset(r.cfg.KeepAlive)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
		case <-quiet.C:
			if err := send(Message{Kind: MsgKeepAlive}); err != nil {
				return err
			}
			quiet.Reset(r.cfg.KeepAlive)
		}
	}
}

// snapshotLocked is the relay's set as a snapshot message at r.last; r.mu is held.
func (r *Relay) snapshotLocked() Message {
	return Message{Kind: MsgSnapshot, Seq: r.last, Entries: r.set.Entries(r.clock.Now())}
}
