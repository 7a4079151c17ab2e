package portstest

import (
	"errors"
	"testing"
	"time"

	"github.com/keygate/keygate/core/identity"
	"github.com/keygate/keygate/core/session"
	"github.com/keygate/keygate/ports"
)

// RunSessionStore runs the contract suite of ports.SessionStore. open returns a fresh, empty
// store.
func RunSessionStore(t *testing.T, open func(t *testing.T) ports.SessionStore) {
	t.Helper()
	t.Run("RoundTrip", func(t *testing.T) { testSessionRoundTrip(t, open(t)) })
	t.Run("NotFound", func(t *testing.T) { testSessionNotFound(t, open(t)) })
	t.Run("CreateConflict", func(t *testing.T) { testSessionConflict(t, open(t)) })
	t.Run("Update", func(t *testing.T) { testSessionUpdate(t, open(t)) })
	t.Run("UpdateFromSeen", func(t *testing.T) { testSessionUpdateSeen(t, open(t)) })
	t.Run("UpdateFailureWritesNothing", func(t *testing.T) { testSessionUpdateFails(t, open(t)) })
	t.Run("UpdatesAreSerialised", func(t *testing.T) { testSessionUpdatesSerialised(t, open(t)) })
	t.Run("ConcurrentRotation", func(t *testing.T) {
		tests := []struct {
			name  string
			grace time.Duration
		}{
			{"grace 10s: one rotation, every other caller gets the same successor", 10 * time.Second},
			{"no grace: one rotation, every other caller is a reuse", 0},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) { testSessionConcurrentRotation(t, open(t), tt.grace) })
		}
	})
	t.Run("Delete", func(t *testing.T) { testSessionDelete(t, open(t)) })
	t.Run("ByUser", func(t *testing.T) { testSessionByUser(t, open(t)) })
	t.Run("Expires", func(t *testing.T) { testSessionExpires(t, open(t)) })
	t.Run("AlreadyExpired", func(t *testing.T) { testSessionAlreadyExpired(t, open(t)) })
	t.Run("OddKeys", func(t *testing.T) { testSessionOddKeys(t, open(t)) })
}

var sessionPolicy = session.Policy{IdleTTL: time.Hour, MaxTTL: 2 * time.Hour, Grace: 10 * time.Second}

// newSession returns a session of user that expires in an hour, with every field set.
func newSession(user string) session.Session {
	now := Now()
	s := session.New(identity.NewID(), user, "keygate", now.Add(-time.Hour), sessionPolicy)
	s.LastUsedAt = now.Add(-time.Minute)
	s.UserAgent = "curl/8.5 ü"
	s.RemoteIP = "2001:db8::1"
	return s
}

func createSessions(t *testing.T, st ports.SessionStore, ss ...session.Session) {
	t.Helper()
	for _, s := range ss {
		must(t, "Create", st.Create(t.Context(), s))
	}
}

func getSession(t *testing.T, st ports.SessionStore, sid string) session.Session {
	t.Helper()
	got, err := st.Get(t.Context(), sid)
	must(t, "Get", err)
	return got
}

func testSessionRoundTrip(t *testing.T, st ports.SessionStore) {
	want := newSession("u1")
	want.Generation = 7
	want.RotatedAt = Now().Add(-time.Second)
	createSessions(t, st, want)
	if d := diff(want, getSession(t, st, want.ID)); d != "" {
		t.Errorf("Get after Create (-want +got):\n%s", d)
	}
}

func testSessionNotFound(t *testing.T, st ports.SessionStore) {
	createSessions(t, st, newSession("u1"))
	if _, err := st.Get(t.Context(), "missing"); !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("Get of a missing session = %v, want ErrNotFound", err)
	}
	called := false
	_, err := st.Update(t.Context(), "missing", nil, func(*session.Session) error { called = true; return nil })
	if !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("Update of a missing session = %v, want ErrNotFound", err)
	}
	if called {
		t.Errorf("Update of a missing session called fn")
	}
	if err := st.Delete(t.Context(), "missing"); !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("Delete of a missing session = %v, want ErrNotFound", err)
	}
	if got, err := st.ListByUser(t.Context(), "nobody"); err != nil || len(got) != 0 {
		t.Errorf("ListByUser of a user without sessions = %v, %v; want none, nil", got, err)
	}
	if got, err := st.DeleteByUser(t.Context(), "nobody"); err != nil || len(got) != 0 {
		t.Errorf("DeleteByUser of a user without sessions = %v, %v; want none, nil", got, err)
	}
}

func testSessionConflict(t *testing.T, st ports.SessionStore) {
	first := newSession("u1")
	createSessions(t, st, first)
	again := first
	again.UserID = "u2"
	again.Generation = 9
	if err := st.Create(t.Context(), again); !errors.Is(err, ports.ErrConflict) {
		t.Errorf("Create of an existing id = %v, want ErrConflict", err)
	}
	if d := diff(first, getSession(t, st, first.ID)); d != "" {
		t.Errorf("session after a conflicting Create (-want +got):\n%s", d)
	}
	if got, _ := st.ListByUser(t.Context(), "u2"); len(got) != 0 {
		t.Errorf("a conflicting Create listed the session under its user")
	}

	// Of racing creations of one id exactly one wins.
	s := newSession("u1")
	errs := make([]error, racers)
	race(racers, func(i int) { errs[i] = st.Create(t.Context(), s) })
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, ports.ErrConflict):
			t.Errorf("racing Create = %v, want nil or ErrConflict", err)
		}
	}
	if wins != 1 {
		t.Errorf("%d of %d racing Creates of one id succeeded, want 1", wins, racers)
	}
}

func testSessionUpdate(t *testing.T, st ports.SessionStore) {
	s := newSession("u1")
	createSessions(t, st, s)
	now := Now()
	want := s
	want.Generation = 2
	want.RotatedAt = now
	want.LastUsedAt = now
	want.RemoteIP = "192.0.2.7"
	got, err := st.Update(t.Context(), s.ID, nil, func(s *session.Session) error {
		s.Generation++
		s.RotatedAt, s.LastUsedAt = now, now
		s.RemoteIP = "192.0.2.7"
		return nil
	})
	must(t, "Update", err)
	if d := diff(want, got); d != "" {
		t.Errorf("Update result (-want +got):\n%s", d)
	}
	if d := diff(want, getSession(t, st, s.ID)); d != "" {
		t.Errorf("Get after Update (-want +got):\n%s", d)
	}
}

// testSessionUpdateSeen: an Update given the session as read (or as last stored) applies fn
// to it; given a stale one, fn runs on the session as stored, and an error fn returns on the
// stale one is not the answer.
func testSessionUpdateSeen(t *testing.T, st ports.SessionStore) {
	s := newSession("u1")
	createSessions(t, st, s)
	seen := getSession(t, st, s.ID)
	got, err := st.Update(t.Context(), s.ID, &seen, func(s *session.Session) error { s.Generation++; return nil })
	must(t, "Update from the session as read", err)
	if got.Generation != 2 || getSession(t, st, s.ID).Generation != 2 {
		t.Fatalf("Update from the session as read: generation %d (stored %d), want 2", got.Generation, getSession(t, st, s.ID).Generation)
	}
	// seen is stale now (generation 1 of a session at 2).
	var saw []uint64
	got, err = st.Update(t.Context(), s.ID, &seen, func(s *session.Session) error {
		saw = append(saw, s.Generation)
		s.Generation++
		return nil
	})
	must(t, "Update from a stale session", err)
	if got.Generation != 3 || getSession(t, st, s.ID).Generation != 3 || saw[len(saw)-1] != 2 {
		t.Errorf("Update from a stale session: generation %d (stored %d), fn last saw %v; want 3, 3, 2",
			got.Generation, getSession(t, st, s.ID).Generation, saw)
	}
	got, err = st.Update(t.Context(), s.ID, &seen, func(s *session.Session) error {
		if s.Generation != 3 {
			return errRefused // what fn says of the stale copy must not be the answer
		}
		s.Generation++
		return nil
	})
	must(t, "Update that refuses the stale session only", err)
	if got.Generation != 4 {
		t.Errorf("generation %d, want 4", got.Generation)
	}
	// The session as given to Create, or as an Update returned it, is the session as stored:
	// fn runs once, on it (a store that compares it with what it holds finds them equal).
	stored := newSession("u1")
	createSessions(t, st, stored)
	for i := range 2 {
		calls := 0
		next, err := st.Update(t.Context(), stored.ID, &stored, func(s *session.Session) error {
			calls++
			s.Generation++
			s.RotatedAt = Now()
			return nil
		})
		must(t, "Update from the session as stored", err)
		if calls != 1 || next.Generation != uint64(i+2) {
			t.Errorf("Update %d from the session as stored: fn ran %d times, generation %d; want once, %d", i+1, calls, next.Generation, i+2)
		}
		stored = next
	}
	// From the session as stored, a move to another user and a later expiry.
	moved, err := st.Update(t.Context(), stored.ID, &stored, func(s *session.Session) error {
		s.UserID = "u2"
		s.ExpiresAt = s.ExpiresAt.Add(time.Hour)
		return nil
	})
	must(t, "Update from seen that moves the session", err)
	if d := diff(moved, getSession(t, st, stored.ID)); d != "" {
		t.Errorf("Get after a move from seen (-want +got):\n%s", d)
	}
	if got, _ := st.ListByUser(t.Context(), "u2"); len(got) != 1 || got[0].ID != stored.ID {
		t.Errorf("ListByUser(u2) after a move from seen = %v, want the moved session", got)
	}
	u1, err := st.ListByUser(t.Context(), "u1")
	must(t, "ListByUser", err)
	for _, o := range u1 {
		if o.ID == stored.ID {
			t.Errorf("the moved session is still listed for u1")
		}
	}
	must(t, "Delete", st.Delete(t.Context(), s.ID))
	if _, err := st.Update(t.Context(), s.ID, &seen, func(*session.Session) error { return nil }); !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("Update from seen of a deleted session = %v, want ErrNotFound", err)
	}
}

var errRefused = errors.New("portstest: fn refused")

func testSessionUpdateFails(t *testing.T, st ports.SessionStore) {
	s := newSession("u1")
	createSessions(t, st, s)
	_, err := st.Update(t.Context(), s.ID, nil, func(s *session.Session) error {
		s.Generation = 99
		s.UserID = "u2"
		s.ExpiresAt = s.ExpiresAt.Add(time.Hour)
		return errRefused
	})
	if !errors.Is(err, errRefused) {
		t.Errorf("Update whose fn fails = %v, want fn's error", err)
	}
	if d := diff(s, getSession(t, st, s.ID)); d != "" {
		t.Errorf("session after a failed Update (-want +got):\n%s", d)
	}
	if got, _ := st.ListByUser(t.Context(), "u2"); len(got) != 0 {
		t.Errorf("a failed Update moved the session to another user")
	}
}

// testSessionUpdatesSerialised: racing Updates that each add one to the generation lose none.
func testSessionUpdatesSerialised(t *testing.T, st ports.SessionStore) {
	s := newSession("u1")
	createSessions(t, st, s)
	gens := make([]uint64, racers)
	errs := make([]error, racers)
	race(racers, func(i int) {
		var got session.Session
		got, errs[i] = st.Update(t.Context(), s.ID, nil, func(s *session.Session) error { s.Generation++; return nil })
		gens[i] = got.Generation
	})
	ok := 0
	seen := map[uint64]bool{}
	for i, err := range errs {
		if err != nil {
			t.Logf("racing Update: %v", err)
			continue
		}
		ok++
		if seen[gens[i]] {
			t.Errorf("two racing Updates returned generation %d: an update was lost", gens[i])
		}
		seen[gens[i]] = true
	}
	if ok == 0 {
		t.Fatalf("every racing Update failed")
	}
	if got := getSession(t, st, s.ID).Generation; got != 1+uint64(ok) {
		t.Errorf("generation after %d successful racing Updates = %d, want %d", ok, got, 1+ok)
	}
}

// testSessionConcurrentRotation applies the real session.Rotate rule from racing Updates that
// all present generation 1.
func testSessionConcurrentRotation(t *testing.T, st ports.SessionStore, grace time.Duration) {
	p := sessionPolicy
	p.Grace = grace
	s := newSession("u1")
	createSessions(t, st, s)
	outcomes := make([]session.Outcome, racers)
	results := make([]session.Session, racers)
	errs := make([]error, racers)
	race(racers, func(i int) {
		results[i], errs[i] = st.Update(t.Context(), s.ID, nil, func(s *session.Session) error {
			var err error
			outcomes[i], err = s.Rotate(1, time.Now(), p) // fn may run again: the last call counts
			return err
		})
	})
	rotated, retried := 0, 0
	for i, err := range errs {
		switch {
		case err == nil && outcomes[i] == session.Rotated:
			rotated++
		case err == nil && outcomes[i] == session.Retried:
			retried++
		case err == nil:
			t.Errorf("Update returned no error but outcome %d", outcomes[i])
		case grace == 0 && !errors.Is(err, session.ErrReused):
			t.Errorf("racing rotation without grace = %v, want nil or session.ErrReused", err)
		case grace > 0 && errors.Is(err, session.ErrReused):
			t.Errorf("racing rotation within grace = session.ErrReused: some caller saw a sibling generation")
		}
		if err == nil && results[i].Generation != 2 {
			t.Errorf("a caller got generation %d, want the one successor, 2", results[i].Generation)
		}
	}
	if rotated != 1 {
		t.Errorf("%d racing rotations advanced the session, want exactly 1", rotated)
	}
	if got := getSession(t, st, s.ID).Generation; got != 2 {
		t.Errorf("generation after racing rotations = %d, want 2", got)
	}
	t.Logf("%d rotated, %d retried, %d errors", rotated, retried, racers-rotated-retried)
}

func testSessionDelete(t *testing.T, st ports.SessionStore) {
	a, b := newSession("u1"), newSession("u1")
	createSessions(t, st, a, b)
	must(t, "Delete", st.Delete(t.Context(), a.ID))
	if _, err := st.Get(t.Context(), a.ID); !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("Get after Delete = %v, want ErrNotFound", err)
	}
	if err := st.Delete(t.Context(), a.ID); !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("second Delete = %v, want ErrNotFound", err)
	}
	got, err := st.ListByUser(t.Context(), "u1")
	must(t, "ListByUser", err)
	if d := diff([]session.Session{b}, got); d != "" {
		t.Errorf("ListByUser after Delete (-want +got):\n%s", d)
	}
	// A deleted id can be created again.
	must(t, "Create after Delete", st.Create(t.Context(), a))
}

func sessionIDs(ss []session.Session) []string {
	var ids []string
	for _, s := range ss {
		ids = append(ids, s.ID)
	}
	return sortedStrings(ids)
}

func testSessionByUser(t *testing.T, st ports.SessionStore) {
	u1 := []session.Session{newSession("u1"), newSession("u1"), newSession("u1")}
	u2 := newSession("u2")
	createSessions(t, st, append(u1, u2)...)
	got, err := st.ListByUser(t.Context(), "u1")
	must(t, "ListByUser", err)
	if d := diff(sessionIDs(u1), sessionIDs(got)); d != "" {
		t.Errorf("ListByUser ids (-want +got):\n%s", d)
	}
	byID := map[string]session.Session{}
	for _, s := range got {
		byID[s.ID] = s
	}
	for _, s := range u1 {
		if d := diff(s, byID[s.ID]); d != "" {
			t.Errorf("ListByUser session %s (-want +got):\n%s", s.ID, d)
		}
	}
	deleted, err := st.DeleteByUser(t.Context(), "u1")
	must(t, "DeleteByUser", err)
	if d := diff(sessionIDs(u1), sortedStrings(deleted)); d != "" {
		t.Errorf("DeleteByUser ids (-want +got):\n%s", d)
	}
	for _, s := range u1 {
		if _, err := st.Get(t.Context(), s.ID); !errors.Is(err, ports.ErrNotFound) {
			t.Errorf("Get of a session after DeleteByUser = %v, want ErrNotFound", err)
		}
	}
	if got, _ := st.ListByUser(t.Context(), "u1"); len(got) != 0 {
		t.Errorf("ListByUser after DeleteByUser = %d sessions, want none", len(got))
	}
	if d := diff(u2, getSession(t, st, u2.ID)); d != "" {
		t.Errorf("another user's session after DeleteByUser (-want +got):\n%s", d)
	}

	// An Update that moves a session to another user moves it in the lists too.
	_, err = st.Update(t.Context(), u2.ID, nil, func(s *session.Session) error { s.UserID = "u3"; return nil })
	must(t, "Update", err)
	if got, _ := st.ListByUser(t.Context(), "u2"); len(got) != 0 {
		t.Errorf("ListByUser of the old user after Update = %d sessions, want none", len(got))
	}
	if got, _ := st.ListByUser(t.Context(), "u3"); len(got) != 1 {
		t.Errorf("ListByUser of the new user after Update = %d sessions, want 1", len(got))
	}
}

func testSessionExpires(t *testing.T, st ports.SessionStore) {
	short, long := newSession("u1"), newSession("u1")
	short.ExpiresAt = Now().Add(ExpiresIn)
	createSessions(t, st, short, long)
	if d := diff(short, getSession(t, st, short.ID)); d != "" {
		t.Fatalf("Get before expiry (-want +got):\n%s", d)
	}
	// An Update keeps the absolute expiry.
	_, err := st.Update(t.Context(), short.ID, nil, func(s *session.Session) error { s.Generation++; return nil })
	must(t, "Update", err)
	waitPast(short.ExpiresAt)
	if _, err := st.Get(t.Context(), short.ID); !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("Get past expiry = %v, want ErrNotFound", err)
	}
	if _, err := st.Update(t.Context(), short.ID, nil, func(*session.Session) error { return nil }); !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("Update past expiry = %v, want ErrNotFound", err)
	}
	got, err := st.ListByUser(t.Context(), "u1")
	must(t, "ListByUser", err)
	if d := diff([]string{long.ID}, sessionIDs(got)); d != "" {
		t.Errorf("ListByUser past expiry (-want +got):\n%s", d)
	}
	// An expired id is free again.
	again := short
	again.ExpiresAt = Now().Add(time.Hour)
	must(t, "Create over an expired session", st.Create(t.Context(), again))
}

func testSessionAlreadyExpired(t *testing.T, st ports.SessionStore) {
	s := newSession("u1")
	s.ExpiresAt = Now().Add(-time.Second)
	// Create may accept it or refuse it; either way it must never be readable.
	if err := st.Create(t.Context(), s); err != nil {
		t.Logf("Create of an expired session: %v", err)
	}
	if _, err := st.Get(t.Context(), s.ID); !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("Get of a session created past its expiry = %v, want ErrNotFound", err)
	}
	if got, _ := st.ListByUser(t.Context(), "u1"); len(got) != 0 {
		t.Errorf("ListByUser lists a session created past its expiry")
	}
}

func testSessionOddKeys(t *testing.T, st ports.SessionStore) {
	keys := oddKeys(200)
	for _, k := range keys {
		s := newSession(k.key) // the user id is odd too
		s.ID = k.key
		if err := st.Create(t.Context(), s); err != nil {
			t.Fatalf("Create with key %s: %v", k.name, err)
		}
	}
	for _, k := range keys {
		t.Run(k.name, func(t *testing.T) {
			got := getSession(t, st, k.key)
			if got.ID != k.key || got.UserID != k.key {
				t.Errorf("Get = session %q of user %q, want %q of %q", got.ID, got.UserID, k.key, k.key)
			}
			list, err := st.ListByUser(t.Context(), k.key)
			must(t, "ListByUser", err)
			if d := diff([]string{k.key}, sessionIDs(list)); d != "" {
				t.Errorf("ListByUser (-want +got):\n%s", d)
			}
			_, err = st.Update(t.Context(), k.key, nil, func(s *session.Session) error { s.Generation++; return nil })
			must(t, "Update", err)
			deleted, err := st.DeleteByUser(t.Context(), k.key)
			must(t, "DeleteByUser", err)
			if d := diff([]string{k.key}, deleted); d != "" {
				t.Errorf("DeleteByUser (-want +got):\n%s", d)
			}
		})
	}
}
