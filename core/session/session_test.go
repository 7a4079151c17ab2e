package session

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var policy = Policy{IdleTTL: time.Hour, MaxTTL: 24 * time.Hour, Grace: 10 * time.Second}

func TestRotate(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		presented uint64
		after     time.Duration // since the first rotation
		want      Outcome
		wantErr   error
		wantGen   uint64
	}{
		{"current generation rotates", 2, time.Second, Rotated, nil, 3},
		{"previous generation within grace gets the same successor", 1, 5 * time.Second, Retried, nil, 2},
		{"previous generation at the grace edge", 1, 10 * time.Second, Retried, nil, 2},
		{"previous generation after grace is reuse", 1, 11 * time.Second, 0, ErrReused, 2},
		{"grandparent within grace is reuse", 0, time.Second, 0, ErrReused, 2},
		{"future generation is reuse", 5, time.Second, 0, ErrReused, 2},
		{"idle session expired", 2, 2 * time.Hour, 0, ErrExpired, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New("sid", "uid", "keygate", t0, policy)
			if _, err := s.Rotate(1, t0, policy); err != nil {
				t.Fatalf("first rotation: %v", err)
			}
			got, err := s.Rotate(tt.presented, t0.Add(tt.after), policy)
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Fatalf("Rotate(%d) = %v, %v; want %v, %v", tt.presented, got, err, tt.want, tt.wantErr)
			}
			if s.Generation != tt.wantGen {
				t.Errorf("generation = %d, want %d", s.Generation, tt.wantGen)
			}
		})
	}
}

func TestRotateAbsoluteExpiry(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := New("sid", "uid", "keygate", t0, policy)
	now := t0
	for s.Active(now.Add(50*time.Minute), policy) { // keep it busy: idle never hits
		now = now.Add(50 * time.Minute)
		if _, err := s.Rotate(s.Generation, now, policy); err != nil {
			t.Fatalf("rotate at %v: %v", now.Sub(t0), err)
		}
	}
	if _, err := s.Rotate(s.Generation, t0.Add(24*time.Hour), policy); !errors.Is(err, ErrExpired) {
		t.Fatalf("rotate at the absolute expiry: %v, want ErrExpired", err)
	}
}

func TestCodec(t *testing.T) {
	c, err := NewCodec([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	tok := c.Token("abc", 7)
	sid, gen, err := c.Parse(tok)
	if err != nil || sid != "abc" || gen != 7 {
		t.Fatalf("Parse(Token(abc, 7)) = %q, %d, %v", sid, gen, err)
	}
	other, _ := NewCodec([]byte(strings.Repeat("x", 32)))
	s := string(tok)
	bad := map[string]string{
		"empty":               "",
		"other secret":        string(other.Token("abc", 7)),
		"generation changed":  strings.Replace(s, ".7.", ".8.", 1),
		"leading zero":        strings.Replace(s, ".7.", ".07.", 1),
		"session changed":     strings.Replace(s, "abc", "abd", 1),
		"mac truncated":       s[:len(s)-1],
		"extra segment":       s + ".x",
		"wrong prefix":        "kgr2" + s[4:],
		"generation zero":     string(c.Token("abc", 0)),
		"huge":                strings.Repeat("a", 10000),
		"an access token":     "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ1In0.c2ln",
		"negative generation": strings.Replace(s, ".7.", ".-7.", 1),
	}
	for name, in := range bad {
		if _, _, err := c.Parse(RefreshToken(in)); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: Parse = %v, want ErrInvalidToken", name, err)
		}
	}
	if _, err := NewCodec([]byte("short")); !errors.Is(err, ErrWeakSecret) {
		t.Errorf("NewCodec(short) = %v, want ErrWeakSecret", err)
	}
}

func TestRefreshTokenRedactsInLogs(t *testing.T) {
	if got := RefreshToken("kgr1.secret").LogValue().String(); strings.Contains(got, "secret") {
		t.Fatalf("LogValue = %q, leaks the token", got)
	}
}
