package revocation

import (
	"errors"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestSetRevoked(t *testing.T) {
	s := NewSet()
	for _, e := range []Entry{
		{Kind: KindToken, Key: "jti-1", ExpiresAt: t0.Add(time.Hour)},
		{Kind: KindSession, Key: "sid-1", ExpiresAt: t0.Add(time.Hour)},
		{Kind: KindSubject, Key: "user-1", NotBefore: t0, ExpiresAt: t0.Add(time.Hour)},
		{Kind: KindToken, Key: "jti-old", ExpiresAt: t0.Add(-time.Second)},
	} {
		if !s.Apply(e) {
			t.Fatalf("Apply(%+v) refused", e)
		}
	}
	tests := []struct {
		name          string
		jti, sid, sub string
		iat, now      time.Time
		want          bool
	}{
		{"clean token", "jti-2", "sid-2", "user-2", t0, t0, false},
		{"revoked jti", "jti-1", "sid-2", "user-2", t0, t0, true},
		{"revoked session", "jti-2", "sid-1", "user-2", t0, t0, true},
		{"subject revoked before not-before", "jti-2", "sid-2", "user-1", t0.Add(-time.Millisecond), t0, true},
		{"subject token issued at not-before survives", "jti-2", "sid-2", "user-1", t0, t0, false},
		{"subject token issued after not-before survives", "jti-2", "sid-2", "user-1", t0.Add(time.Second), t0, false},
		{"expired entry no longer counts", "jti-old", "", "user-2", t0, t0, false},
		{"entry past its expiry", "jti-1", "", "user-2", t0, t0.Add(time.Hour), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := s.Revoked(tt.jti, tt.sid, tt.sub, tt.iat, tt.now); got != tt.want {
				t.Errorf("Revoked = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSetApplyIsIdempotentAndOrderFree(t *testing.T) {
	a := Entry{Kind: KindSubject, Key: "u", NotBefore: t0, ExpiresAt: t0.Add(time.Hour)}
	b := Entry{Kind: KindSubject, Key: "u", NotBefore: t0.Add(time.Minute), ExpiresAt: t0.Add(30 * time.Minute)}
	want := []Entry{{Kind: KindSubject, Key: "u", NotBefore: t0.Add(time.Minute), ExpiresAt: t0.Add(time.Hour)}}
	for name, order := range map[string][]Entry{"a b": {a, b}, "b a": {b, a}, "a b a b": {a, b, a, b}} {
		s := NewSet()
		for _, e := range order {
			s.Apply(e)
		}
		if diff := cmp.Diff(want, s.Entries(t0)); diff != "" {
			t.Errorf("%s: entries (-want +got):\n%s", name, diff)
		}
	}
}

func TestSetReplacePrune(t *testing.T) {
	s := NewSet()
	s.Apply(Entry{Kind: KindToken, Key: "gone", ExpiresAt: t0.Add(time.Hour)})
	s.Replace([]Entry{
		{Kind: KindToken, Key: "a", ExpiresAt: t0.Add(time.Minute)},
		{Kind: KindSession, Key: "b", ExpiresAt: t0.Add(time.Hour)},
		{Kind: KindToken, Key: "expired", ExpiresAt: t0},
		{Kind: "bogus", Key: "c", ExpiresAt: t0.Add(time.Hour)},
	}, t0)
	if s.Len() != 2 || s.Revoked("gone", "", "", t0, t0) {
		t.Fatalf("after Replace: len %d, entries %+v", s.Len(), s.Entries(t0))
	}
	if n := s.Prune(t0.Add(time.Minute)); n != 1 || s.Len() != 1 {
		t.Fatalf("Prune dropped %d, left %d; want 1, 1", n, s.Len())
	}
	got := s.Entries(t0.Add(time.Minute))
	sort.Slice(got, func(i, j int) bool { return got[i].Key < got[j].Key })
	if diff := cmp.Diff([]Entry{{Kind: KindSession, Key: "b", ExpiresAt: t0.Add(time.Hour)}}, got); diff != "" {
		t.Error(diff)
	}
}

func TestEntryValidate(t *testing.T) {
	long := make([]byte, 257)
	for i := range long {
		long[i] = 'a'
	}
	for name, e := range map[string]Entry{
		"unknown kind":        {Kind: "x", Key: "k", ExpiresAt: t0},
		"empty key":           {Kind: KindToken, ExpiresAt: t0},
		"long key":            {Kind: KindToken, Key: string(long), ExpiresAt: t0},
		"no expiry":           {Kind: KindToken, Key: "k"},
		"subject without nbf": {Kind: KindSubject, Key: "k", ExpiresAt: t0},
	} {
		if err := e.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Validate = %v, want ErrInvalid", name, err)
		}
	}
}

func TestSetPruneKeepsEntriesExtendedDuringTheScan(t *testing.T) {
	s := NewSet()
	for i := range 5000 {
		s.Apply(Entry{Kind: KindToken, Key: string(rune('a'+i%26)) + time.Duration(i).String(), ExpiresAt: t0.Add(time.Second)})
	}
	s.Apply(Entry{Kind: KindSession, Key: "kept", ExpiresAt: t0.Add(time.Hour)})
	if n := s.Prune(t0.Add(time.Second)); n != 5000 || s.Len() != 1 {
		t.Fatalf("Prune = %d, Len = %d; want 5000, 1", n, s.Len())
	}
}

func BenchmarkRevokedMillion(b *testing.B) {
	s := NewSet()
	entries := make([]Entry, 0, 1_000_000)
	for i := range 1_000_000 {
		entries = append(entries, Entry{Kind: KindToken, Key: time.Duration(i).String(), ExpiresAt: t0.Add(time.Hour)})
	}
	s.Replace(entries, t0)
	b.ResetTimer()
	for b.Loop() {
		s.Revoked("absent-jti", "absent-sid", "absent-sub", t0, t0)
	}
}

// TestSetCompactKeys checks that keys in the auth service's format (held as 16 bytes) and
// every other key come back from Entries exactly as given, and are looked up by their text.
func TestSetCompactKeys(t *testing.T) {
	s := NewSet()
	keys := []string{
		"0123456789abcdef0123456789abcdef", // compact
		"0123456789ABCDEF0123456789ABCDEF", // upper case: another key, kept as a string
		"0123456789abcdef0123456789abcde",  // 31 digits
		"0123456789abcdef0123456789abcdeg", // not hex
		"sid-1",
	}
	var want []Entry
	for i, k := range keys {
		e := Entry{Kind: KindSession, Key: k, ExpiresAt: t0.Add(time.Duration(i+1)*time.Minute + 123*time.Nanosecond)}
		s.Apply(e)
		want = append(want, e)
	}
	got := s.Entries(t0)
	sort.Slice(got, func(i, j int) bool { return got[i].ExpiresAt.Before(got[j].ExpiresAt) })
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Entries (-want +got):\n%s", diff)
	}
	for _, k := range keys {
		if !s.Revoked("", k, "", t0, t0) {
			t.Errorf("session %q not revoked", k)
		}
	}
	if s.Revoked("", "fedcba9876543210fedcba9876543210", "", t0, t0) {
		t.Error("a compact key nobody revoked is revoked")
	}
}
