package argon2

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keygate/keygate/ports"
)

// cheap keeps tests fast where the cost does not matter.
var cheap = Config{Memory: 1024, Time: 1}

func newHasher(t testing.TB, cfg Config) *Hasher {
	t.Helper()
	h, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return h
}

// counting installs a hook that counts hashes run.
func counting(h *Hasher) *atomic.Int64 {
	var n atomic.Int64
	h.hook = func(d int) {
		if d > 0 {
			n.Add(1)
		}
	}
	return &n
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		prefix   string
		password string
	}{
		{"OWASP defaults", Config{}, "$argon2id$v=19$m=19456,t=2,p=1$", "correct horse battery staple"},
		{"cheap parameters", cheap, "$argon2id$v=19$m=1024,t=1,p=1$", "hunter22"},
		{"two lanes", Config{Memory: 2048, Time: 1, Threads: 2}, "$argon2id$v=19$m=2048,t=1,p=2$", "hunter22"},
		{"pepper", Config{Memory: 1024, Time: 1, Pepper: []byte("0123456789abcdef")}, "$argon2id$v=19$m=1024,t=1,p=1$", "hunter22"},
		{"unicode password", cheap, "$argon2id$", "pässwörd-密码-🔑"},
		{"128 characters", cheap, "$argon2id$", strings.Repeat("é", 128)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHasher(t, tt.cfg)
			hash, err := h.Hash(t.Context(), tt.password)
			if err != nil {
				t.Fatalf("Hash: %v", err)
			}
			if !strings.HasPrefix(hash, tt.prefix) {
				t.Errorf("Hash = %q, want prefix %q", hash, tt.prefix)
			}
			if p, err := parse(hash); err != nil || len(p.salt) != SaltLen || len(p.key) != KeyLen {
				t.Errorf("parse(Hash) = salt %d bytes, key %d bytes, %v; want %d, %d, nil", len(p.salt), len(p.key), err, SaltLen, KeyLen)
			}
			for _, c := range []struct {
				password string
				want     bool
			}{
				{tt.password, true},
				{tt.password + "x", false},
				{strings.ToUpper(tt.password), strings.ToUpper(tt.password) == tt.password},
				{"", false},
			} {
				got, err := h.Verify(t.Context(), hash, c.password)
				if err != nil || got != c.want {
					t.Errorf("Verify(%q) = %v, %v; want %v, nil", c.password, got, err, c.want)
				}
			}
			again, _ := h.Hash(t.Context(), tt.password)
			if again == hash {
				t.Errorf("two hashes of one password are equal: the salt is not random")
			}
		})
	}
}

func TestPepperIsNeeded(t *testing.T) {
	peppered := newHasher(t, Config{Memory: 1024, Time: 1, Pepper: []byte("0123456789abcdef")})
	plain := newHasher(t, cheap)
	hash, err := peppered.Hash(t.Context(), "hunter22")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := plain.Verify(t.Context(), hash, "hunter22"); ok || err != nil {
		t.Errorf("Verify without the pepper = %v, %v; want false, nil", ok, err)
	}
}

func TestVerifyUnknownUser(t *testing.T) {
	h := newHasher(t, cheap)
	n := counting(h)
	for _, pw := range []string{"", "hunter22"} {
		ok, err := h.Verify(t.Context(), "", pw)
		if ok || err != nil {
			t.Errorf("Verify of an empty hash = %v, %v; want false, nil", ok, err)
		}
	}
	if got := n.Load(); got != 2 {
		t.Errorf("Verify of an empty hash ran %d hashes for 2 calls, want 2 (same work as a real user)", got)
	}
}

func TestMalformedHashIsNotRun(t *testing.T) {
	h := newHasher(t, cheap)
	good, _ := h.Hash(t.Context(), "hunter22")
	f := strings.Split(good, "$") // "", argon2id, v=19, m=..., salt, key
	with := func(i int, v string) string {
		g := append([]string(nil), f...)
		g[i] = v
		return strings.Join(g, "$")
	}
	tests := []struct {
		name string
		hash string
	}{
		{"garbage", "not a hash"},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{"argon2i", with(1, "argon2i")},
		{"version 16", with(2, "v=16")},
		{"memory 4 TiB", with(3, "m=4294967295,t=1,p=1")},
		{"memory above maximum", with(3, "m=65537,t=1,p=1")},
		{"memory below 8 per lane", with(3, "m=7,t=1,p=1")},
		{"time 1000", with(3, "m=1024,t=1000,p=1")},
		{"time 0", with(3, "m=1024,t=0,p=1")},
		{"255 lanes", with(3, "m=65536,t=1,p=255")},
		{"lanes overflow", with(3, "m=1024,t=1,p=257")},
		{"negative", with(3, "m=-1,t=1,p=1")},
		{"plus sign", with(3, "m=+1024,t=1,p=1")},
		{"parameters out of order", with(3, "t=1,m=1024,p=1")},
		{"missing parameter", with(3, "m=1024,t=1")},
		{"extra parameter", with(3, "m=1024,t=1,p=1,k=1")},
		{"huge number", with(3, "m=99999999999999999999,t=1,p=1")},
		{"salt not base64", with(4, "!!!!")},
		{"salt padded", with(4, f[4]+"==")},
		{"salt too short", with(4, "c2FsdA")},
		{"key too short", with(5, "a2V5")},
		{"key too long", with(5, strings.Repeat("A", 100))},
		{"extra field", good + "$x"},
		{"missing field", strings.Join(f[:5], "$")},
		{"too long", good + strings.Repeat("A", 300)},
		{"nul byte", with(1, "argon2id\x00")},
	}
	n := counting(h)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := h.Verify(t.Context(), tt.hash, "hunter22")
			if ok || !errors.Is(err, ErrMalformedHash) {
				t.Errorf("Verify(%q) = %v, %v; want false, ErrMalformedHash", tt.hash, ok, err)
			}
		})
	}
	if got := n.Load(); got != 0 {
		t.Errorf("malformed hashes ran %d hashes, want 0", got)
	}
}

func TestConcurrencyBound(t *testing.T) {
	h := newHasher(t, Config{Memory: 4096, Time: 1, MaxConcurrent: 2, MaxQueue: 100})
	var inFlight, peak atomic.Int64
	h.hook = func(d int) {
		n := inFlight.Add(int64(d))
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		if d > 0 {
			time.Sleep(5 * time.Millisecond) // widen the window in which a third hash could start
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Go(func() {
			if i%2 == 0 {
				_, errs[i] = h.Hash(t.Context(), "hunter22")
			} else {
				_, errs[i] = h.Verify(t.Context(), "", "hunter22")
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Errorf("call: %v", err)
		}
	}
	if got := peak.Load(); got != 2 {
		t.Errorf("at most %d hashes ran at once with MaxConcurrent 2, want exactly 2", got)
	}
}

// blocked returns a hasher with one slot whose hashes wait until release is closed, and a
// function that starts a hash and waits until it holds the slot.
func blocked(t *testing.T, queue int) (h *Hasher, occupy func(), release chan struct{}) {
	h = newHasher(t, Config{Memory: 1024, Time: 1, MaxConcurrent: 1, MaxQueue: queue})
	release = make(chan struct{})
	started := make(chan struct{}, 10)
	h.hook = func(d int) {
		if d > 0 {
			started <- struct{}{}
			<-release
		}
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
		wg.Wait()
	})
	occupy = func() {
		wg.Go(func() { _, _ = h.Hash(context.Background(), "hunter22") })
		<-started
	}
	return h, occupy, release
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not reached within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestCancelWhileQueued(t *testing.T) {
	h, occupy, _ := blocked(t, 10)
	occupy()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := h.Verify(ctx, "", "hunter22")
		done <- err
	}()
	waitFor(t, func() bool { return h.waiting.Load() == 1 })
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, ports.ErrUnavailable) || !errors.Is(err, context.Canceled) {
			t.Errorf("Verify cancelled while queued = %v, want ErrUnavailable (context.Canceled)", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("Verify did not return within 5s of its context ending")
	}
	if _, err := h.Hash(ctx, "hunter22"); !errors.Is(err, ports.ErrUnavailable) {
		t.Errorf("Hash with an ended context = %v, want ErrUnavailable", err)
	}
}

func TestQueueFull(t *testing.T) {
	h, occupy, release := blocked(t, 1)
	occupy()
	queued := make(chan error, 1)
	go func() {
		_, err := h.Hash(t.Context(), "hunter22")
		queued <- err
	}()
	waitFor(t, func() bool { return h.waiting.Load() == 1 })
	start := time.Now()
	_, err := h.Hash(t.Context(), "hunter22")
	if !errors.Is(err, ports.ErrUnavailable) {
		t.Errorf("Hash with the queue full = %v, want ErrUnavailable", err)
	}
	t.Logf("refused in %v", time.Since(start))
	close(release)
	if err := <-queued; err != nil {
		t.Errorf("queued Hash = %v, want it to run once a slot frees", err)
	}
}

func TestQueueIsFirstComeFirstServed(t *testing.T) {
	h := newHasher(t, Config{Memory: 1024, Time: 1, MaxConcurrent: 1, MaxQueue: 100})
	if err := h.acquire(t.Context()); err != nil { // the slot, held until the queue is full
		t.Fatal(err)
	}
	const callers = 8
	var (
		mu    sync.Mutex
		order []int
		wg    sync.WaitGroup
	)
	for i := range callers {
		wg.Go(func() {
			if err := h.acquire(context.Background()); err != nil {
				t.Errorf("caller %d: %v", i, err)
				return
			}
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
			h.release(time.Now())
		})
		waitFor(t, func() bool { return h.waiting.Load() == int64(i+1) })
	}
	h.release(time.Now())
	wg.Wait()
	if diff := cmp.Diff([]int{0, 1, 2, 3, 4, 5, 6, 7}, order); diff != "" {
		t.Errorf("order of service (-arrival +served):\n%s", diff)
	}
}

func TestShedSaysWhenToComeBack(t *testing.T) {
	h, occupy, release := blocked(t, 100)
	h.maxWait = 300 * time.Millisecond
	h.retryUnit = time.Millisecond
	occupy()
	h.mu.Lock()
	h.hashTime = 100 * time.Millisecond // one slot: a queue turn is 100 ms
	h.mu.Unlock()
	queued := make(chan error, 3)
	for n := 1; n <= 3; n++ { // expected waits 100, 200, 300 ms: within MaxWait
		go func() {
			_, err := h.Hash(t.Context(), "hunter22")
			queued <- err
		}()
		waitFor(t, func() bool { return h.waiting.Load() == int64(n) })
	}
	var hints []time.Duration
	for range 3 { // expected wait 400 ms: turned away, each one queue turn after the last
		_, err := h.Hash(t.Context(), "hunter22")
		shed, ok := errors.AsType[*ShedError](err)
		if !ok || !errors.Is(err, ports.ErrUnavailable) {
			t.Fatalf("Hash with 300 ms of queue ahead = %v, want a *ShedError matching ErrUnavailable", err)
		}
		if shed.Waiting != 3 {
			t.Errorf("ShedError.Waiting = %d, want 3", shed.Waiting)
		}
		hints = append(hints, shed.RetryAfter)
	}
	// Back when the queue has drained to MaxWait (400 - 300 ms), then one turn later each.
	for i, want := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond} {
		if got := hints[i]; got > want || got < want-20*time.Millisecond {
			t.Errorf("caller %d turned away: RetryAfter %v, want about %v", i+1, got, want)
		}
	}
	close(release)
	for range 3 {
		if err := <-queued; err != nil {
			t.Errorf("queued Hash = %v, want it to run", err)
		}
	}
}

// TestPromisedTurns: callers turned away are promised a turn, in order; newcomers do not take
// the room kept for them, a caller coming back when its turn is due is let in, and a promise
// nobody comes back for is dropped a retry unit after it was due.
func TestPromisedTurns(t *testing.T) {
	h, occupy, release := blocked(t, 100)
	h.maxWait = 300 * time.Millisecond
	h.retryUnit = time.Minute
	occupy()
	later := time.Now().Add(time.Hour)
	h.mu.Lock()
	h.hashTime = 100 * time.Millisecond
	h.promises = []time.Time{later, later, later} // three callers come back in an hour
	h.tail = later
	h.mu.Unlock()

	// The queue is empty (100 ms of wait) but counting the three promised callers it would be
	// 400 ms: the newcomer is turned away, to come back after them.
	_, err := h.Hash(t.Context(), "hunter22")
	if shed, ok := errors.AsType[*ShedError](err); !ok || shed.RetryAfter <= time.Hour {
		t.Fatalf("newcomer with three turns promised = %v, want a ShedError to come back after an hour", err)
	}
	h.mu.Lock()
	if len(h.promises) != 4 {
		t.Errorf("%d promises, want 4", len(h.promises))
	}
	h.promises[0] = time.Now().Add(-time.Second) // the first promised caller's turn is due
	h.mu.Unlock()

	// It comes back: let in, although the queue counted with the promises is past MaxWait.
	done := make(chan error, 1)
	go func() {
		_, err := h.Hash(t.Context(), "hunter22")
		done <- err
	}()
	waitFor(t, func() bool { return h.waiting.Load() == 1 })
	h.mu.Lock()
	if len(h.promises) != 3 {
		t.Errorf("%d promises after one was claimed, want 3", len(h.promises))
	}
	h.promises[0] = time.Now().Add(-2 * time.Minute) // due two units ago: nobody came back
	h.mu.Unlock()
	_, err = h.Hash(t.Context(), "hunter22") // turned away (two promises and one waiter ahead)
	if !errors.Is(err, ports.ErrUnavailable) {
		t.Errorf("newcomer = %v, want ErrUnavailable", err)
	}
	h.mu.Lock()
	if len(h.promises) != 3 { // the stale one dropped, this newcomer's added
		t.Errorf("%d promises, want 3 (stale one dropped, one added)", len(h.promises))
	}
	h.mu.Unlock()
	close(release)
	if err := <-done; err != nil {
		t.Errorf("caller that came back on its turn: %v", err)
	}
}

func TestNeedsRehash(t *testing.T) {
	h := newHasher(t, cheap)
	current, _ := h.Hash(t.Context(), "hunter22")
	old, _ := newHasher(t, Config{Memory: 2048, Time: 1}).Hash(t.Context(), "hunter22")
	tests := []struct {
		name string
		hash string
		want bool
	}{
		{"current parameters", current, false},
		{"other parameters", old, true},
		{"malformed", "junk", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := h.NeedsRehash(tt.hash); got != tt.want {
				t.Errorf("NeedsRehash = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestConfigRejected(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"memory above maximum", Config{Memory: MaxMemory + 1}},
		{"time above maximum", Config{Time: MaxTime + 1}},
		{"too many lanes", Config{Threads: MaxThreads + 1}},
		{"negative concurrency", Config{MaxConcurrent: -1}},
		{"negative queue", Config{MaxQueue: -1}},
		{"negative wait", Config{MaxWait: -time.Second}},
		{"short pepper", Config{Pepper: []byte("short")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cfg); !errors.Is(err, ErrConfig) {
				t.Errorf("New = %v, want ErrConfig", err)
			}
		})
	}
}

// The benchmarks run at the default (OWASP) parameters. BenchmarkVerifyKnown and
// BenchmarkVerifyUnknown must report about the same ns/op: an unknown user costs a real hash.

func BenchmarkHash(b *testing.B) {
	h := newHasher(b, Config{})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Hash(b.Context(), "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyKnown(b *testing.B) {
	h := newHasher(b, Config{})
	hash, _ := h.Hash(b.Context(), "correct horse battery staple")
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := h.Verify(b.Context(), hash, "wrong password"); ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

func BenchmarkVerifyUnknown(b *testing.B) {
	h := newHasher(b, Config{})
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := h.Verify(b.Context(), "", "wrong password"); ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

// BenchmarkHashParallel hashes from many goroutines through the default bound (GOMAXPROCS):
// its ns/op is the inverse of the throughput the machine sustains.
func BenchmarkHashParallel(b *testing.B) {
	h := newHasher(b, Config{MaxQueue: 1 << 20})
	b.ReportAllocs()
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := h.Hash(context.Background(), "correct horse battery staple"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkLoginFlood is issue 9's login flood, in process and at a fifth of real time: 100
// clients log in in a loop against a hasher of two slots whose hashes take 5.6 ms (so 350
// logins/s, the 70/s of two cores at the OWASP cost, five times faster). A client turned away
// sleeps as an HTTP client told Retry-After would (whole "seconds" of 200 ms, at least one)
// and tries again; its wait is from its first try to its answer, retries included (a client
// still waiting when the run ends counts with its wait so far). One op is one login
// answered. It reports the p50 and p99 wait (in ms of this scaled time: x5 for real time),
// p99/p50 and the clients turned away per login.
//
// Before is the hasher as it was: a queue of 8 x MaxConcurrent, and the HTTP layer's fixed
// Retry-After of 5 s. After is the default: the queue bounded by MaxWait (5 s, scaled) and
// Retry-After from the drain rate and turns promised in order. After1000 is ten times the
// clients, more than MaxWait holds, so clients are turned away there too: without the
// promised turns the clients just served came back at once and took the room the queue freed
// (p99/p50 about 23 in this benchmark).
//
//	go test -run '^$' -bench LoginFlood -benchtime 3000x ./adapters/argon2/
func BenchmarkLoginFlood(b *testing.B) {
	const (
		second = 200 * time.Millisecond // one second of real time, scaled
		hash   = 28 * second / 1000     // 28 ms real: 2 slots give 70 logins/s real
	)
	before := func(error) time.Duration { return 5 * second }
	after := func(err error) time.Duration {
		shed, ok := errors.AsType[*ShedError](err)
		if !ok {
			return 5 * second
		}
		return max(1, (shed.RetryAfter+second-1)/second) * second // as Retry-After: whole seconds, at least one
	}
	for _, tt := range []struct {
		name    string
		clients int
		cfg     Config
		retry   func(err error) time.Duration
	}{
		{"Before", 100, Config{MaxQueue: 16, MaxWait: time.Hour}, before},
		{"After", 100, Config{MaxWait: DefaultMaxWait * second / time.Second}, after},
		// Past what MaxWait holds (14 s of queue for 5 s): After turns clients away too.
		{"After1000", 1000, Config{MaxWait: DefaultMaxWait * second / time.Second}, after},
	} {
		b.Run(tt.name, func(b *testing.B) {
			cfg := tt.cfg
			cfg.Memory, cfg.Time, cfg.MaxConcurrent = 8, 1, 2
			h := newHasher(b, cfg)
			h.retryUnit = second
			h.hook = func(d int) {
				if d > 0 {
					time.Sleep(hash)
				}
			}
			ctx, cancel := context.WithCancel(b.Context())
			defer cancel()
			var (
				mu    sync.Mutex
				waits []time.Duration
				shed  int
				wg    sync.WaitGroup
			)
			left := int64(b.N)
			var done atomic.Int64
			b.ResetTimer()
			for range tt.clients {
				wg.Go(func() {
					record := func(start time.Time) {
						mu.Lock()
						waits = append(waits, time.Since(start))
						mu.Unlock()
					}
					for ctx.Err() == nil {
						start := time.Now()
						for {
							_, err := h.Verify(ctx, "", "hunter22")
							if err == nil {
								break
							}
							if ctx.Err() != nil {
								record(start) // still waiting at the end: counted, as far as it got
								return
							}
							mu.Lock()
							shed++
							mu.Unlock()
							select {
							case <-time.After(tt.retry(err)):
							case <-ctx.Done():
								record(start)
								return
							}
						}
						record(start)
						if done.Add(1) >= left {
							cancel()
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			slices.Sort(waits)
			p := func(q float64) time.Duration { return waits[min(len(waits)-1, int(q*float64(len(waits))))] }
			b.ReportMetric(float64(p(0.50))/float64(time.Millisecond), "p50-ms")
			b.ReportMetric(float64(p(0.99))/float64(time.Millisecond), "p99-ms")
			b.ReportMetric(float64(p(0.99))/float64(p(0.50)), "p99/p50")
			b.ReportMetric(float64(shed)/float64(len(waits)), "shed/op")
		})
	}
}
