package identity

import (
	"errors"
	"strings"
	"testing"
)

func unprepared(s string) (string, error) { return s, nil }

func TestNormalizeEmail(t *testing.T) {
	tests := []struct {
		name, in, want string
		wantErr        error
	}{
		{"trimmed and lower-cased", "  Alice@Example.ORG ", "alice@example.org", nil},
		{"dotless i kept distinct", "mıke@example.org", "mıke@example.org", nil},
		{"no at", "alice.example.org", "", ErrInvalidEmail},
		{"two ats", "a@b@c", "", ErrInvalidEmail},
		{"empty local part", "@example.org", "", ErrInvalidEmail},
		{"empty domain", "alice@", "", ErrInvalidEmail},
		{"inner space", "ali ce@example.org", "", ErrInvalidEmail},
		{"control character", "alice\x00@example.org", "", ErrInvalidEmail},
		{"newline", "alice\n@example.org", "", ErrInvalidEmail},
		{"invalid utf-8", "ali\xffce@example.org", "", ErrInvalidEmail},
		{"too long", strings.Repeat("a", 250) + "@example.org", "", ErrInvalidEmail},
		{"sql in the local part", "' OR 1=1 --@x.org", "", ErrInvalidEmail},
		{"domain dot dot", "a@example..org", "", ErrInvalidEmail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizeEmail(tt.in, unprepared)
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Fatalf("NormalizeEmail(%q) = %q, %v; want %q, %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
	// The preparation runs before validation, and its refusal is the answer.
	composed := func(s string) (string, error) { return strings.ReplaceAll(s, "e\u0301", "\u00e9"), nil }
	if got, _ := NormalizeEmail("Jose\u0301@x.org", composed); got != "jos\u00e9@x.org" {
		t.Errorf("preparation not applied: %q", got)
	}
	refuse := func(string) (string, error) { return "", errors.New("norm: bidi control") }
	if _, err := NormalizeEmail("a@x.org", refuse); !errors.Is(err, ErrInvalidEmail) {
		t.Errorf("a refused preparation gave %v, want ErrInvalidEmail", err)
	}
}

func TestCheckPassword(t *testing.T) {
	for name, tt := range map[string]struct {
		pw string
		ok bool
	}{
		"8 characters":   {"abcdefgh", true},
		"7 characters":   {"abcdefg", false},
		"128 characters": {strings.Repeat("é", 128), true},
		"129 characters": {strings.Repeat("a", 129), false},
		"NUL inside":     {"abcd\x00efgh", false},
		"invalid utf-8":  {"abcdefg\xff", false},
		"a megabyte":     {strings.Repeat("a", 1<<20), false},
	} {
		if err := CheckPassword(tt.pw); (err == nil) != tt.ok {
			t.Errorf("%s: CheckPassword = %v, want ok=%v", name, err, tt.ok)
		}
	}
}

func TestUserLogValueHidesHash(t *testing.T) {
	u := User{ID: "1", Email: "a@b.c", PasswordHash: "$argon2id$secret"}
	if strings.Contains(u.LogValue().String(), "argon2id") {
		t.Fatal("LogValue leaks the password hash")
	}
}
