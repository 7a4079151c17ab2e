package e2e

import (
	"encoding/json"
	"sync"
	"testing"
)

// TestRefreshRace: a client's own concurrent refreshes with one refresh token (several tabs,
// a retry) all get the same successor, or an error; never a sibling, and the session lives.
func TestRefreshRace(t *testing.T) {
	s := startStack(t, nil)
	s.register(t, "racer@example.com", "correct horse battery")
	tok := s.login(t, "racer@example.com", "correct horse battery")

	const n = 20
	replies := make([]reply, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			replies[i] = s.refresh(t, tok.refresh)
		})
	}
	close(start)
	wg.Wait()

	successors := map[string]int{}
	var access string
	for _, r := range replies {
		switch r.status {
		case 200:
			successors[r.str(t, "refresh_token")]++
			access = r.str(t, "access_token")
		case 400, 503:
		default:
			t.Errorf("refresh answered %d: %s", r.status, r.body)
		}
	}
	if len(successors) != 1 {
		t.Fatalf("%d distinct successors %v, want exactly one", len(successors), successors)
	}
	var next string
	for rt := range successors {
		next = rt
	}
	// The family is alive: no reuse was detected, the successor refreshes, the access token works.
	if got := s.ordersStatus(t, access); got != 200 {
		t.Errorf("access token from the race: orders answered %d, want 200", got)
	}
	want(t, s.refresh(t, next), 200, "refresh with the one successor")
	r := want(t, s.call(t, "GET", s.auth+"/sessions", access, nil), 200, "sessions")
	var body struct {
		Sessions []json.RawMessage `json:"sessions"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatal(err)
	}
	if len(body.Sessions) != 1 {
		t.Errorf("%d sessions after the race, want 1: %s", len(body.Sessions), r.body)
	}
}

// TestReuseDetectionRevokesAtOnce: presenting an old refresh token (outside the
// same-successor window: a generation older than the previous one) is theft. The whole
// session dies, and the microservice refuses the session's newest access token within
// milliseconds, pushed over the bus.
func TestReuseDetectionRevokesAtOnce(t *testing.T) {
	s := startStack(t, nil)
	s.register(t, "victim@example.com", "correct horse battery")
	first := s.login(t, "victim@example.com", "correct horse battery")

	r := want(t, s.refresh(t, first.refresh), 200, "first rotation")
	second := r.str(t, "refresh_token")
	r = want(t, s.refresh(t, second), 200, "second rotation")
	latest := tokens{access: r.str(t, "access_token"), refresh: r.str(t, "refresh_token")}
	if got := s.ordersStatus(t, latest.access); got != 200 {
		t.Fatalf("latest access token: %d, want 200", got)
	}

	// The attacker replays the first refresh token.
	r = want(t, s.refresh(t, first.refresh), 400, "reuse of a rotated refresh token")
	if code := r.json(t)["code"]; code != "invalid_grant" {
		t.Errorf("reuse answered code %v, want invalid_grant", code)
	}
	s.refusedSoon(t, latest.access, "refresh-token reuse revoked the session")
	want(t, s.refresh(t, latest.refresh), 400, "the legitimate client's refresh after reuse")
}
