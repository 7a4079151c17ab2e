package portstest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/core/identity"
	"github.com/keygate/keygate/ports"
)

// SQLStores are a SQL adapter's UserRepo and AuditLog on one fresh, migrated database, and a
// way to count the rows of users with an exact e-mail address, read with the driver directly.
type SQLStores struct {
	Users      ports.UserRepo
	Audit      ports.AuditLog
	CountEmail func(ctx context.Context, email string) (int, error)
}

// RunInjection sends the L-10 payloads through every lookup of a SQL adapter: nothing matches,
// no row is added, and no error echoes SQL. An over-long address is refused by the table, not
// truncated into a collision.
func RunInjection(t *testing.T, open func(t *testing.T) SQLStores) {
	t.Run("InjectionPayloads", func(t *testing.T) {
		s := open(t)
		victim := identity.User{ID: identity.NewID(), Email: "victim@example.org", CreatedAt: time.Now()}
		if err := s.Users.Create(t.Context(), victim); err != nil {
			t.Fatal(err)
		}
		payloads := []struct{ name, s string }{
			{"or true", "' OR 1=1 -- "},
			{"or true double quote", `" OR "1"="1`},
			{"backslash", `\`},
			{"backslash quote", `\' OR 1=1 #`},
			{"stacked", "x'; DROP TABLE users; --"},
			{"union", "' UNION SELECT * FROM users -- "},
			{"nul", "victim@example.org\x00"},
			{"10 KB", strings.Repeat("a", 10<<10) + "@example.org"},
		}
		for _, p := range payloads {
			t.Run(p.name, func(t *testing.T) {
				if _, err := s.Users.ByEmail(t.Context(), p.s); !errors.Is(err, ports.ErrNotFound) {
					t.Errorf("ByEmail = %v, want ErrNotFound", err)
				}
				if _, err := s.Users.ByID(t.Context(), p.s); !errors.Is(err, ports.ErrNotFound) {
					t.Errorf("ByID = %v, want ErrNotFound", err)
				}
				if _, err := s.Users.ByLink(t.Context(), p.s, p.s); !errors.Is(err, ports.ErrNotFound) {
					t.Errorf("ByLink = %v, want ErrNotFound", err)
				}
				if es, err := s.Audit.ByUser(t.Context(), p.s, 10); err != nil || len(es) != 0 {
					t.Errorf("ByUser = %d events, %v; want none", len(es), err)
				}
				err := s.Users.Create(t.Context(), identity.User{ID: identity.NewID(), Email: p.s, CreatedAt: time.Now()})
				if err != nil && (strings.Contains(err.Error(), "INSERT") || strings.Contains(err.Error(), "SELECT")) {
					t.Errorf("Create error echoes SQL: %v", err)
				}
			})
		}
		if n, err := s.CountEmail(t.Context(), victim.Email); err != nil || n != 1 {
			t.Errorf("victim rows = %d, %v; want 1", n, err)
		}
		long := strings.Repeat("a", 300) + "@example.org"
		if err := s.Users.Create(t.Context(), identity.User{ID: identity.NewID(), Email: long, CreatedAt: time.Now()}); err == nil {
			t.Errorf("Create with a 312-byte e-mail succeeded; the column must refuse it")
		}
	})
}
