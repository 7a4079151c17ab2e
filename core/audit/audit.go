// Package audit holds the security-event noun written to the append-only audit log.
// It imports only the standard library.
package audit

import "time"

// Action names a security event. The set is closed: adapters store the string.
type Action string

// Actions recorded in the audit log.
const (
	ActionRegister     Action = "register"
	ActionLoginSuccess Action = "login_success"
	ActionLoginFailure Action = "login_failure"
	// ActionLoginLocked is a login refused unchecked: its client has failed too often for the
	// account, or has failed at all while the account's brake is engaged.
	ActionLoginLocked Action = "login_locked"
	// ActionLoginBrake is the account's brake engaging: failed logins from all clients
	// together reached the per-account threshold.
	ActionLoginBrake    Action = "login_brake"
	ActionLogout        Action = "logout"
	ActionLogoutAll     Action = "logout_all"
	ActionRevoke        Action = "revoke"
	ActionRefreshReuse  Action = "refresh_reuse"
	ActionUserDisabled  Action = "user_disabled"
	ActionUserRevoked   Action = "user_revoked"
	ActionKeyRotated    Action = "key_rotated"
	ActionKeyRetired    Action = "key_retired"
	ActionKeyWithdrawn  Action = "key_withdrawn"
	ActionSessionRevoke Action = "session_revoke"
	// ActionPasswordChanged: the user changed their password (POST /password).
	ActionPasswordChanged Action = "password_changed"
	// ActionPasswordChangeFailure: a password change with a wrong current password.
	ActionPasswordChangeFailure Action = "password_change_failure"
	// ActionUserEnabled: an admin re-enabled a disabled user.
	ActionUserEnabled Action = "user_enabled"
	// ActionRoleGranted and ActionRoleRevoked: an admin changed a user's roles (Detail: the role).
	ActionRoleGranted Action = "role_granted"
	ActionRoleRevoked Action = "role_revoked"

	ActionPasswordResetRequested Action = "password_reset_requested" // a reset link was mailed
	ActionPasswordReset          Action = "password_reset"           // a reset link set a new password
	ActionPasswordResetForced    Action = "password_reset_forced"    // an admin forced a reset
	ActionEmailVerified          Action = "email_verified"
)

// Event is one audit record: who (Actor) did what (Action) to whom (UserID), when, from where.
type Event struct {
	ID       int64 // assigned by the log; increasing
	At       time.Time
	Action   Action
	UserID   string // the user affected; empty when unknown (a login for an unknown e-mail)
	ActorID  string // the user who acted; equals UserID for self-service, an admin's id otherwise
	RemoteIP string
	Detail   string // short free text: a session id, a key id, a reason
}
