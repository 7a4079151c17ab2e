package e2e

import (
	"context"
	"testing"
)

// contextWithCancel returns a context for a stack that outlives the test body until its
// cleanup cancels it (t.Context ends before cleanups run, which would stop the stack before
// the cleanup could wait for it).
func contextWithCancel(t *testing.T) (context.Context, context.CancelFunc) {
	t.Helper()
	return context.WithCancel(context.WithoutCancel(t.Context()))
}
