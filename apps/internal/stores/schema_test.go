package stores

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

var errBehind = errors.New("schema behind")

// checkAfter returns a schema check that reports errBehind n times, then passes, counting
// its calls.
func checkAfter(n int, calls *int) func(context.Context) error {
	return func(context.Context) error {
		*calls++
		if *calls <= n {
			return errBehind
		}
		return nil
	}
}

func TestWaitSchema(t *testing.T) {
	defer func(p time.Duration) { schemaPoll = p }(schemaPoll)
	schemaPoll = time.Millisecond
	other := errors.New("schema newer")
	tests := []struct {
		name      string
		wait      time.Duration
		check     func(calls *int) func(context.Context) error
		wantErr   error
		wantCalls int
		wantLog   bool
	}{
		{"current schema: one check", time.Minute, func(c *int) func(context.Context) error { return checkAfter(0, c) }, nil, 1, false},
		{"behind without a wait: stops at once", 0, func(c *int) func(context.Context) error { return checkAfter(5, c) }, errBehind, 1, false},
		{"behind until the migration lands", time.Minute, func(c *int) func(context.Context) error { return checkAfter(3, c) }, nil, 4, true},
		{"another error is not waited on", time.Minute, func(c *int) func(context.Context) error {
			return func(context.Context) error { *c++; return other }
		}, other, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs strings.Builder
			calls := 0
			err := waitSchema(t.Context(), tt.wait, slog.New(slog.NewTextHandler(&logs, nil)), tt.check(&calls), errBehind)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Errorf("waitSchema = %v, want %v", err, tt.wantErr)
			}
			if calls != tt.wantCalls {
				t.Errorf("%d checks, want %d", calls, tt.wantCalls)
			}
			if got := strings.Contains(logs.String(), "waiting for the migration"); got != tt.wantLog {
				t.Errorf("logged the wait: %v, want %v:\n%s", got, tt.wantLog, logs.String())
			}
		})
	}
}

func TestWaitSchemaGivesUpAfterTheWaitSayingWhy(t *testing.T) {
	defer func(p time.Duration) { schemaPoll = p }(schemaPoll)
	schemaPoll = time.Millisecond
	calls := 0
	err := waitSchema(t.Context(), 20*time.Millisecond, slog.New(slog.DiscardHandler), checkAfter(1<<30, &calls), errBehind)
	if !errors.Is(err, errBehind) || !strings.Contains(err.Error(), "KEYGATE_SCHEMA_WAIT=20ms") {
		t.Errorf("waitSchema = %v, want the schema error naming KEYGATE_SCHEMA_WAIT=20ms", err)
	}
	if calls < 2 {
		t.Errorf("%d checks in the wait, want it to check again", calls)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := waitSchema(ctx, time.Minute, slog.New(slog.DiscardHandler), checkAfter(1<<30, new(int)), errBehind); !errors.Is(err, errBehind) {
		t.Errorf("waitSchema with the context ended = %v, want the schema error", err)
	}
}
