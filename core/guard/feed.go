package guard

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keygate/keygate/core/backoff"
	"github.com/keygate/keygate/core/revocation"
	"github.com/keygate/keygate/ports"
)

// Feed keeps a revocation.Set equal to a RevocationStore's through an EventBus: it subscribes,
// loads a snapshot when the subscription is first established, applies pushed revocations
// idempotently, notices a missed event by its sequence number (a gap, a heartbeat or a poll of
// the store ahead of it) and after a resubscription fetches what it missed from the store's
// replay log (RevocationStore.Since), taking a snapshot only when the log no longer reaches
// back to it; it reconciles with a snapshot periodically and drops expired entries. With the store or the bus down it keeps its last-known set (fail open) and says how
// stale it is. Safe for concurrent use; Run must be called once.
type Feed struct {
	set     *revocation.Set
	store   ports.RevocationStore
	bus     ports.EventBus
	keys    ports.KeySet
	clock   ports.Clock
	metrics ports.Metrics
	cfg     FeedConfig

	created    time.Time
	running    atomic.Bool
	connected  atomic.Bool
	current    atomic.Int64  // 1 + nanoseconds from created to when the set was last known current; 0: never
	seq        atomic.Uint64 // last sequence number applied in order
	syncedCh   chan struct{}
	syncedOnce sync.Once

	keysBusy  atomic.Bool
	keysDirty atomic.Bool
	keysETag  atomic.Pointer[string] // the JWKS ETag the latest key-change event named
	keysWG    sync.WaitGroup
}

// FeedConfig tunes a Feed. Zero fields take their defaults.
type FeedConfig struct {
	Reconcile time.Duration // full resync at least this often; default 5m
	Poll      time.Duration // compare the store's Seq with ours this often; default 5s
	Prune     time.Duration // drop expired entries this often; default 1m
	GapGrace  time.Duration // how long a sequence gap may stay open before a resync (events of several publishers can arrive out of order); default 500ms
	Timeout   time.Duration // bound on each store call; default 5s
	Snapshot  time.Duration // bound on a whole snapshot, which a large store reads in many calls; default 1m (at least Timeout)
	RetryMin  time.Duration // first retry delay after a failed resync or subscription; default 100ms
	RetryMax  time.Duration // retry delay cap (exponential backoff, full jitter); default 30s
	Report    time.Duration // how often the feed gauges (connected, staleness) are reported, even while a store call hangs; default 1s
}

func (c *FeedConfig) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.Reconcile, 5*time.Minute)
	def(&c.Poll, 5*time.Second)
	def(&c.Prune, time.Minute)
	def(&c.GapGrace, 500*time.Millisecond)
	def(&c.Timeout, 5*time.Second)
	def(&c.Snapshot, time.Minute)
	c.Snapshot = max(c.Snapshot, c.Timeout)
	def(&c.RetryMin, 100*time.Millisecond)
	def(&c.RetryMax, 30*time.Second)
	def(&c.Report, time.Second)
	c.RetryMax = max(c.RetryMax, c.RetryMin)
}

// NewFeed returns a Feed over an empty set. keys may be nil (no key-change handling).
func NewFeed(store ports.RevocationStore, bus ports.EventBus, keys ports.KeySet, clock ports.Clock, m ports.Metrics, cfg FeedConfig) *Feed {
	cfg.defaults()
	return &Feed{set: revocation.NewSet(), store: store, bus: bus, keys: keys, clock: clock,
		metrics: m, cfg: cfg, syncedCh: make(chan struct{}), created: clock.Now()}
}

// FeedStatus is what /ready and metrics report.
type FeedStatus struct {
	Connected bool
	Synced    bool          // at least one snapshot loaded
	Staleness time.Duration // time since the set was last known current (before the first sync: since NewFeed)
	Seq       uint64
	Entries   int
}

// Status reports the feed's state.
func (f *Feed) Status() FeedStatus {
	stale, synced := f.staleness(f.clock.Now())
	return FeedStatus{Connected: f.connected.Load(), Synced: synced, Staleness: stale,
		Seq: f.seq.Load(), Entries: f.set.Len()}
}

// Entries returns a copy of the entries of the local set active at now, so tests and tools can
// compare a verifier's set with its store's.
func (f *Feed) Entries(now time.Time) []revocation.Entry { return f.set.Entries(now) }

// Ready reports whether the set has been loaded from the store at least once.
func (f *Feed) Ready() bool {
	select {
	case <-f.syncedCh:
		return true
	default:
		return false
	}
}

// WaitSynced blocks until the first snapshot is loaded or ctx ends.
func (f *Feed) WaitSynced(ctx context.Context) error {
	select {
	case <-f.syncedCh:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// staleness returns how long ago the set was last known current (since NewFeed if it never
// was), and whether it ever was.
func (f *Feed) staleness(now time.Time) (time.Duration, bool) {
	c := f.current.Load()
	if c == 0 {
		return max(now.Sub(f.created), 0), false
	}
	return max(now.Sub(f.created)-time.Duration(c-1), 0), true
}

// goingStale is the staleness past which a connected feed is degraded: three polls that did
// not find the set current (heartbeats come more often).
func (f *Feed) goingStale() time.Duration { return 3 * f.cfg.Poll }

// markCurrent records now as an offset from created: with a real clock both carry Go's
// monotonic reading, so stepping the wall clock back cannot make a dead feed look fresh.
func (f *Feed) markCurrent(now time.Time) { f.current.Store(int64(now.Sub(f.created)) + 1) }

// feedRun is the state of Run's goroutine.
type feedRun struct {
	last    uint64              // highest sequence number applied with none missing before it
	target  uint64              // highest sequence number known to exist
	pending map[uint64]struct{} // applied out of order, above last
	synced  bool

	gap       *time.Timer // running while last < target
	retry     *time.Timer // running while a resync has failed
	retryWhy  string
	attempts  int
	subEvents chan revocation.Event
}

// Run subscribes and keeps the set current until ctx ends; it returns ctx's error. Failures
// of the store or the bus never end it: it retries with backoff and keeps the last-known set.
func (f *Feed) Run(ctx context.Context) error {
	if !f.running.CompareAndSwap(false, true) {
		return errors.New("guard: feed is already running")
	}
	r := &feedRun{pending: map[uint64]struct{}{}, subEvents: make(chan revocation.Event, 1024)}
	var wg sync.WaitGroup
	defer func() {
		wg.Wait()
		f.keysWG.Wait()
		f.connected.Store(false) // no one listens any more: /ready must not say connected
		f.running.Store(false)
	}()
	wg.Go(func() { f.subscribe(ctx, r.subEvents) })
	wg.Go(func() { f.report(ctx) })

	poll := time.NewTicker(f.cfg.Poll)
	defer poll.Stop()
	reconcile := time.NewTicker(f.cfg.Reconcile)
	defer reconcile.Stop()
	prune := time.NewTicker(f.cfg.Prune)
	defer prune.Stop()
	r.gap = stoppedTimer()
	defer r.gap.Stop()
	r.retry = stoppedTimer()
	defer r.retry.Stop()

	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e := <-r.subEvents:
			f.handle(ctx, r, e)
		case <-poll.C:
			f.poll(ctx, r)
		case <-reconcile.C:
			f.resync(ctx, r, "periodic")
		case <-prune.C:
			f.set.Prune(f.clock.Now())
			f.metrics.RevocationSet(f.set.Len())
		case <-r.gap.C:
			if r.last < r.target {
				f.catchUp(ctx, r, "gap")
			}
		case <-r.retry.C:
			f.resync(ctx, r, r.retryWhy)
		}
		stale, _ := f.staleness(f.clock.Now())
		f.metrics.Feed(f.connected.Load(), stale)
	}
}

// report publishes the feed gauges on its own clock, so the staleness a dashboard shows keeps
// growing while the loop above waits on a store that does not answer.
func (f *Feed) report(ctx context.Context) {
	t := time.NewTicker(f.cfg.Report)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			stale, _ := f.staleness(f.clock.Now())
			f.metrics.Feed(f.connected.Load(), stale)
		}
	}
}

func stoppedTimer() *time.Timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}

// subscribe keeps a subscription open, forwarding events in order to Run's goroutine.
func (f *Feed) subscribe(ctx context.Context, out chan<- revocation.Event) {
	send := func(e revocation.Event) {
		select {
		case out <- e:
		case <-ctx.Done():
		}
	}
	for attempt := 0; ; attempt++ {
		err := f.bus.Subscribe(ctx, send)
		if ctx.Err() != nil {
			return
		}
		_ = err // the bus is down or refused: say so, wait, try again
		send(revocation.Event{Kind: revocation.EventDisconnected})
		if !backoff.Sleep(ctx, backoff.Delay(f.cfg.RetryMin, f.cfg.RetryMax, attempt)) {
			return
		}
	}
}

func (f *Feed) handle(ctx context.Context, r *feedRun, e revocation.Event) {
	now := f.clock.Now()
	switch e.Kind {
	case revocation.EventConnected:
		f.connected.Store(true)
		if r.synced {
			f.catchUp(ctx, r, "connected") // events published while we were away
		} else {
			f.resync(ctx, r, "connected")
		}
		return
	case revocation.EventDisconnected:
		f.connected.Store(false)
		return
	case revocation.EventRevoked:
		f.set.Apply(e.Entry)
		f.metrics.RevocationSet(f.set.Len())
		f.lag(e, now)
		if e.Seq != 0 {
			f.advance(r, e.Seq, now)
		}
	case revocation.EventHeartbeat:
		f.lag(e, now)
		switch {
		case e.Seq > r.last:
			f.behind(r, e.Seq)
		case e.Seq == r.last && r.synced && r.last >= r.target:
			f.markCurrent(now)
		}
	case revocation.EventKeysChanged:
		if f.keys != nil && e.Keys.Withdrawn != "" {
			f.keys.Distrust(e.Keys.Withdrawn) // at once, on this goroutine: never behind a fetch
		}
		f.lag(e, now)
		f.refreshKeys(ctx, e.Keys.JWKSETag)
	}
}

func (f *Feed) lag(e revocation.Event, now time.Time) {
	if e.PublishedAt.IsZero() {
		return
	}
	f.metrics.EventApplied(string(e.Kind), max(now.Sub(e.PublishedAt), 0))
}

// advance records that the event with sequence number seq was applied.
func (f *Feed) advance(r *feedRun, seq uint64, now time.Time) {
	switch {
	case seq <= r.last:
		return // already in the set (a snapshot included it, or a duplicate)
	case seq == r.last+1:
		r.last = seq
		for {
			if _, ok := r.pending[r.last+1]; !ok {
				break
			}
			delete(r.pending, r.last+1)
			r.last++
		}
		f.seq.Store(r.last)
		if r.last >= r.target {
			r.target = r.last
			r.gap.Stop()
			if r.synced {
				f.markCurrent(now)
			}
		}
	default:
		if len(r.pending) < 4096 {
			r.pending[seq] = struct{}{}
		}
		f.behind(r, seq)
	}
}

// behind records that the store has reached seq, which is past what was applied: if the
// missing events do not arrive within the grace period, resynchronise.
func (f *Feed) behind(r *feedRun, seq uint64) {
	open := r.last < r.target // a gap is open: its timer runs (or a resync retry is due)
	r.target = max(r.target, seq)
	if !open && r.last < r.target {
		r.gap.Reset(f.cfg.GapGrace) // never extended: a steady stream cannot postpone the resync
	}
}

func (f *Feed) poll(ctx context.Context, r *feedRun) {
	if !r.synced {
		f.resync(ctx, r, "gap")
		return
	}
	cctx, cancel := context.WithTimeout(ctx, f.cfg.Timeout)
	t0 := f.clock.Now()
	seq, err := f.store.Seq(cctx)
	cancel()
	now := f.clock.Now()
	f.metrics.RevocationStoreOp("seq", now.Sub(t0), err)
	switch {
	case err != nil:
		// The store is down: keep the last-known set; staleness grows.
	case seq < r.last:
		f.resync(ctx, r, "gap") // the store went back: it lost data or was replaced
	case seq > r.last:
		f.behind(r, seq)
	case r.last >= r.target:
		f.markCurrent(now)
	}
}

// catchUpPage and catchUpPages bound one catch-up from the replay log: past that many events a
// snapshot is cheaper.
const (
	catchUpPage  = 1000
	catchUpPages = 100
)

// catchUp applies the revocations after the last one applied from the store's replay log,
// page by page until the log has no more, so that a missed event or a short disconnect costs
// the missing events, not a snapshot. When the log no longer holds them (trimmed, or the
// store went back) or cannot be read, or there are more than catchUpPage*catchUpPages, it
// resynchronises with a snapshot for reason.
func (f *Feed) catchUp(ctx context.Context, r *feedRun, reason string) {
	if ctx.Err() != nil {
		return
	}
	for range catchUpPages {
		cctx, cancel := context.WithTimeout(ctx, f.cfg.Timeout)
		t0 := f.clock.Now()
		evs, err := f.store.Since(cctx, r.last, catchUpPage)
		cancel()
		now := f.clock.Now()
		f.metrics.RevocationStoreOp("since", now.Sub(t0), err)
		if err != nil {
			f.resync(ctx, r, reason)
			return
		}
		for _, e := range evs {
			switch {
			case e.Seq <= r.last:
				continue // applied meanwhile (a push that arrived out of order)
			case e.Seq != r.last+1:
				f.resync(ctx, r, reason) // not the log the contract promises
				return
			}
			f.set.Apply(e.Entry)
			f.advance(r, e.Seq, now)
		}
		f.metrics.RevocationSet(f.set.Len())
		if len(evs) < catchUpPage {
			if r.last < r.target {
				// Told of revocations the log does not have: the store went back.
				f.resync(ctx, r, reason)
				return
			}
			r.target = r.last
			r.gap.Stop()
			r.retry.Stop()
			r.attempts = 0
			f.markCurrent(now)
			return
		}
	}
	f.resync(ctx, r, reason)
}

// resync replaces the set with a snapshot of the store. On failure it keeps the set and
// schedules a retry with backoff.
func (f *Feed) resync(ctx context.Context, r *feedRun, reason string) {
	if ctx.Err() != nil {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, f.cfg.Snapshot)
	t0 := f.clock.Now()
	snap, err := f.store.Snapshot(cctx)
	cancel()
	now := f.clock.Now()
	f.metrics.RevocationStoreOp("snapshot", now.Sub(t0), err)
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		r.retryWhy = reason
		r.retry.Reset(backoff.Delay(f.cfg.RetryMin, f.cfg.RetryMax, r.attempts))
		r.attempts++
		return
	}
	f.set.Replace(snap.Entries, now)
	r.last, r.target = snap.Seq, snap.Seq
	clear(r.pending)
	r.gap.Stop()
	r.retry.Stop()
	r.attempts = 0
	r.synced = true
	f.seq.Store(snap.Seq)
	f.markCurrent(now)
	f.metrics.Resynced(reason)
	f.metrics.RevocationSet(f.set.Len())
	f.syncedOnce.Do(func() { close(f.syncedCh) })
}

// refreshKeys asks the KeySet to reload until it holds the JWKS document etag names, off Run's
// goroutine. A change that arrives while a reload runs triggers one more reload after it,
// towards the latest change's document, so no change is lost.
func (f *Feed) refreshKeys(ctx context.Context, etag string) {
	if f.keys == nil {
		return
	}
	f.keysETag.Store(&etag)
	f.keysDirty.Store(true)
	if !f.keysBusy.CompareAndSwap(false, true) {
		return
	}
	f.keysWG.Go(func() {
		for {
			f.keysDirty.Store(false)
			_ = f.keys.Refresh(ctx, *f.keysETag.Load()) // informational; the KeySet retries on its own schedule
			f.keysBusy.Store(false)
			if ctx.Err() != nil || !f.keysDirty.Load() || !f.keysBusy.CompareAndSwap(false, true) {
				return
			}
		}
	})
}
