package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate/test/apptest"
)

// BenchmarkRefresh is one POST /refresh after another on one authd of the memory profile
// (KEYGATE_DEV=1), over HTTP on a keep-alive connection, each with the refresh token the
// last one returned: the server's whole refresh path (router, access log, session rotation,
// signing). For where the time goes:
//
//	go test -run '^$' -bench Refresh -benchtime 3000x -cpuprofile cpu.out ./apps/authd/
//	go tool pprof -top -cum -focus 'http.\(\*conn\).serve' cpu.out
func BenchmarkRefresh(b *testing.B) {
	env := map[string]string{"PORT": "0", "KEYGATE_DEV": "1", "KEYGATE_LOG_LEVEL": "info"}
	out := &headWriter{}
	ctx, cancel := context.WithCancel(b.Context())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"authd"}, func(k string) string { return env[k] }, out) }()
	b.Cleanup(func() { cancel(); <-done })
	var base string
	for deadline := time.Now().Add(15 * time.Second); base == ""; time.Sleep(10 * time.Millisecond) {
		if m := servingAddr.FindStringSubmatch(out.String()); m != nil {
			base = "http://localhost:" + m[1]
		} else if time.Now().After(deadline) {
			b.Fatalf("authd did not start:\n%s", out)
		}
	}
	client := &http.Client{}
	post := func(path string, body any, want int) map[string]any {
		raw, _ := json.Marshal(body)
		resp, err := client.Post(base+path, "application/json", strings.NewReader(string(raw)))
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		if resp.StatusCode != want {
			b.Fatalf("POST %s: %d %v", path, resp.StatusCode, m)
		}
		return m
	}
	creds := map[string]string{"email": "bench@example.com", "password": "correct horse battery staple"}
	post("/register", creds, http.StatusCreated)
	rt := fmt.Sprint(post("/login", creds, http.StatusOK)["refresh_token"])
	b.ResetTimer()
	for b.Loop() {
		rt = fmt.Sprint(post("/refresh", map[string]string{"refresh_token": rt}, http.StatusOK)["refresh_token"])
	}
}

// headWriter keeps the first 64 KiB of an app's log (enough to read its address) and drops
// the rest, as a log shipper draining stdout would: a buffer growing with every access-log
// line would show in the profile instead of the server.
type headWriter struct {
	apptest.Output
	n atomic.Int64
}

func (w *headWriter) Write(p []byte) (int, error) {
	if w.n.Add(int64(len(p))) <= 64<<10 {
		return w.Output.Write(p)
	}
	return len(p), nil
}
