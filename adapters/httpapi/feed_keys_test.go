package httpapi

import (
	"bufio"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/core/remote"
)

// TestFeedKeysEvent: the feed's keys event names the JWKS ETag of the changed set and the
// withdrawn kid, so a client in any language refuses the kid at once and refetches until it
// is served that document (docs/revocation-feed.md).
func TestFeedKeysEvent(t *testing.T) {
	at := time.Date(2026, 12, 4, 10, 49, 0, 0, time.UTC)
	tests := []struct {
		name string
		m    remote.Message
		want string
	}{
		{"a withdrawal", remote.Message{Kind: remote.MsgKeys, KeysVersion: `"5c0f"`, Withdrawn: "k-leaked", PublishedAt: at},
			"event: keys\ndata: {\"jwks_etag\":\"\\\"5c0f\\\"\",\"withdrawn\":\"k-leaked\",\"published_at\":\"2026-12-04T10:49:00Z\"}\n\n"},
		{"a rotation", remote.Message{Kind: remote.MsgKeys, KeysVersion: `"5c0f"`, PublishedAt: at},
			"event: keys\ndata: {\"jwks_etag\":\"\\\"5c0f\\\"\",\"published_at\":\"2026-12-04T10:49:00Z\"}\n\n"},
		{"from an older publisher", remote.Message{Kind: remote.MsgKeys},
			"event: keys\ndata: {\"jwks_etag\":\"\"}\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			bw := bufio.NewWriter(&b)
			writeEvent(bw, tt.m)
			_ = bw.Flush()
			if got := b.String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
