package main

import (
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/keygate/keygate/core/auth"
)

// rolesOf reads the roles claim of an access token (its signature is the service's business).
func rolesOf(t *testing.T, access string) []string {
	t.Helper()
	parts := strings.Split(access, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", access)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct{ Roles []string }
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c.Roles
}

// TestUsersEnableGrantRevokeRole: the role commands act through the admin use cases: a granted
// role appears in the next refresh's token, a revoked one is gone from it, and re-enabling lets
// a disabled user log in again; each is audited.
func TestUsersEnableGrantRevokeRole(t *testing.T) {
	c, tl := memoryCLI(t, "ops@example.com")
	cl := auth.Client{IP: "192.0.2.1"}
	pair, err := tl.svc.Login(t.Context(), "ops@example.com", "correct horse battery", cl)
	if err != nil {
		t.Fatal(err)
	}
	out := mustCtl(t, c, "users", "grant", "OPS@example.com", "auditor")
	if !strings.Contains(out, "granted role auditor to user") {
		t.Errorf("grant said %q", out)
	}
	if pair, err = tl.svc.Refresh(t.Context(), pair.RefreshToken, cl); err != nil {
		t.Fatal(err)
	}
	if got := rolesOf(t, pair.AccessToken); !slices.Contains(got, "auditor") {
		t.Errorf("roles after grant = %v, want auditor", got)
	}

	var row userRow
	if err := json.Unmarshal([]byte(mustCtl(t, c, "users", "revoke-role", "-json", "ops@example.com", "auditor")), &row); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(row.Roles, "auditor") {
		t.Errorf("revoke-role printed %+v", row)
	}
	if pair, err = tl.svc.Refresh(t.Context(), pair.RefreshToken, cl); err != nil {
		t.Fatalf("the session stays after a role revocation: %v", err)
	}
	if got := rolesOf(t, pair.AccessToken); slices.Contains(got, "auditor") {
		t.Errorf("roles after revoke-role = %v", got)
	}

	mustCtl(t, c, "users", "disable", "ops@example.com")
	if _, err := tl.svc.Login(t.Context(), "ops@example.com", "correct horse battery", cl); err == nil {
		t.Fatal("a disabled user logged in")
	}
	if out := mustCtl(t, c, "users", "enable", "ops@example.com"); !strings.Contains(out, "enabled user") {
		t.Errorf("enable said %q", out)
	}
	if _, err := tl.svc.Login(t.Context(), "ops@example.com", "correct horse battery", cl); err != nil {
		t.Errorf("login after enable: %v", err)
	}

	var got struct{ Events []eventRow }
	if err := json.Unmarshal([]byte(mustCtl(t, c, "audit", "ops@example.com", "-json")), &got); err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range got.Events {
		actions = append(actions, e.Action)
	}
	for _, want := range []string{"role_granted", "role_revoked", "user_enabled"} {
		if !slices.Contains(actions, want) {
			t.Errorf("audit %v lacks %s", actions, want)
		}
	}

	for _, args := range [][]string{
		{"users", "grant", "ops@example.com"},
		{"users", "grant", "ops@example.com", "Admin"},
		{"users", "revoke-role", "ops@example.com", "a b"},
		{"users", "enable", "nobody@example.com"},
		{"users", "grant", "ops@example.com", "admin", "extra"},
	} {
		if _, err := ctl(t, c, args...); err == nil {
			t.Errorf("keygatectl %s succeeded", strings.Join(args, " "))
		}
	}
}

// TestTheLastAdminStays: keygatectl refuses, with a message that says why and how out, to
// disable the only enabled admin or take their admin role; after a grant to another user it
// may.
func TestTheLastAdminStays(t *testing.T) {
	c, tl := memoryCLI(t, "ops@example.com")
	if err := tl.svc.BootstrapAdmin(t.Context(), "root@example.com", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"users", "disable", "root@example.com"},
		{"users", "revoke-role", "root@example.com", "admin"},
	} {
		out, err := ctl(t, c, args...)
		if err == nil || !strings.Contains(out+err.Error(), "last admin") {
			t.Errorf("keygatectl %s: %v, %q; want a refusal naming the last admin", strings.Join(args, " "), err, out)
		}
	}
	mustCtl(t, c, "users", "grant", "ops@example.com", "admin")
	mustCtl(t, c, "users", "revoke-role", "root@example.com", "admin")
	if _, err := ctl(t, c, "users", "disable", "ops@example.com"); err == nil {
		t.Error("keygatectl disabled the admin who had become the last")
	}
}
