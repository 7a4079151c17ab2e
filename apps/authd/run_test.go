package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestRunRefusesMemoryWithoutDevMode(t *testing.T) {
	err := run(t.Context(), []string{"authd"}, func(k string) string { return map[string]string{"PORT": "0"}[k] }, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "KEYGATE_DEV") {
		t.Errorf("run = %v, want a refusal naming KEYGATE_DEV", err)
	}
}

func TestRunRejectsArguments(t *testing.T) {
	err := run(t.Context(), []string{"authd", "--port=1"}, func(string) string { return "" }, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "environment variables") {
		t.Errorf("run = %v, want a pointer to the environment variables", err)
	}
}

var servingAddr = regexp.MustCompile(`"msg":"authd: serving","addr":"[^"]*:(\d+)"`)

// TestRunOnPortZero: the real wiring starts on a free port, its issuer names that port, and
// it stops cleanly when the context ends.
func TestRunOnPortZero(t *testing.T) {
	env := map[string]string{"PORT": "0", "KEYGATE_DEV": "1"}
	out := &syncBuffer{}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"authd"}, func(k string) string { return env[k] }, out) }()

	var port string
	deadline := time.Now().Add(15 * time.Second)
	for port == "" {
		if m := servingAddr.FindStringSubmatch(out.String()); m != nil {
			port = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("authd did not start:\n%s", out)
		}
		time.Sleep(10 * time.Millisecond)
	}
	base := "http://localhost:" + port
	resp, err := http.Get(base + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Issuer string `json:"issuer"`
	}
	err = json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if err != nil || doc.Issuer != base {
		t.Errorf("issuer = %q (%v), want %q", doc.Issuer, err, base)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run after cancel = %v, want nil", err)
	}
	if !strings.Contains(out.String(), "dev mode") {
		t.Error("no dev-mode warning in the log")
	}
}
