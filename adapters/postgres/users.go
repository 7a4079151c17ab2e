package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/keygate/keygate/core/identity"
	"github.com/keygate/keygate/ports"
)

// UserRepo is ports.UserRepo on the users and oauth_links tables.
type UserRepo struct {
	pool *pgxpool.Pool
}

var _ ports.UserRepo = (*UserRepo)(nil)

// NewUserRepo returns a UserRepo on pool (opened by Open, migrated by Migrate).
func NewUserRepo(pool *pgxpool.Pool) *UserRepo { return &UserRepo{pool: pool} }

const userColumns = `id, email, name, password_hash, roles, disabled, created_at, updated_at, email_verified,
	password_reset_required`

func scanUser(r pgx.Row) (identity.User, error) {
	var (
		u                identity.User
		created, updated *time.Time
	)
	if err := r.Scan(&u.ID, &u.Email, &u.Name, &u.PasswordHash, &u.Roles, &u.Disabled, &created, &updated,
		&u.EmailVerified, &u.PasswordResetRequired); err != nil {
		return identity.User{}, err
	}
	if len(u.Roles) == 0 {
		u.Roles = nil
	}
	u.CreatedAt, u.UpdatedAt = fromNull(created), fromNull(updated)
	return u, nil
}

// rolesArg returns roles for a NOT NULL text[] column.
func rolesArg(roles []string) []string {
	if roles == nil {
		return []string{}
	}
	return roles
}

// Create implements ports.UserRepo.
func (r *UserRepo) Create(ctx context.Context, u identity.User) error {
	_, err := r.pool.Exec(ctx, `INSERT INTO users (`+userColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		u.ID, u.Email, u.Name, u.PasswordHash, rolesArg(u.Roles), u.Disabled, timeArg(u.CreatedAt), timeArg(u.UpdatedAt),
		u.EmailVerified, u.PasswordResetRequired)
	return wrap("create user", err)
}

// ByID implements ports.UserRepo.
func (r *UserRepo) ByID(ctx context.Context, id string) (identity.User, error) {
	if !storable(id) {
		return identity.User{}, fmt.Errorf("postgres: user by id: %w", ports.ErrNotFound)
	}
	u, err := scanUser(r.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	return u, wrap("user by id", err)
}

// ByEmail implements ports.UserRepo. The comparison is byte for byte (collation "C").
func (r *UserRepo) ByEmail(ctx context.Context, email string) (identity.User, error) {
	if !storable(email) {
		return identity.User{}, fmt.Errorf("postgres: user by email: %w", ports.ErrNotFound)
	}
	u, err := scanUser(r.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE email = $1`, email))
	return u, wrap("user by email", err)
}

// Update implements ports.UserRepo: it locks the row (SELECT ... FOR UPDATE) in a transaction,
// applies fn and writes the result; changes fn makes to ID and CreatedAt are ignored.
func (r *UserRepo) Update(ctx context.Context, id string, fn func(*identity.User) error) (identity.User, error) {
	if !storable(id) {
		return identity.User{}, fmt.Errorf("postgres: update user: %w", ports.ErrNotFound)
	}
	tx, err := r.pool.Begin(ctx)
	if err != nil {
		return identity.User{}, wrap("update user", err)
	}
	defer rollback(ctx, tx)
	old, err := scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1 FOR UPDATE`, id))
	if err != nil {
		return identity.User{}, wrap("update user", err)
	}
	u := old
	u.Roles = append([]string(nil), old.Roles...)
	if err := fn(&u); err != nil {
		return identity.User{}, err
	}
	u.ID, u.CreatedAt = old.ID, old.CreatedAt
	if _, err := tx.Exec(ctx, `UPDATE users SET email = $1, name = $2, password_hash = $3, roles = $4,
		disabled = $5, updated_at = $6, email_verified = $7, password_reset_required = $8 WHERE id = $9`,
		u.Email, u.Name, u.PasswordHash, rolesArg(u.Roles), u.Disabled, timeArg(u.UpdatedAt),
		u.EmailVerified, u.PasswordResetRequired, id); err != nil {
		return identity.User{}, wrap("update user", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return identity.User{}, wrap("update user: commit", err)
	}
	u.UpdatedAt = norm(u.UpdatedAt)
	if len(u.Roles) == 0 {
		u.Roles = nil
	}
	return u, nil
}

// rollback ends tx after a failure (a no-op after Commit); its error adds nothing.
func rollback(ctx context.Context, tx pgx.Tx) { _ = tx.Rollback(context.WithoutCancel(ctx)) }

// List implements ports.UserRepo.
func (r *UserRepo) List(ctx context.Context, after string, limit int) ([]identity.User, error) {
	if limit <= 0 {
		return nil, nil
	}
	if i := strings.IndexByte(after, 0); i >= 0 {
		after = after[:i] // the ids greater than "a\x00..." are those greater than "a"
	}
	rows, err := r.pool.Query(ctx, `SELECT `+userColumns+` FROM users WHERE id > $1 ORDER BY id LIMIT $2`, after, limit)
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
	if strings.IndexByte(role, 0) >= 0 || !utf8.ValidString(role) {
		return 0, nil // text holds neither: no stored role is this
	}
	var n int
	err := r.pool.QueryRow(ctx, `SELECT count(*) FROM users WHERE NOT disabled AND $1 = ANY(roles)`, role).Scan(&n)
	return n, wrap("count role", err)
}

// Link implements ports.UserRepo.
func (r *UserRepo) Link(ctx context.Context, l identity.Link) error {
	_, err := r.pool.Exec(ctx, `INSERT INTO oauth_links (provider, subject, user_id, created_at) VALUES ($1, $2, $3, $4)`,
		l.Provider, l.Subject, l.UserID, timeArg(l.CreatedAt))
	if pgCode(err) == codeForeignKeyViolation {
		return fmt.Errorf("postgres: link: user %q: %w", l.UserID, ports.ErrNotFound)
	}
	return wrap("link", err)
}

// ByLink implements ports.UserRepo.
func (r *UserRepo) ByLink(ctx context.Context, provider, subject string) (identity.User, error) {
	if !storable(provider, subject) {
		return identity.User{}, fmt.Errorf("postgres: user by link: %w", ports.ErrNotFound)
	}
	u, err := scanUser(r.pool.QueryRow(ctx, `SELECT u.id, u.email, u.name, u.password_hash, u.roles,
		u.disabled, u.created_at, u.updated_at, u.email_verified, u.password_reset_required FROM oauth_links l JOIN users u ON u.id = l.user_id
		WHERE l.provider = $1 AND l.subject = $2`, provider, subject))
	return u, wrap("user by link", err)
}
