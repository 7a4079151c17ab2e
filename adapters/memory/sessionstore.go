package memory

import (
	"context"
	"fmt"
	"sync"

	"github.com/keygate/keygate/core/session"
	"github.com/keygate/keygate/ports"
)

// SessionStore is a ports.SessionStore in memory. A session reads as missing from its absolute
// expiry (by its clock) and is dropped lazily. Safe for concurrent use.
type SessionStore struct {
	clock  ports.Clock
	mu     sync.Mutex
	byID   map[string]session.Session
	byUser map[string]map[string]struct{}
	writes int // since the last sweep of expired sessions
}

var _ ports.SessionStore = (*SessionStore)(nil)

// NewSessionStore returns an empty store that reads the time from clock (nil: the real clock).
func NewSessionStore(clock ports.Clock) *SessionStore {
	return &SessionStore{clock: orReal(clock), byID: make(map[string]session.Session),
		byUser: make(map[string]map[string]struct{})}
}

// live returns session sid if it exists and has not expired, dropping it if it has. s.mu must
// be held.
func (st *SessionStore) live(sid string) (session.Session, bool) {
	s, ok := st.byID[sid]
	if !ok {
		return session.Session{}, false
	}
	if !st.clock.Now().Before(s.ExpiresAt) {
		st.remove(s)
		return session.Session{}, false
	}
	return s, true
}

func (st *SessionStore) remove(s session.Session) {
	delete(st.byID, s.ID)
	if ids := st.byUser[s.UserID]; ids != nil {
		delete(ids, s.ID)
		if len(ids) == 0 {
			delete(st.byUser, s.UserID)
		}
	}
}

func (st *SessionStore) put(s session.Session) {
	st.byID[s.ID] = s
	ids := st.byUser[s.UserID]
	if ids == nil {
		ids = make(map[string]struct{})
		st.byUser[s.UserID] = ids
	}
	ids[s.ID] = struct{}{}
}

// Create stores s; ErrConflict if its id exists. A session already past its expiry is accepted
// and forgotten.
func (st *SessionStore) Create(ctx context.Context, s session.Session) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if _, ok := st.live(s.ID); ok {
		return fmt.Errorf("memory: create session: %w", ports.ErrConflict)
	}
	if !st.clock.Now().Before(s.ExpiresAt) {
		return nil
	}
	st.put(s)
	st.sweep()
	return nil
}

// sweep drops expired sessions once every max(1024, n) creations, so that sessions nobody
// reads again do not pile up; the cost per creation stays constant. st.mu must be held.
func (st *SessionStore) sweep() {
	st.writes++
	if st.writes < max(1024, len(st.byID)) {
		return
	}
	st.writes = 0
	for sid := range st.byID {
		st.live(sid)
	}
}

// Get returns session sid or ErrNotFound.
func (st *SessionStore) Get(ctx context.Context, sid string) (session.Session, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	s, ok := st.live(sid)
	if !ok {
		return session.Session{}, fmt.Errorf("memory: get session: %w", ports.ErrNotFound)
	}
	return s, nil
}

// Update applies fn to session sid under the store's lock and stores the result; nothing is
// written if fn fails. The session keeps its id. fn must not call the store. seen is not
// needed: the stored session is read under the lock at no cost.
func (st *SessionStore) Update(ctx context.Context, sid string, _ *session.Session, fn func(*session.Session) error) (session.Session, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	old, ok := st.live(sid)
	if !ok {
		return session.Session{}, fmt.Errorf("memory: update session: %w", ports.ErrNotFound)
	}
	s := old
	if err := fn(&s); err != nil {
		return session.Session{}, err
	}
	s.ID = sid
	st.remove(old)
	st.put(s)
	return s, nil
}

// Delete removes session sid; ErrNotFound if there is none.
func (st *SessionStore) Delete(ctx context.Context, sid string) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	s, ok := st.live(sid)
	if !ok {
		return fmt.Errorf("memory: delete session: %w", ports.ErrNotFound)
	}
	st.remove(s)
	return nil
}

// ListByUser returns the user's live sessions, in any order.
func (st *SessionStore) ListByUser(ctx context.Context, userID string) ([]session.Session, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	var out []session.Session
	for sid := range st.byUser[userID] {
		if s, ok := st.live(sid); ok {
			out = append(out, s)
		}
	}
	return out, nil
}

// DeleteByUser removes every session of the user and returns the ids of those that were live.
func (st *SessionStore) DeleteByUser(ctx context.Context, userID string) ([]string, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	var out []string
	for sid := range st.byUser[userID] {
		if s, ok := st.live(sid); ok {
			out = append(out, sid)
			st.remove(s)
		}
	}
	return out, nil
}
