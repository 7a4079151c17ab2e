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
