package portstest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/core/audit"
	"github.com/keygate/keygate/ports"
)

// RunAuditLog runs the contract suite of ports.AuditLog. open returns a fresh, empty log.
func RunAuditLog(t *testing.T, open func(t *testing.T) ports.AuditLog) {
	t.Helper()
	t.Run("RoundTripNewestFirst", func(t *testing.T) { testAuditRoundTrip(t, open(t)) })
	t.Run("SubjectOrActor", func(t *testing.T) { testAuditSubjectOrActor(t, open(t)) })
	t.Run("Limit", func(t *testing.T) { testAuditLimit(t, open(t)) })
	t.Run("UnknownUser", func(t *testing.T) {
		l := open(t)
		appendEvents(t, l, audit.Event{At: Now(), Action: audit.ActionLogout, UserID: "u1", ActorID: "u1"})
		got, err := l.ByUser(t.Context(), "nobody", 10)
		if err != nil || len(got) != 0 {
			t.Errorf("ByUser of a user without events = %v, %v; want none, nil", got, err)
		}
	})
	t.Run("ConcurrentAppends", func(t *testing.T) { testAuditConcurrent(t, open(t)) })
	t.Run("OddBytes", func(t *testing.T) { testAuditOddBytes(t, open(t)) })
}

func appendEvents(t *testing.T, l ports.AuditLog, es ...audit.Event) {
	t.Helper()
	for _, e := range es {
		must(t, "Append", l.Append(t.Context(), e))
	}
}

// withoutIDs returns es with ID cleared, after checking the ids decrease (newest first).
func withoutIDs(t *testing.T, es []audit.Event) []audit.Event {
	t.Helper()
	out := make([]audit.Event, len(es))
	for i, e := range es {
		if e.ID <= 0 {
			t.Errorf("event %d has id %d, want a positive id", i, e.ID)
		}
		if i > 0 && e.ID >= es[i-1].ID {
			t.Errorf("event ids %d then %d: want newest (highest id) first", es[i-1].ID, e.ID)
		}
		e.ID = 0
		out[i] = e
	}
	return out
}

func reversed(es []audit.Event) []audit.Event {
	out := make([]audit.Event, len(es))
	for i, e := range es {
		out[len(es)-1-i] = e
	}
	return out
}

func testAuditRoundTrip(t *testing.T, l ports.AuditLog) {
	now := Now()
	in := []audit.Event{
		{At: now.Add(-3 * time.Second), Action: audit.ActionRegister, UserID: "u1", ActorID: "u1", RemoteIP: "192.0.2.1"},
		{At: now.Add(-2 * time.Second), Action: audit.ActionLoginFailure, UserID: "u1", ActorID: "u1", RemoteIP: "2001:db8::2", Detail: "bad password"},
		{At: now.Add(-time.Second), Action: audit.ActionLoginSuccess, UserID: "u1", ActorID: "u1", RemoteIP: "192.0.2.1", Detail: "sid 1234"},
		// Events are kept in the order appended even when their times are not.
		{At: now.Add(-10 * time.Second), Action: audit.ActionLogout, UserID: "u1", ActorID: "u1"},
	}
	in[0].ID = 999 // ignored
	appendEvents(t, l, in...)
	got, err := l.ByUser(t.Context(), "u1", 10)
	must(t, "ByUser", err)
	want := reversed(in)
	for i := range want {
		want[i].ID = 0
	}
	if d := diff(want, withoutIDs(t, got)); d != "" {
		t.Errorf("ByUser (-want +got):\n%s", d)
	}
}

func testAuditSubjectOrActor(t *testing.T, l ports.AuditLog) {
	now := Now()
	in := []audit.Event{
		{At: now, Action: audit.ActionLoginSuccess, UserID: "u1", ActorID: "u1"},
		{At: now, Action: audit.ActionUserDisabled, UserID: "u2", ActorID: "admin"},
		{At: now, Action: audit.ActionUserRevoked, UserID: "u1", ActorID: "admin"},
		{At: now, Action: audit.ActionLoginFailure, ActorID: "", RemoteIP: "192.0.2.9", Detail: "unknown e-mail"},
		{At: now, Action: audit.ActionKeyRotated, ActorID: "admin", Detail: "kid abc"},
	}
	appendEvents(t, l, in...)
	tests := []struct {
		user string
		want []audit.Event
	}{
		{"u1", []audit.Event{in[2], in[0]}},
		{"u2", []audit.Event{in[1]}},
		{"admin", []audit.Event{in[4], in[2], in[1]}},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			got, err := l.ByUser(t.Context(), tt.user, 10)
			must(t, "ByUser", err)
			if d := diff(tt.want, withoutIDs(t, got)); d != "" {
				t.Errorf("ByUser(%s) (-want +got):\n%s", tt.user, d)
			}
		})
	}
}

func testAuditLimit(t *testing.T, l ports.AuditLog) {
	var in []audit.Event
	for i := range 10 {
		in = append(in, audit.Event{At: Now(), Action: audit.ActionLoginSuccess, UserID: "u1", ActorID: "u1", Detail: fmt.Sprint(i)})
	}
	appendEvents(t, l, in...)
	got, err := l.ByUser(t.Context(), "u1", 3)
	must(t, "ByUser", err)
	if d := diff(reversed(in)[:3], withoutIDs(t, got)); d != "" {
		t.Errorf("ByUser with limit 3 (-want +got):\n%s", d)
	}
}

func testAuditConcurrent(t *testing.T, l ports.AuditLog) {
	errs := make([]error, racers)
	race(racers, func(i int) {
		errs[i] = l.Append(t.Context(), audit.Event{At: Now(), Action: audit.ActionRevoke, UserID: "u1", ActorID: "u1", Detail: fmt.Sprint(i)})
	})
	for _, err := range errs {
		must(t, "Append", err)
	}
	got, err := l.ByUser(t.Context(), "u1", 2*racers)
	must(t, "ByUser", err)
	withoutIDs(t, got) // checks the ids are distinct and ordered
	seen := map[string]bool{}
	for _, e := range got {
		seen[e.Detail] = true
	}
	if len(got) != racers || len(seen) != racers {
		t.Errorf("after %d concurrent Appends ByUser returned %d events (%d distinct)", racers, len(got), len(seen))
	}
}

func testAuditOddBytes(t *testing.T, l ports.AuditLog) {
	for _, k := range oddKeys(200) {
		user := k.key[:min(len(k.key), 32)]
		e := audit.Event{At: Now(), Action: audit.ActionSessionRevoke, UserID: user, ActorID: user,
			RemoteIP: "::ffff:192.0.2.1", Detail: k.key + "\n\t" + strings.Repeat("é", 10)}
		appendEvents(t, l, e)
		got, err := l.ByUser(t.Context(), user, 10)
		must(t, "ByUser", err)
		if d := diff([]audit.Event{e}, withoutIDs(t, got)); d != "" {
			t.Errorf("ByUser(%s) (-want +got):\n%s", k.name, d)
		}
	}
}
