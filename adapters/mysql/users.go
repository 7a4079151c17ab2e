package mysql

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/keygate/keygate/core/identity"
	"github.com/keygate/keygate/ports"
)

// UserRepo is ports.UserRepo on the users and oauth_links tables.
type UserRepo struct {
	db *sql.DB
	st *stmts
}

var _ ports.UserRepo = (*UserRepo)(nil)

// NewUserRepo returns a UserRepo on db (opened by Open, migrated by Migrate).
func NewUserRepo(db *sql.DB) *UserRepo { return &UserRepo{db: db, st: newStmts(db)} }

const userColumns = `id, email, name, password_hash, roles, disabled, created_at, updated_at, email_verified,
	password_reset_required`

// rowScanner is a *sql.Row or *sql.Rows.
type rowScanner interface{ Scan(dest ...any) error }

func scanUser(r rowScanner) (identity.User, error) {
	var (
		u                identity.User
		roles            []byte
		created, updated sql.NullTime
	)
	if err := r.Scan(&u.ID, &u.Email, &u.Name, &u.PasswordHash, &roles, &u.Disabled, &created, &updated,
		&u.EmailVerified, &u.PasswordResetRequired); err != nil {
		return identity.User{}, err
	}
	if err := json.Unmarshal(roles, &u.Roles); err != nil {
		return identity.User{}, fmt.Errorf("roles of user %q: %w", u.ID, err)
	}
	if len(u.Roles) == 0 {
		u.Roles = nil
	}
	u.CreatedAt, u.UpdatedAt = fromNull(created), fromNull(updated)
	return u, nil
}

// rolesArg encodes roles as a JSON array ("[]" for none).
func rolesArg(roles []string) (string, error) {
	if roles == nil {
		roles = []string{}
	}
	b, err := json.Marshal(roles)
	return string(b), err
}

// Create implements ports.UserRepo.
func (r *UserRepo) Create(ctx context.Context, u identity.User) error {
	roles, err := rolesArg(u.Roles)
	if err != nil {
		return fmt.Errorf("mysql: create user: %w", err)
	}
	_, err = r.st.exec(ctx, `INSERT INTO users (`+userColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		[]byte(u.ID), []byte(u.Email), u.Name, []byte(u.PasswordHash), roles, u.Disabled,
		timeArg(u.CreatedAt), timeArg(u.UpdatedAt), u.EmailVerified, u.PasswordResetRequired)
	return wrap("create user", err)
}

// ByID implements ports.UserRepo.
func (r *UserRepo) ByID(ctx context.Context, id string) (identity.User, error) {
	u, err := scanUser(r.st.queryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, []byte(id)))
	return u, wrap("user by id", err)
}

// ByEmail implements ports.UserRepo. The comparison is byte for byte (a VARBINARY column).
func (r *UserRepo) ByEmail(ctx context.Context, email string) (identity.User, error) {
	u, err := scanUser(r.st.queryRow(ctx, `SELECT `+userColumns+` FROM users WHERE email = ?`, []byte(email)))
	return u, wrap("user by email", err)
}

// Update implements ports.UserRepo: it locks the row (SELECT ... FOR UPDATE) in a transaction,
// applies fn and writes the result; changes fn makes to ID and CreatedAt are ignored.
func (r *UserRepo) Update(ctx context.Context, id string, fn func(*identity.User) error) (identity.User, error) {
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return identity.User{}, wrap("update user", err)
	}
	defer rollback(tx)
	old, err := scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = ? FOR UPDATE`, []byte(id)))
	if err != nil {
		return identity.User{}, wrap("update user", err)
	}
	u := old
	u.Roles = append([]string(nil), old.Roles...)
	if err := fn(&u); err != nil {
		return identity.User{}, err
	}
	u.ID, u.CreatedAt = old.ID, old.CreatedAt
	roles, err := rolesArg(u.Roles)
	if err != nil {
		return identity.User{}, fmt.Errorf("mysql: update user: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE users SET email = ?, name = ?, password_hash = ?, roles = ?,
		disabled = ?, updated_at = ?, email_verified = ?, password_reset_required = ? WHERE id = ?`,
		[]byte(u.Email), u.Name, []byte(u.PasswordHash), roles, u.Disabled, timeArg(u.UpdatedAt),
		u.EmailVerified, u.PasswordResetRequired, []byte(id)); err != nil {
		return identity.User{}, wrap("update user", err)
	}
	if err := tx.Commit(); err != nil {
		return identity.User{}, wrap("update user: commit", err)
	}
	u.UpdatedAt = norm(u.UpdatedAt)
	if len(u.Roles) == 0 {
		u.Roles = nil
	}
	return u, nil
}

// List implements ports.UserRepo.
func (r *UserRepo) List(ctx context.Context, after string, limit int) ([]identity.User, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := r.st.query(ctx, `SELECT `+userColumns+` FROM users WHERE id > ? ORDER BY id LIMIT ?`,
		[]byte(after), limit)
	if err != nil {
		return nil, wrap("list users", err)
	}
	defer rows.Close()
	var out []identity.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, wrap("list users", err)
		}
		out = append(out, u)
	}
	return out, wrap("list users", rows.Err())
}

// CountRole implements ports.UserRepo.
func (r *UserRepo) CountRole(ctx context.Context, role string) (int, error) {
	var n int
	err := r.st.queryRow(ctx, `SELECT COUNT(*) FROM users WHERE NOT disabled AND JSON_CONTAINS(roles, JSON_QUOTE(?))`, role).Scan(&n)
	return n, wrap("count role", err)
}

// Link implements ports.UserRepo.
func (r *UserRepo) Link(ctx context.Context, l identity.Link) error {
	_, err := r.st.exec(ctx, `INSERT INTO oauth_links (provider, subject, user_id, created_at) VALUES (?, ?, ?, ?)`,
		[]byte(l.Provider), []byte(l.Subject), []byte(l.UserID), timeArg(l.CreatedAt))
	if c := code(err); c == erNoReferencedRow || c == erNoReferencedRow2 {
		return fmt.Errorf("mysql: link: user %q: %w", l.UserID, ports.ErrNotFound)
	}
	return wrap("link", err)
}

// ByLink implements ports.UserRepo.
func (r *UserRepo) ByLink(ctx context.Context, provider, subject string) (identity.User, error) {
	u, err := scanUser(r.st.queryRow(ctx, `SELECT u.id, u.email, u.name, u.password_hash, u.roles,
		u.disabled, u.created_at, u.updated_at, u.email_verified, u.password_reset_required FROM oauth_links l JOIN users u ON u.id = l.user_id
		WHERE l.provider = ? AND l.subject = ?`, []byte(provider), []byte(subject)))
	return u, wrap("user by link", err)
}
