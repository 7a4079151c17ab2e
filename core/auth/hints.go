package auth

import (
	"sync"

	"github.com/keygate/keygate/core/session"
)

// DefaultRefreshHints is how many sessions a Service remembers for its refreshes
// (Config.RefreshHints): about 565 bytes each with the longest user agent kept (256), so 18
// MiB at most (BenchmarkRefreshHintsMemory).
const DefaultRefreshHints = 32768

// hints remembers sessions as this replica last stored them, so that the next refresh of one
// needs no read: Refresh dry-runs the rotation and reads the user from the hint, and passes it
// to Sessions.Update as seen, which writes only if the stored session is still exactly the
// hint (one round trip on Redis) and otherwise runs the rotation on the session as stored.
// A hint is a guess, never an answer: another replica may have rotated or deleted the session
// since, so Refresh refuses nothing on a hint's word (a dry run that fails on one is made again
// on the session read from the store), and every write is checked against the store.
//
// Bounded: when full, an arbitrary hint makes room (Go's map iteration order), which costs the
// session it drops one extra read at its next refresh. Safe for concurrent use; nil (hints
// disabled) remembers nothing.
type hints struct {
	mu  sync.Mutex
	m   map[string]session.Session
	max int
}

// newHints returns hints for at most n sessions, or nil when n is negative.
func newHints(n int) *hints {
	if n < 0 {
		return nil
	}
	if n == 0 {
		n = DefaultRefreshHints
	}
	return &hints{m: make(map[string]session.Session), max: n}
}

// get returns the hint for sid.
func (h *hints) get(sid string) (session.Session, bool) {
	if h == nil {
		return session.Session{}, false
	}
	h.mu.Lock()
	s, ok := h.m[sid]
	h.mu.Unlock()
	return s, ok
}

// put remembers s as stored.
func (h *hints) put(s session.Session) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.m[s.ID]; !ok && len(h.m) >= h.max {
		for sid := range h.m {
			delete(h.m, sid)
			break
		}
	}
	h.m[s.ID] = s
}

// drop forgets sid's hint: the session was deleted, or refused.
func (h *hints) drop(sid string) {
	if h == nil {
		return
	}
	h.mu.Lock()
	delete(h.m, sid)
	h.mu.Unlock()
}
