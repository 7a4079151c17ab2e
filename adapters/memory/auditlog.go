package memory

import (
	"context"
	"sync"

	"github.com/keygate/keygate/core/audit"
	"github.com/keygate/keygate/ports"
)

// AuditLog is a ports.AuditLog in memory: an append-only slice. Safe for concurrent use.
type AuditLog struct {
	mu     sync.Mutex
	events []audit.Event
}

var _ ports.AuditLog = (*AuditLog)(nil)

// NewAuditLog returns an empty log.
func NewAuditLog() *AuditLog { return &AuditLog{} }

// Append stores e with the next id (1, 2, 3...).
func (l *AuditLog) Append(ctx context.Context, e audit.Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	e.ID = int64(len(l.events) + 1)
	l.events = append(l.events, e)
	return nil
}

// ByUser returns up to limit of the user's events (as subject or actor), newest first.
func (l *AuditLog) ByUser(ctx context.Context, userID string, limit int) ([]audit.Event, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []audit.Event
	if userID == "" {
		return out, nil
	}
	for i := len(l.events) - 1; i >= 0 && len(out) < limit; i-- {
		if e := l.events[i]; e.UserID == userID || e.ActorID == userID {
			out = append(out, e)
		}
	}
	return out, nil
}
