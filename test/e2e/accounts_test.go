package e2e

import (
	"encoding/json"
	"testing"
)

func passwords(current, next string) string {
	b, _ := json.Marshal(map[string]string{"current_password": current, "new_password": next})
	return string(b)
}

// TestChangePassword: POST /password ends every other session at once (the orders service
// refuses its token), keeps the caller's with a new access token, and swaps the passwords.
func TestChangePassword(t *testing.T) {
	s := startStack(t, nil)
	const old, next = "correct horse battery", "a brand new passphrase"
	s.register(t, "carol@example.com", old)
	laptop := s.login(t, "carol@example.com", old)
	phone := s.login(t, "carol@example.com", old)
	want(t, s.call(t, "GET", s.orders+"/api/orders", phone.access, nil), 200, "phone before the change")

	// Bad input: a clear problem document, and nothing changes.
	for _, tt := range []struct {
		what, body string
		status     int
		code       string
	}{
		{"wrong current password", passwords("not my password", next), 403, "wrong_password"},
		{"new password too short", passwords(old, "short"), 400, "invalid_password"},
		{"missing new password", `{"current_password":"correct horse battery"}`, 400, "invalid_password"},
		{"unknown member", `{"current_password":"x","new_password":"y","user":"admin"}`, 400, "invalid_request"},
	} {
		r := want(t, s.call(t, "POST", s.auth+"/password", laptop.access, tt.body), tt.status, tt.what)
		if got := r.json(t)["code"]; got != tt.code || r.header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: code %v (%s), want %s", tt.what, got, r.header.Get("Content-Type"), tt.code)
		}
	}
	want(t, s.call(t, "POST", s.auth+"/password", "", passwords(old, next)), 401, "without a token")
	want(t, s.call(t, "GET", s.orders+"/api/orders", phone.access, nil), 200, "phone after the refused changes")

	r := want(t, s.call(t, "POST", s.auth+"/password", laptop.access, passwords(old, next)), 200, "change password")
	fresh := tokens{access: r.str(t, "access_token"), refresh: r.str(t, "refresh_token")}
	if fresh.refresh != laptop.refresh {
		t.Errorf("the caller's refresh token changed: its session should stay")
	}
	// Every verifier refuses the other session's token, and the caller's old one, at once.
	s.refusedSoon(t, phone.access, "a password change (other session)")
	s.refusedSoon(t, laptop.access, "a password change (the caller's old access token)")
	want(t, s.refresh(t, phone.refresh), 400, "refresh of the other session")
	want(t, s.call(t, "GET", s.orders+"/api/orders", fresh.access, nil), 200, "the caller's new access token")
	want(t, s.refresh(t, fresh.refresh), 200, "refresh of the caller's session")

	want(t, s.call(t, "POST", s.auth+"/login", "", credentials("carol@example.com", old)), 401, "login with the old password")
	again := s.login(t, "carol@example.com", next)
	want(t, s.call(t, "GET", s.orders+"/api/orders", again.access, nil), 200, "a login with the new password")
}

// TestAdminRolesAndEnable: an admin grants the admin role to dave, revokes it, and dave's
// token that carried it is refused on /admin at once; a fresh login has no such role. A
// disabled user is re-enabled and logs in again.
func TestAdminRolesAndEnable(t *testing.T) {
	s := startStack(t, nil)
	admin := s.login(t, adminEmail, adminPassword)
	daveID := s.register(t, "dave@example.com", "correct horse battery")
	users := s.auth + "/admin/users/" + daveID

	want(t, s.call(t, "PUT", users+"/roles/admin", admin.access, nil), 204, "grant admin")
	dave := s.login(t, "dave@example.com", "correct horse battery")
	want(t, s.call(t, "GET", s.auth+"/admin/users", dave.access, nil), 200, "dave as admin")
	want(t, s.call(t, "PUT", s.auth+"/admin/users/"+daveID+"/roles/auditor", dave.access, nil), 204, "dave grants a role")

	// Bad input gets a clear problem document.
	for _, tt := range []struct {
		method, path string
		status       int
		code         string
	}{
		{"PUT", users + "/roles/Admin", 400, "invalid_role"},
		{"DELETE", users + "/roles/a%20b", 400, "invalid_role"},
		{"PUT", s.auth + "/admin/users/nobody/roles/admin", 404, "not_found"},
		{"POST", s.auth + "/admin/users/nobody/enable", 404, "not_found"},
	} {
		r := want(t, s.call(t, tt.method, tt.path, admin.access, nil), tt.status, tt.method+" "+tt.path)
		if got := r.json(t)["code"]; got != tt.code {
			t.Errorf("%s %s: code %v, want %s", tt.method, tt.path, got, tt.code)
		}
	}

	want(t, s.call(t, "DELETE", users+"/roles/admin", admin.access, nil), 204, "revoke admin")
	// The token that says admin is refused at once, by authd and by the orders service.
	if got := s.call(t, "GET", s.auth+"/admin/users", dave.access, nil).status; got != 401 && got != 403 {
		t.Errorf("dave's admin token on /admin right after the revocation: %d, want 401 or 403", got)
	}
	s.refusedSoon(t, dave.access, "a role revocation")
	// The session stays: a refresh gives a token with the current roles; so does a login.
	r := want(t, s.refresh(t, dave.refresh), 200, "refresh after the role revocation")
	refreshed := r.str(t, "access_token")
	want(t, s.call(t, "GET", s.auth+"/admin/users", refreshed, nil), 403, "dave's refreshed token on /admin")
	want(t, s.call(t, "GET", s.orders+"/api/orders", refreshed, nil), 200, "dave's refreshed token at orders")
	again := s.login(t, "dave@example.com", "correct horse battery")
	want(t, s.call(t, "GET", s.auth+"/admin/users", again.access, nil), 403, "a new login on /admin")
	me := want(t, s.call(t, "GET", s.auth+"/me", again.access, nil), 200, "me").json(t)
	if roles, _ := me["roles"].([]any); len(roles) != 1 || roles[0] != "auditor" {
		t.Errorf("dave's roles = %v, want [auditor]", me["roles"])
	}

	// The bootstrap admin is the only admin again: it can be neither disabled nor demoted.
	rootID := want(t, s.call(t, "GET", s.auth+"/me", admin.access, nil), 200, "the admin's /me").str(t, "id")
	for _, p := range []struct{ method, path string }{
		{"POST", s.auth + "/admin/users/" + rootID + "/disable"},
		{"DELETE", s.auth + "/admin/users/" + rootID + "/roles/admin"},
	} {
		r := want(t, s.call(t, p.method, p.path, admin.access, nil), 409, p.method+" "+p.path+" of the last admin")
		if got := r.json(t)["code"]; got != "last_admin" {
			t.Errorf("%s %s of the last admin: code %v, want last_admin", p.method, p.path, got)
		}
	}
	want(t, s.call(t, "GET", s.auth+"/admin/users", admin.access, nil), 200, "the last admin, still admin")

	// Disable, then re-enable: the old tokens stay refused, a new login works.
	want(t, s.call(t, "POST", users+"/disable", admin.access, nil), 204, "disable")
	want(t, s.call(t, "POST", s.auth+"/login", "", credentials("dave@example.com", "correct horse battery")), 401, "login while disabled")
	want(t, s.call(t, "POST", users+"/enable", admin.access, nil), 204, "enable")
	s.refusedSoon(t, again.access, "disable, even after the enable")
	back := s.login(t, "dave@example.com", "correct horse battery")
	want(t, s.call(t, "GET", s.orders+"/api/orders", back.access, nil), 200, "a login after the enable")
}
