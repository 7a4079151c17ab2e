package ports

import (
	"context"

	"github.com/keygate/keygate/core/audit"
)

// AuditLog is an append-only record of security events. Safe for concurrent use.
type AuditLog interface {
	// Append stores e and assigns it an increasing ID (e.ID is ignored).
	Append(ctx context.Context, e audit.Event) error
	// ByUser returns up to limit of the user's events (as subject or actor), newest first.
	ByUser(ctx context.Context, userID string, limit int) ([]audit.Event, error)
}
