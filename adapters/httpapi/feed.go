package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/keygate/keygate/core/remote"
	"github.com/keygate/keygate/core/revocation"
)

// Relay is what the revocation feed endpoint streams from; *remote.Relay implements it.
type Relay interface {
	Follow(ctx context.Context, resume uint64, hasResume bool, send func(remote.Message) error) error
}

var _ Relay = (*remote.Relay)(nil)

// feedRetry is the reconnection delay the stream asks EventSource clients to use.
const feedRetry = time.Second

// feedWriteTimeout bounds each write of the stream: a client that stops reading is dropped.
const feedWriteTimeout = 10 * time.Second

// Wire forms of the stream's data (docs/revocation-feed.md).
type (
	entryJSON struct {
		Kind        string     `json:"kind"`
		Key         string     `json:"key"`
		NotBefore   *time.Time `json:"not_before,omitempty"`
		ExpiresAt   time.Time  `json:"expires_at"`
		PublishedAt *time.Time `json:"published_at,omitempty"`
		Seq         uint64     `json:"seq,omitempty"`
	}
	snapshotJSON struct {
		Seq     uint64      `json:"seq"`
		Entries []entryJSON `json:"entries"`
	}
	seqJSON struct {
		Seq uint64     `json:"seq"`
		At  *time.Time `json:"at,omitempty"`
	}
	keysJSON struct {
		JWKSETag    string     `json:"jwks_etag"`
		Withdrawn   string     `json:"withdrawn,omitempty"`
		PublishedAt *time.Time `json:"published_at,omitempty"`
	}
)

func toEntryJSON(e revocation.Entry) entryJSON {
	j := entryJSON{Kind: string(e.Kind), Key: e.Key, ExpiresAt: e.ExpiresAt.UTC()}
	if !e.NotBefore.IsZero() {
		nb := e.NotBefore.UTC()
		j.NotBefore = &nb
	}
	return j
}

func utcPtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// revocationFeed serves GET /revocations/feed: the relay's stream as Server-Sent Events, to
// verifiers presenting a verifier credential. Last-Event-ID (a sequence number) resumes.
func (rt *router) revocationFeed(w http.ResponseWriter, r *http.Request) {
	if _, ok := rt.verifier(w, r); !ok {
		return
	}
	resume, hasResume := uint64(0), false
	if id := strings.TrimSpace(r.Header.Get("Last-Event-ID")); id != "" {
		if n, err := strconv.ParseUint(id, 10, 64); err == nil {
			resume, hasResume = n, true
		}
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{}) // the server's ReadTimeout would end the stream
	bw := bufio.NewWriterSize(w, 16<<10)
	started := false
	send := func(m remote.Message) error {
		if !started {
			started = true
			h := w.Header()
			h.Set("Content-Type", "text/event-stream")
			h.Set("Cache-Control", "no-store")
			h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
			w.WriteHeader(http.StatusOK)
			bw.WriteString("retry: " + strconv.Itoa(int(feedRetry/time.Millisecond)) + "\n\n")
		}
		writeEvent(bw, m)
		_ = rc.SetWriteDeadline(time.Now().Add(feedWriteTimeout))
		if err := bw.Flush(); err != nil {
			return err
		}
		return rc.Flush()
	}
	err := rt.cfg.Relay.Follow(r.Context(), resume, hasResume, send)
	if !started && err != nil && r.Context().Err() == nil {
		rt.fail(w, r, err) // never started: not ready (503) or a failure before the first byte
	}
}

// writeEvent writes one SSE message: event name, id for sequenced ones, one line of JSON.
func writeEvent(bw *bufio.Writer, m remote.Message) {
	var data any
	id := ""
	switch m.Kind {
	case remote.MsgKeepAlive:
		bw.WriteString(": keep-alive\n\n")
		return
	case remote.MsgSnapshot:
		es := make([]entryJSON, 0, len(m.Entries))
		for _, e := range m.Entries {
			es = append(es, toEntryJSON(e))
		}
		data, id = snapshotJSON{Seq: m.Seq, Entries: es}, strconv.FormatUint(m.Seq, 10)
	case remote.MsgResumed:
		data, id = seqJSON{Seq: m.Seq}, strconv.FormatUint(m.Seq, 10)
	case remote.MsgRevoked:
		e := toEntryJSON(m.Entry)
		e.Seq, e.PublishedAt = m.Seq, utcPtr(m.PublishedAt)
		data, id = e, strconv.FormatUint(m.Seq, 10)
	case remote.MsgHeartbeat:
		data = seqJSON{Seq: m.Seq, At: utcPtr(m.At)}
	case remote.MsgKeys:
		data = keysJSON{JWKSETag: m.KeysVersion, Withdrawn: m.Withdrawn, PublishedAt: utcPtr(m.PublishedAt)}
	default:
		return
	}
	b, _ := json.Marshal(data) // plain structs always marshal
	bw.WriteString("event: " + string(m.Kind) + "\n")
	if id != "" {
		bw.WriteString("id: " + id + "\n")
	}
	bw.WriteString("data: ")
	bw.Write(b)
	bw.WriteString("\n\n")
}
