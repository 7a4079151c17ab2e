package auth

import (
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/keygate/keygate/core/audit"
	"github.com/keygate/keygate/ports"
	"github.com/keygate/keygate/ports/portstest"
)

// outcome names what a login answered: "ok", "invalid", "limited" or the error.
func outcome(t *testing.T, err error) (string, time.Duration) {
	t.Helper()
	var rl *RateLimitedError
	switch {
	case err == nil:
		return "ok", 0
	case errors.As(err, &rl):
		return "limited", rl.RetryAfter
	case errors.Is(err, ErrInvalidCredentials):
		return "invalid", 0
	}
	return err.Error(), 0
}

func (e *env) try(t *testing.T, email, password, ip string) (string, time.Duration) {
	t.Helper()
	_, err := e.svc.Login(t.Context(), email, password, Client{IP: ip, UserAgent: "test/1.0"})
	return outcome(t, err)
}

// auditOf returns the events of action for userID, oldest first.
func (e *env) auditOf(t *testing.T, userID string, action audit.Action) []audit.Event {
	t.Helper()
	evs, err := e.audit.ByUser(t.Context(), userID, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []audit.Event
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Action == action {
			out = append(out, evs[i])
		}
	}
	return out
}

// Nobody can lock the owner out: ten wrong passwords from an attacker's address lock that
// address out of the account (429 with Retry-After, the password not even checked), while
// the owner, from another address, logs in at once with the right one.
func TestLoginFailuresLockOnlyTheFailingClient(t *testing.T) {
	const attacker, owner = "198.51.100.7", "203.0.113.20"
	e := newEnv(t, func(c *Config) { c.LoginFailures = Limit{N: 10, Window: 15 * time.Minute} })
	alice := e.register(t, "alice@example.org")
	for i := range 10 {
		if got, _ := e.try(t, "alice@example.org", fmt.Sprintf("guess number %d", i), attacker); got != "invalid" {
			t.Fatalf("wrong password %d = %s, want invalid", i+1, got)
		}
	}
	verifies := e.hasher.verifies.Load()
	for _, pw := range []string{"guess number 11", testPassword} {
		got, retry := e.try(t, "alice@example.org", pw, attacker)
		if got != "limited" || retry <= 0 || retry > 15*time.Minute {
			t.Errorf("attacker's login with %q after 10 failures = %s, retry after %v; want limited within 15m", pw, got, retry)
		}
	}
	if n := e.hasher.verifies.Load() - verifies; n != 0 {
		t.Errorf("a locked client's logins cost %d password checks, want none", n)
	}
	if got, _ := e.try(t, "alice@example.org", testPassword, owner); got != "ok" {
		t.Errorf("owner's login from another address = %s, want ok", got)
	}
	// Another account from the attacker's address is not locked either.
	e.register(t, "bob@example.org")
	if got, _ := e.try(t, "bob@example.org", testPassword, attacker); got != "ok" {
		t.Errorf("another account from the attacker's address = %s, want ok", got)
	}

	locked := e.auditOf(t, alice.ID, audit.ActionLoginLocked)
	if len(locked) != 2 {
		t.Fatalf("login_locked events = %d, want one per refused attempt (2)", len(locked))
	}
	for _, ev := range locked {
		if ev.RemoteIP != attacker || ev.UserID != alice.ID {
			t.Errorf("login_locked event = %+v, want the attacker's address and alice's id", ev)
		}
	}
	if n := len(e.auditOf(t, alice.ID, audit.ActionLoginFailure)); n != 10 {
		t.Errorf("login_failure events = %d, want 10", n)
	}

	// The lock ends with its window.
	e.clock.Advance(15 * time.Minute)
	if got, _ := e.try(t, "alice@example.org", testPassword, attacker); got != "ok" {
		t.Errorf("the attacker's address after the window = %s, want ok", got)
	}
}

// Only failures count: the owner's own successful logins never lock anyone, and an attempt
// the hasher sheds (503) or that the limiter refuses counts nothing.
func TestLoginCountsOnlyFailures(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.LoginFailures = Limit{N: 2, Window: time.Minute} })
	e.register(t, "alice@example.org")
	for i := range 5 {
		if got, _ := e.try(t, "alice@example.org", testPassword, "192.0.2.1"); got != "ok" {
			t.Fatalf("successful login %d = %s", i+1, got)
		}
	}
	shed := e.service(t, func(d *Deps) { d.Hasher = portstest.UnavailablePasswordHasher{} })
	for range 3 {
		if _, err := shed.Login(t.Context(), "alice@example.org", "wrong password", Client{IP: "192.0.2.1"}); !errors.Is(err, ports.ErrUnavailable) {
			t.Fatalf("login with the hasher down = %v, want unavailable", err)
		}
	}
	for i, want := range []string{"invalid", "invalid", "limited", "limited"} {
		if got, _ := e.try(t, "alice@example.org", "wrong password", "192.0.2.1"); got != want {
			t.Errorf("wrong password %d = %s, want %s", i+1, got, want)
		}
	}
}

// The brake: failures for one account from many clients engage it. Then every client that
// has failed for the account is refused, a clean client's login waits BrakeDelay before its
// password is checked (the owner logs in, a little slower; a guess from a fresh address is
// one per address), and the brake engaging is audited once with the address that tripped it.
func TestLoginBrake(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const delay = 3 * time.Second
		e := newEnv(t, func(c *Config) {
			c.LoginFailures = Limit{N: 3, Window: 15 * time.Minute}
			c.LoginBrake = Limit{N: 5, Window: time.Hour}
			c.BrakeDelay = delay
		})
		alice := e.register(t, "alice@example.org")
		type step struct {
			ip, pw  string
			want    string
			delayed bool
		}
		steps := []step{
			// Three failures lock A; two from B make five: the brake engages.
			{"198.51.100.1", "guess a1", "invalid", false},
			{"198.51.100.1", "guess a2", "invalid", false},
			{"198.51.100.1", "guess a3", "invalid", false},
			{"198.51.100.2", "guess b1", "invalid", false},
			{"198.51.100.2", "guess b2", "invalid", false},
			// B is under its own limit but has failed: the brake refuses it, unchecked.
			{"198.51.100.2", testPassword, "limited", false},
			// A fresh address gets one delayed guess, then it is refused too.
			{"198.51.100.3", "guess c1", "invalid", true},
			{"198.51.100.3", "guess c2", "limited", false},
			// The owner, on a clean address, logs in: delayed, not refused.
			{"203.0.113.20", testPassword, "ok", true},
			{"203.0.113.20", testPassword, "ok", true},
		}
		for i, s := range steps {
			start := time.Now() // the bubble's fake time
			got, retry := e.try(t, "alice@example.org", s.pw, s.ip)
			waited := time.Since(start)
			if got != s.want {
				t.Errorf("step %d (%s, %q) = %s, want %s", i+1, s.ip, s.pw, got, s.want)
			}
			if got == "limited" && (retry <= 0 || retry > 15*time.Minute) {
				t.Errorf("step %d: Retry-After %v, want within the client's 15m window", i+1, retry)
			}
			if wantWait := map[bool]time.Duration{true: delay}[s.delayed]; waited != wantWait {
				t.Errorf("step %d (%s) waited %v, want %v", i+1, s.ip, waited, wantWait)
			}
		}
		brake := e.auditOf(t, alice.ID, audit.ActionLoginBrake)
		if len(brake) != 1 || brake[0].RemoteIP != "198.51.100.2" {
			t.Errorf("login_brake events = %+v, want one, from 198.51.100.2", brake)
		}
		var lockedFrom []string
		for _, ev := range e.auditOf(t, alice.ID, audit.ActionLoginLocked) {
			lockedFrom = append(lockedFrom, ev.RemoteIP)
		}
		if diff := cmp.Diff([]string{"198.51.100.2", "198.51.100.3"}, lockedFrom); diff != "" {
			t.Errorf("login_locked addresses (-want +got):\n%s", diff)
		}

		// The failing clients' own windows end first: they are clean again, and delayed.
		e.clock.Advance(15 * time.Minute)
		start := time.Now()
		if got, _ := e.try(t, "alice@example.org", testPassword, "198.51.100.2"); got != "ok" || time.Since(start) != delay {
			t.Errorf("B after its window, brake still on = %s after %v, want ok after %v", got, time.Since(start), delay)
		}
		// The brake ends with its window: no wait.
		e.clock.Advance(time.Hour)
		start = time.Now()
		if got, _ := e.try(t, "alice@example.org", testPassword, "198.51.100.1"); got != "ok" || time.Since(start) != 0 {
			t.Errorf("A after the brake = %s after %v, want ok at once", got, time.Since(start))
		}
	})
}

// An unknown e-mail counts failures like a real account, so that a lock does not tell which
// addresses have accounts.
func TestLoginFailuresOfAnUnknownEmailLockAlike(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.LoginFailures = Limit{N: 2, Window: time.Minute} })
	e.register(t, "alice@example.org")
	for _, email := range []string{"alice@example.org", "nobody@example.org"} {
		var got []string
		for range 3 {
			o, _ := e.try(t, email, "wrong password", "192.0.2.9")
			got = append(got, o)
		}
		if diff := cmp.Diff([]string{"invalid", "invalid", "limited"}, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", email, diff)
		}
	}
}
