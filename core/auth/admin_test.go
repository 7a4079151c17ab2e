package auth

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/keygate/keygate/core/audit"
	"github.com/keygate/keygate/core/identity"
	"github.com/keygate/keygate/core/revocation"
	"github.com/keygate/keygate/core/token"
	"github.com/keygate/keygate/ports"
	"github.com/keygate/keygate/ports/portstest"
)

// adminEnv has an admin (bootstrapped), alice (logged in) and bob.
type adminEnv struct {
	*env
	admin, alice, bob identity.User
	adminClaims       token.Claims
	alicePair         TokenPair
}

func newAdminEnv(t *testing.T) *adminEnv {
	t.Helper()
	e := &adminEnv{env: newEnv(t)}
	if err := e.svc.BootstrapAdmin(t.Context(), "root@example.org", testPassword); err != nil {
		t.Fatal(err)
	}
	e.admin, _ = e.users.ByEmail(t.Context(), "root@example.org")
	e.alice = e.register(t, "alice@example.org")
	e.bob = e.register(t, "bob@example.org")
	e.adminClaims = e.claims(t, e.login(t, "root@example.org").AccessToken)
	e.alicePair = e.login(t, "alice@example.org")
	return e
}

func TestAdminRequiresTheAdminRole(t *testing.T) {
	e := newAdminEnv(t)
	alice := e.claims(t, e.alicePair.AccessToken)
	calls := map[string]func(p token.Claims) error{
		"ListUsers":   func(p token.Claims) error { _, err := e.svc.ListUsers(t.Context(), p, "", 10); return err },
		"DisableUser": func(p token.Claims) error { return e.svc.DisableUser(t.Context(), p, e.bob.ID, client) },
		"RevokeUser":  func(p token.Claims) error { return e.svc.RevokeUser(t.Context(), p, e.bob.ID, client) },
		"AuditOf":     func(p token.Claims) error { _, err := e.svc.AuditOf(t.Context(), p, e.bob.ID, 10); return err },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			if err := call(alice); !errors.Is(err, ErrForbidden) {
				t.Errorf("as a user: %v, want ErrForbidden", err)
			}
		})
	}
	if got, _ := e.users.ByID(t.Context(), e.bob.ID); got.Disabled {
		t.Error("a user disabled bob")
	}
}

func TestListUsers(t *testing.T) {
	e := newAdminEnv(t)
	all, err := e.svc.ListUsers(t.Context(), e.adminClaims, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 {
		t.Fatalf("ListUsers = %d users, want 3", len(all))
	}
	page, err := e.svc.ListUsers(t.Context(), e.adminClaims, all[0].ID, 1)
	if err != nil || len(page) != 1 || page[0].ID != all[1].ID {
		t.Errorf("second page = %v, %v", page, err)
	}
	down := e.service(t, func(d *Deps) { d.Users = portstest.UnavailableUserRepo{} })
	if _, err := down.ListUsers(t.Context(), e.adminClaims, "", 10); !errors.Is(err, ports.ErrUnavailable) {
		t.Errorf("repo down: %v", err)
	}
}

func TestDisableAndRevokeUser(t *testing.T) {
	tests := []struct {
		name         string
		do           func(t *testing.T, s *Service, e *adminEnv, userID string) error
		wantDisabled bool
		wantAction   audit.Action
	}{
		{"disable", func(t *testing.T, s *Service, e *adminEnv, id string) error {
			return s.DisableUser(t.Context(), e.adminClaims, id, client)
		}, true, audit.ActionUserDisabled},
		{"revoke", func(t *testing.T, s *Service, e *adminEnv, id string) error {
			return s.RevokeUser(t.Context(), e.adminClaims, id, client)
		}, false, audit.ActionUserRevoked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newAdminEnv(t)
			if err := tt.do(t, e.svc, e, "nobody"); !errors.Is(err, ports.ErrNotFound) {
				t.Errorf("unknown user: %v", err)
			}
			if err := tt.do(t, e.svc, e, e.alice.ID); err != nil {
				t.Fatal(err)
			}
			e.clock.Advance(time.Millisecond) // the wait for the next whole second
			if _, err := e.verify(t, e.alicePair.AccessToken); !errors.Is(err, token.ErrRevoked) {
				t.Errorf("alice's access token: %v", err)
			}
			if _, err := e.svc.Refresh(t.Context(), e.alicePair.RefreshToken, client); !errors.Is(err, ErrInvalidGrant) {
				t.Errorf("alice's refresh token: %v", err)
			}
			_, err := e.svc.Login(t.Context(), "alice@example.org", testPassword, client)
			if gotDisabled := errors.Is(err, ErrInvalidCredentials); gotDisabled != tt.wantDisabled {
				t.Errorf("login after %s: %v", tt.name, err)
			}
			entries := e.snapshot(t)
			if len(entries) != 1 || entries[0].Kind != revocation.KindSubject || entries[0].Key != e.alice.ID {
				t.Errorf("store = %v", entries)
			}
			evs, err := e.svc.AuditOf(t.Context(), e.adminClaims, e.alice.ID, 10)
			if err != nil {
				t.Fatal(err)
			}
			i := slices.IndexFunc(evs, func(ev audit.Event) bool { return ev.Action == tt.wantAction })
			if i < 0 || evs[i].ActorID != e.admin.ID || evs[i].UserID != e.alice.ID {
				t.Errorf("no %s event by the admin about alice in %+v", tt.wantAction, evs)
			}
		})
	}
}

func TestBootstrapAdmin(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(t *testing.T, e *env)
		wantRoles []string
		wantPW    string // the password that logs in afterwards
		wantErr   error
	}{
		{"creates the admin", nil, []string{identity.RoleAdmin}, "the admin password", nil},
		{"promotes an existing user who holds the password", func(t *testing.T, e *env) {
			if _, err := e.svc.Register(t.Context(), "root@example.org", "the admin password", "", client); err != nil {
				t.Fatal(err)
			}
		}, []string{identity.RoleAdmin}, "the admin password", nil},
		// Anyone may register any address: whoever took root@ first must not become admin.
		{"does not promote an account registered with another password", func(t *testing.T, e *env) {
			e.register(t, "root@example.org")
		}, nil, "", ErrForbidden},
		{"is idempotent", func(t *testing.T, e *env) {
			if err := e.svc.BootstrapAdmin(t.Context(), "root@example.org", "the admin password"); err != nil {
				t.Fatal(err)
			}
		}, []string{identity.RoleAdmin}, "the admin password", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			if tt.setup != nil {
				tt.setup(t, e)
			}
			if err := e.svc.BootstrapAdmin(t.Context(), "Root@Example.org", "the admin password"); !errors.Is(err, tt.wantErr) {
				t.Fatalf("BootstrapAdmin: %v, want %v", err, tt.wantErr)
			}
			u, err := e.users.ByEmail(t.Context(), "root@example.org")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantRoles, u.Roles, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("roles (-want +got):\n%s", diff)
			}
			if tt.wantErr != nil {
				return
			}
			tp, err := e.svc.Login(t.Context(), "root@example.org", tt.wantPW, client)
			if err != nil {
				t.Fatalf("login: %v", err)
			}
			if c := e.claims(t, tp.AccessToken); !slices.Equal(c.Roles, []string{identity.RoleAdmin}) {
				t.Errorf("token roles = %v", c.Roles)
			}
		})
	}
	e := newEnv(t)
	if err := e.svc.BootstrapAdmin(t.Context(), "root@example.org", "short"); !errors.Is(err, identity.ErrInvalidPassword) {
		t.Errorf("short password: %v", err)
	}
}
