package key

import (
	"sync"
	"sync/atomic"
)

// MaxWithdrawn is how many withdrawn kids a Withdrawn set remembers; past it the oldest is
// forgotten (by then every issuer replica has long stopped publishing it).
const MaxWithdrawn = 1024

// Withdrawn is the set of kids a verifier was told are withdrawn (compromised): it refuses
// them at once and whatever a later JWKS fetch says. Has is lock-free (one atomic load and a
// map lookup, nil-map fast when empty). The zero value is an empty set; safe for concurrent
// use.
type Withdrawn struct {
	mu    sync.Mutex
	set   atomic.Pointer[map[string]struct{}] // replaced whole on Add, never modified
	order []string                            // oldest first, guarded by mu
}

// Add records kid and reports whether it is new. An empty kid is ignored.
func (w *Withdrawn) Add(kid string) bool {
	if kid == "" {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	old := w.set.Load()
	if old != nil {
		if _, ok := (*old)[kid]; ok {
			return false
		}
	}
	w.order = append(w.order, kid)
	if len(w.order) > MaxWithdrawn {
		w.order = append([]string(nil), w.order[len(w.order)-MaxWithdrawn:]...)
	}
	next := make(map[string]struct{}, len(w.order))
	for _, k := range w.order {
		next[k] = struct{}{}
	}
	w.set.Store(&next)
	return true
}

// Has reports whether kid was withdrawn.
func (w *Withdrawn) Has(kid string) bool {
	s := w.set.Load()
	if s == nil {
		return false
	}
	_, ok := (*s)[kid]
	return ok
}

// Empty reports whether no kid was withdrawn.
func (w *Withdrawn) Empty() bool { return w.set.Load() == nil }
