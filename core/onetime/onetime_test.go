package onetime_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/core/onetime"
)

func TestNewAndHash(t *testing.T) {
	exp := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s1, t1 := onetime.New(onetime.PurposeReset, "u1", "st", exp)
	s2, t2 := onetime.New(onetime.PurposeReset, "u1", "st", exp)
	if s1 == s2 || t1.Hash == t2.Hash {
		t.Fatalf("two New gave the same secret or hash")
	}
	if len(s1) != 43 || len(t1.Hash) != 64 {
		t.Errorf("secret %d chars, hash %d hex digits; want 43 and 64", len(s1), len(t1.Hash))
	}
	if strings.Contains(t1.Hash, string(s1)) {
		t.Errorf("the stored hash contains the secret")
	}
	h, err := onetime.Hash(s1)
	if err != nil || h != t1.Hash {
		t.Errorf("Hash(secret) = %q, %v; want the token's hash %q", h, err, t1.Hash)
	}
	if t1.Purpose != onetime.PurposeReset || t1.UserID != "u1" || t1.Stamp != "st" || !t1.ExpiresAt.Equal(exp) {
		t.Errorf("token = %+v", t1)
	}
}

func TestHashRefusesMalformed(t *testing.T) {
	s, _ := onetime.New(onetime.PurposeVerify, "u", "", time.Now())
	for name, bad := range map[string]onetime.Secret{
		"empty":        "",
		"short":        s[:42],
		"long":         s + "A",
		"padding":      s[:42] + "=",
		"not base64":   s[:42] + "*",
		"standard b64": s[:42] + "+",
		"1 MB":         onetime.Secret(strings.Repeat("A", 1<<20)),
	} {
		if _, err := onetime.Hash(bad); !errors.Is(err, onetime.ErrMalformed) {
			t.Errorf("Hash(%s) = %v, want ErrMalformed", name, err)
		}
	}
}

func TestStamp(t *testing.T) {
	if onetime.StampOf("ab", "c") == onetime.StampOf("a", "bc") {
		t.Errorf("StampOf does not separate its parts")
	}
	a := onetime.StampOf("$argon2id$v=19$...", "false")
	if !onetime.StampMatches(a, onetime.StampOf("$argon2id$v=19$...", "false")) {
		t.Errorf("equal parts, different stamps")
	}
	if onetime.StampMatches(a, onetime.StampOf("$argon2id$v=19$other", "false")) {
		t.Errorf("a changed password hash keeps the stamp")
	}
	if strings.Contains(a, "argon2") {
		t.Errorf("the stamp shows its parts: %s", a)
	}
}

func TestSecretRedacted(t *testing.T) {
	s, _ := onetime.New(onetime.PurposeReset, "u", "", time.Now())
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("mail", "token", s)
	if strings.Contains(buf.String(), string(s)) {
		t.Errorf("the secret reached the log: %s", buf.String())
	}
}
