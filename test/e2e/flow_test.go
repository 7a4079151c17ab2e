package e2e

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// TestUserFlow walks the whole API the way a user and an admin would, through the auth
// service and the orders and payments microservices.
func TestUserFlow(t *testing.T) {
	s := startStack(t, nil)

	// Register and log in; the token opens both microservices.
	aliceID := s.register(t, "alice@example.com", "correct horse battery")
	bobID := s.register(t, "bob@example.com", "battery staple horse")
	alice := s.login(t, "alice@example.com", "correct horse battery")
	bob := s.login(t, "bob@example.com", "battery staple horse")

	want(t, s.call(t, "POST", s.orders+"/api/orders", alice.access, `{"item":"book","quantity":2}`), 201, "alice orders")
	want(t, s.call(t, "POST", s.orders+"/api/orders", bob.access, `{"item":"lamp","quantity":1}`), 201, "bob orders")
	want(t, s.call(t, "POST", s.payments+"/api/payments", alice.access, `{"amount":1999,"currency":"EUR"}`), 201, "alice pays")

	var list struct {
		Orders []struct{ Owner, Item string } `json:"orders"`
	}
	r := want(t, s.call(t, "GET", s.orders+"/api/orders", alice.access, nil), 200, "alice lists orders")
	if err := json.Unmarshal(r.body, &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Orders) != 1 || list.Orders[0].Item != "book" || list.Orders[0].Owner != aliceID {
		t.Errorf("alice sees %+v, want only her own book", list.Orders)
	}
	r = want(t, s.call(t, "GET", s.payments+"/api/payments", alice.access, nil), 200, "alice lists payments")
	if !strings.Contains(string(r.body), `"amount":1999`) {
		t.Errorf("payments = %s", r.body)
	}

	// /me and the session list.
	me := want(t, s.call(t, "GET", s.auth+"/me", alice.access, nil), 200, "me").json(t)
	if me["email"] != "alice@example.com" || me["id"] != aliceID {
		t.Errorf("/me = %v", me)
	}
	// Refresh rotates the refresh token; the new access token works.
	r = want(t, s.refresh(t, alice.refresh), 200, "refresh")
	alice2 := tokens{access: r.str(t, "access_token"), refresh: r.str(t, "refresh_token")}
	if alice2.refresh == alice.refresh {
		t.Error("refresh returned the same refresh token: no rotation")
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("token response Cache-Control = %q, want no-store", r.header.Get("Cache-Control"))
	}
	want(t, s.call(t, "GET", s.orders+"/api/orders", alice2.access, nil), 200, "orders with the refreshed token")

	// A second session (another device); the list marks the current one.
	phone := s.login(t, "alice@example.com", "correct horse battery")
	var sessions struct {
		Sessions []struct {
			ID      string `json:"id"`
			Current bool   `json:"current"`
		} `json:"sessions"`
	}
	r = want(t, s.call(t, "GET", s.auth+"/sessions", alice2.access, nil), 200, "sessions")
	if err := json.Unmarshal(r.body, &sessions); err != nil {
		t.Fatal(err)
	}
	if len(sessions.Sessions) != 2 {
		t.Fatalf("sessions = %s, want 2", r.body)
	}
	var phoneSID string
	for _, ss := range sessions.Sessions {
		if !ss.Current {
			phoneSID = ss.ID
		}
	}
	// Revoke the phone's session from the laptop: the phone's token dies at once.
	want(t, s.call(t, "DELETE", s.auth+"/sessions/"+phoneSID, alice2.access, nil), 204, "revoke phone session")
	s.refusedSoon(t, phone.access, "its session was revoked")
	want(t, s.refresh(t, phone.refresh), 400, "refresh of the revoked session")
	want(t, s.call(t, "DELETE", s.auth+"/sessions/"+phoneSID, bob.access, nil), 404, "bob revoking alice's session")

	// Logout: the microservice refuses the token at once, and the refresh token is dead.
	want(t, s.call(t, "POST", s.auth+"/logout", alice2.access, nil), 204, "logout")
	s.refusedSoon(t, alice2.access, "logout")
	want(t, s.refresh(t, alice2.refresh), 400, "refresh after logout")
	if got := s.ordersStatus(t, bob.access); got != 200 {
		t.Errorf("bob's token after alice's logout: %d, want 200", got)
	}

	// Logout-all ends every session of the user.
	a1 := s.login(t, "alice@example.com", "correct horse battery")
	a2 := s.login(t, "alice@example.com", "correct horse battery")
	want(t, s.call(t, "POST", s.auth+"/logout/all", a1.access, nil), 204, "logout all")
	s.refusedSoon(t, a1.access, "logout-all")
	s.refusedSoon(t, a2.access, "logout-all (other session)")
	want(t, s.refresh(t, a2.refresh), 400, "refresh after logout-all")

	// RFC 7009: revoking an access token kills it everywhere; revoking a refresh token kills
	// its session; an unknown token gets the same 200 and body.
	a3 := s.login(t, "alice@example.com", "correct horse battery")
	known := want(t, s.call(t, "POST", s.auth+"/revoke", "", url.Values{"token": {a3.access}, "token_type_hint": {"access_token"}}), 200, "revoke access token")
	s.refusedSoon(t, a3.access, "RFC 7009 revocation of the access token")
	want(t, s.call(t, "POST", s.auth+"/revoke", "", url.Values{"token": {a3.refresh}}), 200, "revoke refresh token")
	want(t, s.refresh(t, a3.refresh), 400, "refresh of a revoked refresh token")
	unknown := want(t, s.call(t, "POST", s.auth+"/revoke", "", url.Values{"token": {"not-a-token"}}), 200, "revoke garbage")
	if string(unknown.body) != string(known.body) {
		t.Errorf("revoke answers differ: %q for a real token, %q for garbage", known.body, unknown.body)
	}

	// Admin: list, read audit, disable; a disabled user's tokens are refused by orders.
	admin := s.login(t, adminEmail, adminPassword)
	want(t, s.call(t, "GET", s.auth+"/admin/users", bob.access, nil), 403, "admin list as bob")
	r = want(t, s.call(t, "GET", s.auth+"/admin/users?limit=200", admin.access, nil), 200, "admin list")
	var users struct {
		Users []struct{ ID, Email string } `json:"users"`
	}
	if err := json.Unmarshal(r.body, &users); err != nil {
		t.Fatal(err)
	}
	var emails []string
	for _, u := range users.Users {
		emails = append(emails, u.Email)
	}
	for _, e := range []string{"alice@example.com", "bob@example.com", adminEmail} {
		if !slices.Contains(emails, e) {
			t.Errorf("admin list %v lacks %s", emails, e)
		}
	}
	// Pagination: one page of 1 with a cursor.
	r = want(t, s.call(t, "GET", s.auth+"/admin/users?limit=1", admin.access, nil), 200, "admin page")
	if next, _ := r.json(t)["next"].(string); next == "" {
		t.Errorf("a full page has no next cursor: %s", r.body)
	}

	r = want(t, s.call(t, "GET", s.auth+"/admin/users/"+aliceID+"/audit", admin.access, nil), 200, "audit")
	for _, action := range []string{"register", "login_success", "logout", "logout_all"} {
		if !strings.Contains(string(r.body), fmt.Sprintf("%q", action)) {
			t.Errorf("audit of alice lacks %s: %s", action, r.body)
		}
	}

	want(t, s.call(t, "POST", s.auth+"/admin/users/"+bobID+"/disable", admin.access, nil), 204, "disable bob")
	s.refusedSoon(t, bob.access, "bob was disabled")
	want(t, s.call(t, "POST", s.auth+"/login", "", credentials("bob@example.com", "battery staple horse")), 401, "disabled bob logs in")
	want(t, s.refresh(t, bob.refresh), 400, "disabled bob refreshes")

	// Admin revoke: every token of the user dies, the account stays usable.
	a4 := s.login(t, "alice@example.com", "correct horse battery")
	want(t, s.call(t, "POST", s.auth+"/admin/users/"+aliceID+"/revoke", admin.access, nil), 204, "admin revokes alice")
	s.refusedSoon(t, a4.access, "the admin revoked alice")
	a5 := s.login(t, "alice@example.com", "correct horse battery")
	if got := s.ordersStatus(t, a5.access); got != 200 {
		t.Errorf("alice's new token after the admin revoke: %d, want 200", got)
	}
}
