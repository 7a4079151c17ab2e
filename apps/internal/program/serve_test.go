package program

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func text(s string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, s) })
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// Both listeners serve their own handler, and both stop when ctx ends.
func TestServeBothAndStopTogether(t *testing.T) {
	l, err := Listen("svc", "127.0.0.1:0", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, l, text("public"), text("admin"), nil) }()
	if got := get(t, "http://"+l.Public.Addr().String()); got != "public" {
		t.Errorf("public listener answered %q", got)
	}
	if got := get(t, "http://"+l.AdminAddr()); got != "admin" {
		t.Errorf("admin listener answered %q", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve after cancel = %v, want nil", err)
	}
	for _, addr := range []string{l.Public.Addr().String(), l.AdminAddr()} {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts after Serve returned", addr)
		}
	}
}

// One listener failing stops the other, and the error names the one that failed.
func TestServeStopsWhenOneListenerFails(t *testing.T) {
	l, err := Listen("svc", "127.0.0.1:0", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- Serve(t.Context(), l, text("public"), text("admin"), nil) }()
	get(t, "http://"+l.AdminAddr())
	l.Admin.Close()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "admin listener "+l.Admin.Addr().String()) {
			t.Errorf("Serve = %v, want an error naming the admin listener", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Serve kept running after the admin listener failed")
	}
}

// A bind failure says which listener and which address; "" turns the admin listener off.
func TestListenNamesTheFailingListener(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := taken.Addr().String()
	if _, err := Listen("svc", "127.0.0.1:0", addr); err == nil ||
		!strings.Contains(err.Error(), "svc: listen: admin listener (KEYGATE_ADMIN_ADDR) "+addr) {
		t.Errorf("Listen with the admin address taken = %v, want it named", err)
	}
	if _, err := Listen("svc", addr, "127.0.0.1:0"); err == nil ||
		!strings.Contains(err.Error(), "svc: listen: public listener (PORT) "+addr) {
		t.Errorf("Listen with the public address taken = %v, want it named", err)
	}
	l, err := Listen("svc", "127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.Admin != nil || l.AdminAddr() != "off" {
		t.Errorf("admin listener %v (%s) with the address off, want none", l.Admin, l.AdminAddr())
	}
}
