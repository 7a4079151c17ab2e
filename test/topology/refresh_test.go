package topology_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"
)

// TestRefreshHoppingReplicas refreshes sessions through two authd replicas on one Redis and one
// PostgreSQL, each refresh on a replica picked at random, so that each replica's memory of the
// sessions it last stored (the hints that spare a refresh its read) is often stale: the other
// replica has rotated the session since. As a user sees it, every refresh of the current token
// succeeds, on whichever replica; and a replay of a rotated token past the grace window, sent
// to the replica whose stale memory still shows it as current, is caught as theft all the
// same: 400 invalid_grant, and the session's current token stops working too. A client's own
// concurrent refreshes of one token over both replicas all get one successor.
func TestRefreshHoppingReplicas(t *testing.T) {
	tp := startDBTopology(t, startPostgres(t))
	c := tp.c
	replicas := []*proc{tp.a, tp.b}
	const password = "correct horse battery staple"
	want(t, c.register(t, tp.a.URL, "hops@example.com", password), http.StatusCreated, "register")

	const chains, hops = 8, 25
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	for i := range chains {
		wg.Go(func() {
			rt := tokensOf(t, c.login(t, replicas[i%2].URL, "hops@example.com", password), "login").refresh
			for hop := range hops {
				p := replicas[rand.IntN(2)]
				r := c.refresh(t, p.URL, rt)
				if r.status != http.StatusOK {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("chain %d, refresh %d on %s: %s", i, hop+1, p.Name, r))
					mu.Unlock()
					return
				}
				rt = r.str(t, "refresh_token")
			}
		})
	}
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}

	// A client's own concurrent refreshes of one token (tabs, retries), spread over both
	// replicas, each of which remembers the session: one successor for all, and it lives.
	tok := tokensOf(t, c.login(t, tp.a.URL, "hops@example.com", password), "login").refresh
	tok = tokensOf(t, c.refresh(t, tp.b.URL, tok), "refresh on B").refresh // both replicas hold a hint now
	const racers = 16
	replies := make([]reply, racers)
	start := make(chan struct{})
	for i := range racers {
		wg.Go(func() {
			<-start
			replies[i] = c.refresh(t, replicas[i%2].URL, tok)
		})
	}
	close(start)
	wg.Wait()
	successors := map[string]int{}
	for i, r := range replies {
		if r.status != http.StatusOK {
			t.Errorf("racing refresh %d on %s: %s, want 200 (a retry within the grace window)", i, replicas[i%2].Name, r)
			continue
		}
		successors[r.str(t, "refresh_token")]++
	}
	if len(successors) != 1 {
		t.Fatalf("%d distinct successors of one token %v, want one", len(successors), successors)
	}
	for next := range successors {
		want(t, c.refresh(t, tp.a.URL, next), http.StatusOK, "the one successor refreshes")
	}

	// Theft past a stale hint: A stored generation 1, B rotated it to 2, the grace window
	// passes, generation 1 comes back to A.
	first := tokensOf(t, c.login(t, tp.a.URL, "hops@example.com", password), "login")
	second := tokensOf(t, c.refresh(t, tp.b.URL, first.refresh), "refresh on B")
	time.Sleep(refreshGrace + 500*time.Millisecond)
	if r := c.refresh(t, tp.a.URL, first.refresh); r.status != http.StatusBadRequest || r.code() != "invalid_grant" {
		t.Fatalf("replay of a rotated token on the replica that stored it: %s, want 400 invalid_grant", r)
	}
	if r := c.refresh(t, tp.b.URL, second.refresh); r.status != http.StatusBadRequest || r.code() != "invalid_grant" {
		t.Errorf("the session's current token after its theft was detected: %s, want 400 invalid_grant (the session revoked)", r)
	}
}
