package mysql

import (
	"context"
	"database/sql"

	"github.com/keygate/keygate/core/audit"
	"github.com/keygate/keygate/ports"
)

// AuditLog is ports.AuditLog on the append-only audit_events table: the adapter only ever
// inserts and selects. For defence in depth, grant keygate's database user only INSERT and
// SELECT on it.
type AuditLog struct {
	db *sql.DB
	st *stmts
}

var _ ports.AuditLog = (*AuditLog)(nil)

// NewAuditLog returns an AuditLog on db (opened by Open, migrated by Migrate).
func NewAuditLog(db *sql.DB) *AuditLog { return &AuditLog{db: db, st: newStmts(db)} }

// Append implements ports.AuditLog; the id comes from AUTO_INCREMENT.
func (a *AuditLog) Append(ctx context.Context, e audit.Event) error {
	_, err := a.st.exec(ctx, `INSERT INTO audit_events (at, action, user_id, actor_id, remote_ip, detail)
		VALUES (?, ?, ?, ?, ?, ?)`,
		timeArg(e.At), string(e.Action), []byte(e.UserID), []byte(e.ActorID), e.RemoteIP, e.Detail)
	return wrap("append audit event", err)
}

// ByUser implements ports.AuditLog: the union of the user's events as subject and as actor,
// each side read newest first through its own index.
func (a *AuditLog) ByUser(ctx context.Context, userID string, limit int) ([]audit.Event, error) {
	if limit <= 0 {
		return nil, nil
	}
	const cols = `id, at, action, user_id, actor_id, remote_ip, detail`
	rows, err := a.st.query(ctx, `
		(SELECT `+cols+` FROM audit_events WHERE user_id = ? ORDER BY id DESC LIMIT ?)
		UNION
		(SELECT `+cols+` FROM audit_events WHERE actor_id = ? ORDER BY id DESC LIMIT ?)
		ORDER BY id DESC LIMIT ?`,
		[]byte(userID), limit, []byte(userID), limit, limit)
	if err != nil {
		return nil, wrap("audit by user", err)
	}
	defer rows.Close()
	var out []audit.Event
	for rows.Next() {
		var (
			e      audit.Event
			at     sql.NullTime
			action string
		)
		if err := rows.Scan(&e.ID, &at, &action, &e.UserID, &e.ActorID, &e.RemoteIP, &e.Detail); err != nil {
			return nil, wrap("audit by user", err)
		}
		e.At, e.Action = fromNull(at), audit.Action(action)
		out = append(out, e)
	}
	return out, wrap("audit by user", rows.Err())
}
