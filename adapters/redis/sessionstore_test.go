package redis_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	redisadapter "github.com/keygate/keygate/adapters/redis"
	"github.com/keygate/keygate/core/identity"
	"github.com/keygate/keygate/core/session"
	"github.com/keygate/keygate/ports"
)

var testPolicy = session.Policy{IdleTTL: time.Hour, MaxTTL: 2 * time.Hour, Grace: 10 * time.Second}

// TestSessionUpdateWaitEndsWithContext shows that an Update queued behind another Update of
// the same session in this process gives up when its context ends: with Redis slow, a refresh
// answers 503 within its own budget instead of queueing past it.
func TestSessionUpdateWaitEndsWithContext(t *testing.T) {
	st := must[*redisadapter.SessionStore](t)(redisadapter.NewSessionStore(server(t)(t)))
	s := session.New(identity.NewID(), "u1", "keygate", time.Now(), testPolicy)
	if err := st.Create(t.Context(), s); err != nil {
		t.Fatal(err)
	}

	entered, release := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		_, err := st.Update(t.Context(), s.ID, nil, func(*session.Session) error {
			close(entered)
			<-release // a write that takes long
			return nil
		})
		first <- err
	}()
	<-entered

	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	second := make(chan error, 1)
	go func() {
		_, err := st.Update(ctx, s.ID, nil, func(*session.Session) error { return nil })
		second <- err
	}()
	select {
	case err := <-second:
		if !errors.Is(err, ports.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("queued Update whose context ended = %v, want ports.ErrUnavailable and the context's error", err)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("queued Update still waiting 10s after its context ended")
		defer func() { <-second }()
	}
	close(release)
	if err := <-first; err != nil {
		t.Errorf("first Update = %v", err)
	}
}

// TestSessionIndexForgetsExpiredSessions shows that a user's session index does not keep the
// ids of sessions Redis has expired: a user (or script) that logs in every few minutes keeps
// the index alive forever, and without this it would grow by every session ever created,
// costing memory and making DeleteByUser (logout-all) one ever longer script.
func TestSessionIndexForgetsExpiredSessions(t *testing.T) {
	c, cfg := server(t)(t)
	st := must[*redisadapter.SessionStore](t)(redisadapter.NewSessionStore(c, cfg))
	const user = "u1"
	kept := session.New(identity.NewID(), user, "keygate", time.Now(), testPolicy) // keeps the index alive
	if err := st.Create(t.Context(), kept); err != nil {
		t.Fatal(err)
	}
	var old []string
	for range 5 {
		s := session.New(identity.NewID(), user, "keygate", time.Now(), testPolicy)
		s.ExpiresAt = time.Now().Add(time.Second)
		if err := st.Create(t.Context(), s); err != nil {
			t.Fatal(err)
		}
		old = append(old, s.ID)
	}
	for _, sid := range old {
		for {
			_, err := st.Get(t.Context(), sid)
			if errors.Is(err, ports.ErrNotFound) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	live := session.New(identity.NewID(), user, "keygate", time.Now(), testPolicy)
	if err := st.Create(t.Context(), live); err != nil {
		t.Fatal(err)
	}
	index := "{" + cfg.Prefix + "}:usess:" + user
	got, err := c.SMembers(t.Context(), index).Result()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	want := []string{kept.ID, live.ID}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("index of a user with two live sessions and 5 expired = %q, want %q", got, want)
	}
}
