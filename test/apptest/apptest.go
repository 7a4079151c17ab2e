// Package apptest holds what tests need to run keygate's binaries and verifiers: a buffer a running app can
// log into while the test reads it, and a stand-in issuer (Issuer).
package apptest

import (
	"bytes"
	"sync"
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
