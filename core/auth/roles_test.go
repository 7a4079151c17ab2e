package auth

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/core/audit"
	"github.com/keygate/keygate/core/identity"
	"github.com/keygate/keygate/core/token"
	"github.com/keygate/keygate/ports"
	"github.com/keygate/keygate/ports/portstest"
)

func TestRoleAdminRequiresTheAdminRole(t *testing.T) {
	e := newAdminEnv(t)
	alice := e.claims(t, e.alicePair.AccessToken)
	for name, call := range map[string]func() error{
		"EnableUser": func() error { return e.svc.EnableUser(t.Context(), alice, e.bob.ID, client) },
		"GrantRole":  func() error { return e.svc.GrantRole(t.Context(), alice, alice.Subject, identity.RoleAdmin, client) },
		"RevokeRole": func() error { return e.svc.RevokeRole(t.Context(), alice, e.admin.ID, identity.RoleAdmin, client) },
	} {
		if err := call(); !errors.Is(err, ErrForbidden) {
			t.Errorf("%s as a user: %v, want ErrForbidden", name, err)
		}
	}
	if u, _ := e.users.ByID(t.Context(), e.alice.ID); u.HasRole(identity.RoleAdmin) {
		t.Error("alice made herself admin")
	}
}

func TestEnableUser(t *testing.T) {
	e := newAdminEnv(t)
	if err := e.svc.DisableUser(t.Context(), e.adminClaims, e.alice.ID, client); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Millisecond) // the wait to the not-before
	if err := e.svc.EnableUser(t.Context(), e.adminClaims, "nobody", client); !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("unknown user: %v", err)
	}
	if err := e.svc.EnableUser(t.Context(), e.adminClaims, e.alice.ID, client); err != nil {
		t.Fatal(err)
	}
	// The tokens revoked by the disable stay revoked; a new login works.
	if _, err := e.verify(t, e.alicePair.AccessToken); !errors.Is(err, token.ErrRevoked) {
		t.Errorf("token from before the disable: %v", err)
	}
	if _, err := e.svc.Refresh(t.Context(), e.alicePair.RefreshToken, client); !errors.Is(err, ErrInvalidGrant) {
		t.Errorf("refresh token from before the disable: %v", err)
	}
	e.claims(t, e.login(t, "alice@example.org").AccessToken)
	if err := e.svc.EnableUser(t.Context(), e.adminClaims, e.alice.ID, client); err != nil {
		t.Errorf("enabling an enabled user: %v", err)
	}
	acts := e.auditActions(t, e.alice.ID)
	n := 0
	for _, a := range acts {
		if a == audit.ActionUserEnabled {
			n++
		}
	}
	if n != 1 {
		t.Errorf("audit %v: %d user_enabled events, want 1", acts, n)
	}
}

func TestGrantAndRevokeRole(t *testing.T) {
	e := newAdminEnv(t)
	// Grant: the current token is untouched; the next refresh carries the role.
	if err := e.svc.GrantRole(t.Context(), e.adminClaims, e.alice.ID, identity.RoleAdmin, client); err != nil {
		t.Fatal(err)
	}
	if c := e.claims(t, e.alicePair.AccessToken); c.HasRole(identity.RoleAdmin) {
		t.Fatal("the old token grew a role")
	}
	granted := e.refresh(t, e.alicePair.RefreshToken)
	ac := e.claims(t, granted.AccessToken)
	if !ac.HasRole(identity.RoleAdmin) {
		t.Fatalf("refreshed token roles = %v, want admin", ac.Roles)
	}
	if _, err := e.svc.ListUsers(t.Context(), ac, "", 10); err != nil {
		t.Fatalf("alice as admin: %v", err)
	}
	if err := e.svc.GrantRole(t.Context(), e.adminClaims, e.alice.ID, identity.RoleAdmin, client); err != nil {
		t.Errorf("granting a held role: %v", err)
	}

	// Revoke: the token carrying the role is refused at once; the session stays, and its
	// refresh gives a token without the role.
	if err := e.svc.RevokeRole(t.Context(), e.adminClaims, e.alice.ID, identity.RoleAdmin, client); err != nil {
		t.Fatal(err)
	}
	if _, err := e.verify(t, granted.AccessToken); !errors.Is(err, token.ErrRevoked) {
		t.Errorf("token carrying the revoked role: %v, want ErrRevoked", err)
	}
	e.clock.Advance(time.Millisecond) // the wait to the not-before
	after := e.refresh(t, granted.RefreshToken)
	c := e.claims(t, after.AccessToken)
	if c.HasRole(identity.RoleAdmin) {
		t.Errorf("token after the revocation still has roles %v", c.Roles)
	}
	if _, err := e.svc.ListUsers(t.Context(), c, "", 10); !errors.Is(err, ErrForbidden) {
		t.Errorf("alice after losing admin: %v, want ErrForbidden", err)
	}
	if c := e.claims(t, e.login(t, "alice@example.org").AccessToken); c.HasRole(identity.RoleAdmin) {
		t.Errorf("a new login's roles %v", c.Roles)
	}
	evs, err := e.svc.AuditOf(t.Context(), e.adminClaims, e.alice.ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []audit.Action{audit.ActionRoleGranted, audit.ActionRoleRevoked} {
		i := slices.IndexFunc(evs, func(ev audit.Event) bool { return ev.Action == want })
		if i < 0 || evs[i].ActorID != e.admin.ID || !strings.HasPrefix(evs[i].Detail, identity.RoleAdmin) {
			t.Errorf("no %s event by the admin naming the role in %+v", want, evs)
		}
	}
}

func TestRoleNamesAreChecked(t *testing.T) {
	e := newAdminEnv(t)
	for _, role := range []string{"", "Admin", "ADMIN", "admin ", " admin", "1admin", "-admin", "adm\u0131n",
		"admin\u200b", "a/b", "a\x00", strings.Repeat("a", 65)} {
		if err := e.svc.GrantRole(t.Context(), e.adminClaims, e.alice.ID, role, client); !errors.Is(err, identity.ErrInvalidRole) {
			t.Errorf("GrantRole(%q): %v, want ErrInvalidRole", role, err)
		}
		if err := e.svc.RevokeRole(t.Context(), e.adminClaims, e.alice.ID, role, client); !errors.Is(err, identity.ErrInvalidRole) {
			t.Errorf("RevokeRole(%q): %v, want ErrInvalidRole", role, err)
		}
	}
	for _, role := range []string{"admin", "auditor", "orders:write", "team.ops", "a_b-c", strings.Repeat("a", 64)} {
		if err := e.svc.GrantRole(t.Context(), e.adminClaims, e.alice.ID, role, client); err != nil {
			t.Errorf("GrantRole(%q): %v", role, err)
		}
	}
	if err := e.svc.GrantRole(t.Context(), e.adminClaims, "nobody", "auditor", client); !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("unknown user: %v", err)
	}
	if err := e.svc.RevokeRole(t.Context(), e.adminClaims, "nobody", "auditor", client); !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("unknown user: %v", err)
	}
}

// The only enabled admin can neither be disabled nor lose the admin role, by anyone (itself
// included); once another admin exists, either can.
func TestTheLastAdminStays(t *testing.T) {
	e := newAdminEnv(t)
	root := e.admin.ID
	if err := e.svc.RevokeRole(t.Context(), e.adminClaims, root, identity.RoleAdmin, client); !errors.Is(err, ErrLastAdmin) {
		t.Fatalf("revoking admin from the only admin: %v, want ErrLastAdmin", err)
	}
	if err := e.svc.DisableUser(t.Context(), e.adminClaims, root, client); !errors.Is(err, ErrLastAdmin) {
		t.Fatalf("disabling the only admin: %v, want ErrLastAdmin", err)
	}
	if u, _ := e.users.ByID(t.Context(), root); u.Disabled || !u.HasRole(identity.RoleAdmin) {
		t.Fatalf("the only admin after refused demotions: disabled %v, roles %v", u.Disabled, u.Roles)
	}
	e.claims(t, e.login(t, "root@example.org").AccessToken) // nothing was revoked either

	// Other roles and other users are not held back.
	if err := e.svc.RevokeRole(t.Context(), e.adminClaims, root, "billing", client); err != nil {
		t.Errorf("revoking a role the admin does not hold: %v", err)
	}
	if err := e.svc.DisableUser(t.Context(), e.adminClaims, e.bob.ID, client); err != nil {
		t.Errorf("disabling a user who is not an admin: %v", err)
	}

	// A second admin: now either may go, and then the other is the last again.
	if err := e.svc.GrantRole(t.Context(), e.adminClaims, e.alice.ID, identity.RoleAdmin, client); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.RevokeRole(t.Context(), e.adminClaims, root, identity.RoleAdmin, client); err != nil {
		t.Fatalf("revoking admin from one of two admins: %v", err)
	}
	aliceAdmin := e.claims(t, e.login(t, "alice@example.org").AccessToken)
	if err := e.svc.DisableUser(t.Context(), aliceAdmin, e.alice.ID, client); !errors.Is(err, ErrLastAdmin) {
		t.Errorf("disabling the admin who is the last again: %v, want ErrLastAdmin", err)
	}

	// Counting needs the user store: down, the demotion is unavailable, not allowed.
	down := e.service(t, func(d *Deps) { d.Users = portstest.UnavailableUserRepo{} })
	if err := down.RevokeRole(t.Context(), aliceAdmin, e.alice.ID, identity.RoleAdmin, client); !errors.Is(err, ports.ErrUnavailable) {
		t.Errorf("revoking admin with the user store down: %v, want ErrUnavailable", err)
	}
}
