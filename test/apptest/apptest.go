// Package apptest holds what tests need to run keygate's binaries and verifiers: a buffer a running app can
// log into while the test reads it, and a stand-in issuer (Issuer).
package apptest

import (
	"bytes"
	"net"
	"sync"
	"testing"
)

// Output collects an app's log lines; safe for the app to write while the test reads.
type Output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

// String returns everything written so far.
func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// ClosedAddr returns a loopback address nothing listens on (a port that was free a moment
// ago), for a dependency that must be down.
func ClosedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
