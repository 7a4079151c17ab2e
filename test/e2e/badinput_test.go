package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestBadInputs is the bad-input catalogue of the HTTP endpoints (anchors-security 2.B and
// the Authorization rules), against the real stack.
func TestBadInputs(t *testing.T) {
	s := startStack(t, nil)
	s.register(t, "erin@example.com", "correct horse battery")
	tok := s.login(t, "erin@example.com", "correct horse battery")

	tests := []struct {
		name    string
		method  string
		url     string
		bearer  string
		body    any
		headers []string
		status  int
		code    string
	}{
		{"L-01 100 MB body", "POST", s.auth + "/login", "", io.MultiReader(strings.NewReader(`{"email":"`), bytes.NewReader(make([]byte, 100<<20))), []string{"Content-Type", "application/json"}, 413, "body_too_large"},
		{"L-02 nested JSON", "POST", s.auth + "/login", "", `{"email":{"a":[{"b":{"c":[1]}}]},"password":"x"}`, nil, 400, "invalid_request"},
		{"L-03 duplicate keys", "POST", s.auth + "/login", "", `{"email":"x@example.com","email":"erin@example.com","password":"correct horse battery"}`, nil, 400, "invalid_request"},
		{"L-04 unknown field", "POST", s.auth + "/register", "", `{"email":"f@example.com","password":"correct horse battery","roles":["admin"]}`, nil, 400, "invalid_request"},
		{"L-04 trailing data", "POST", s.auth + "/login", "", `{"email":"erin@example.com","password":"correct horse battery"}{}`, nil, 400, "invalid_request"},
		{"L-04 wrong content type", "POST", s.auth + "/login", "", strings.NewReader(`{"email":"erin@example.com","password":"correct horse battery"}`), []string{"Content-Type", "text/plain"}, 415, "unsupported_media_type"},
		{"L-05 password over 128 characters", "POST", s.auth + "/register", "", `{"email":"g@example.com","password":"` + strings.Repeat("p", 129) + `"}`, nil, 400, "invalid_password"},
		{"bad e-mail", "POST", s.auth + "/register", "", `{"email":"not an email","password":"correct horse battery"}`, nil, 400, "invalid_email"},
		{"e-mail taken", "POST", s.auth + "/register", "", `{"email":"ERIN@example.com","password":"correct horse battery"}`, nil, 409, "email_taken"},
		// Look-alike accounts (issue 10): what a person cannot tell from erin@example.com is
		// either refused (invisible characters) or the same account (409).
		{"look-alike zero-width space", "POST", s.auth + "/register", "", `{"email":"erin\u200b@example.com","password":"correct horse battery"}`, nil, 400, "invalid_email"},
		{"look-alike soft hyphen", "POST", s.auth + "/register", "", `{"email":"er\u00adin@example.com","password":"correct horse battery"}`, nil, 400, "invalid_email"},
		{"look-alike byte-order mark", "POST", s.auth + "/register", "", `{"email":"\ufefferin@example.com","password":"correct horse battery"}`, nil, 400, "invalid_email"},
		{"look-alike bidi override", "POST", s.auth + "/register", "", `{"email":"erin\u202e@example.com","password":"correct horse battery"}`, nil, 400, "invalid_email"},
		{"look-alike fullwidth domain", "POST", s.auth + "/register", "", `{"email":"erin@\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45.com","password":"correct horse battery"}`, nil, 409, "email_taken"},
		{"look-alike fullwidth local part", "POST", s.auth + "/register", "", `{"email":"\uff45rin@example.com","password":"correct horse battery"}`, nil, 409, "email_taken"},
		{"order body strict too", "POST", s.orders + "/api/orders", tok.access, `{"item":"a","quantity":1,"quantity":1000}`, nil, 400, "invalid_request"},
		{"order out of range", "POST", s.orders + "/api/orders", tok.access, `{"item":"a","quantity":0}`, nil, 400, "invalid_request"},
		{"two Authorization headers", "GET", s.orders + "/api/orders", "", nil, []string{"Authorization", "Bearer " + tok.access, "Authorization", "Bearer " + tok.access}, 400, "invalid_request"},
		{"token in the query string", "GET", s.orders + "/api/orders?access_token=" + tok.access, "", nil, nil, 401, "unauthorized"},
		{"Basic scheme", "GET", s.orders + "/api/orders", "", nil, []string{"Authorization", "Basic ZXJpbjpwdw=="}, 401, "unauthorized"},
		{"lower-case scheme is fine", "GET", s.orders + "/api/orders", "", nil, []string{"Authorization", "bearer " + tok.access}, 200, ""},
		{"R-08 refresh token as bearer", "GET", s.orders + "/api/orders", tok.refresh, nil, nil, 401, "invalid_token"},
		{"R-08 access token at /refresh", "POST", s.auth + "/refresh", "", `{"refresh_token":"` + tok.access + `"}`, nil, 400, "invalid_grant"},
		{"tampered signature", "GET", s.orders + "/api/orders", tamper(tok.access, len(tok.access)-20), nil, nil, 401, "invalid_token"},
		{"tampered claims", "GET", s.orders + "/api/orders", tamper(tok.access, strings.Index(tok.access, ".")+5), nil, nil, 401, "invalid_token"},
		{"alg none", "GET", s.orders + "/api/orders", "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0.eyJzdWIiOiJ4In0.", nil, nil, 401, "invalid_token"},
		{"revoke as JSON", "POST", s.auth + "/revoke", "", `{"token":"x"}`, nil, 415, "unsupported_media_type"},
		{"unknown route", "GET", s.auth + "/does-not-exist", "", nil, nil, 404, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.call(t, tt.method, tt.url, tt.bearer, tt.body, tt.headers...)
			want(t, r, tt.status, tt.name)
			if tt.code == "" {
				return
			}
			if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type = %q, want application/problem+json", ct)
			}
			if got := r.json(t)["code"]; got != tt.code {
				t.Errorf("code = %v, want %s", got, tt.code)
			}
		})
	}
}

// TestFailedLoginsLookAlike (L-08): an unknown e-mail and a wrong password get the same
// status, body and header names.
func TestFailedLoginsLookAlike(t *testing.T) {
	s := startStack(t, nil)
	s.register(t, "frank@example.com", "correct horse battery")
	wrong := s.call(t, "POST", s.auth+"/login", "", credentials("frank@example.com", "wrong horse battery"))
	unknown := s.call(t, "POST", s.auth+"/login", "", credentials("nobody@example.com", "wrong horse battery"))
	if wrong.status != http.StatusUnauthorized || unknown.status != wrong.status {
		t.Errorf("statuses %d and %d, want 401 twice", wrong.status, unknown.status)
	}
	if !bytes.Equal(wrong.body, unknown.body) {
		t.Errorf("bodies differ:\n%s\n%s", wrong.body, unknown.body)
	}
	for _, h := range []http.Header{wrong.header, unknown.header} {
		h.Del("Date")
		h.Del("X-Request-Id")
	}
	if len(wrong.header) != len(unknown.header) {
		t.Errorf("header sets differ:\n%v\n%v", wrong.header, unknown.header)
	}
}

// TestLoginRateLimits: the failed-login limit answers 429 with Retry-After, and a client
// cannot escape the per-address limit by sending X-Forwarded-For (L-09).
func TestLoginRateLimits(t *testing.T) {
	s := startStack(t, map[string]string{"KEYGATE_LOGIN_FAILURES_CLIENT": "3/1h", "KEYGATE_LOGIN_LIMIT_IP": "6/1h"})
	s.register(t, "gina@example.com", "correct horse battery")
	var last reply
	for range 4 {
		last = s.call(t, "POST", s.auth+"/login", "", credentials("gina@example.com", "wrong horse battery"))
	}
	want(t, last, 429, "fourth login for one account")
	if last.header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	var statuses []int
	for i := range 8 {
		r := s.call(t, "POST", s.auth+"/login", "", credentials("spoof"+string(rune('a'+i))+"@example.com", "wrong horse battery"),
			"X-Forwarded-For", "203.0.113."+string(rune('1'+i)))
		statuses = append(statuses, r.status)
	}
	if statuses[len(statuses)-1] != 429 {
		t.Errorf("statuses with rotating X-Forwarded-For %v: the address limit was escaped", statuses)
	}
}

// tamper changes the base64url character of token at i to another one.
func tamper(token string, i int) string {
	c := byte('A')
	if token[i] == 'A' {
		c = 'B'
	}
	return token[:i] + string(c) + token[i+1:]
}

// TestNobodyLocksTheOwnerOut: an attacker's wrong passwords lock the attacker's address out
// of the account (429 with Retry-After, even with the right password), while the owner, from
// another address, logs in; once failures from many addresses engage the account's brake,
// the owner on a clean address still logs in (after the brake's wait), and the admin's audit
// of the account shows the refused attempts and the brake with the addresses they came from.
// The stack trusts loopback as a proxy, so X-Forwarded-For names the client.
func TestNobodyLocksTheOwnerOut(t *testing.T) {
	s := startStack(t, map[string]string{
		"KEYGATE_TRUSTED_PROXIES":        "127.0.0.1/32,::1/128",
		"KEYGATE_LOGIN_FAILURES_CLIENT":  "3/1h",
		"KEYGATE_LOGIN_FAILURES_ACCOUNT": "5/1h",
		"KEYGATE_LOGIN_BRAKE_DELAY":      "100ms",
	})
	const email, password = "hana@example.com", "correct horse battery"
	id := s.register(t, email, password)
	from := func(ip, pw string) reply {
		return s.call(t, "POST", s.auth+"/login", "", credentials(email, pw), "X-Forwarded-For", ip)
	}
	for i := range 3 {
		want(t, from("198.51.100.1", fmt.Sprintf("attacker guess %d", i)), 401, "attacker's wrong password")
	}
	r := want(t, from("198.51.100.1", password), 429, "attacker's address with the right password")
	if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra < 1 || ra > 3600 {
		t.Errorf("Retry-After %q, want 1..3600 seconds", r.header.Get("Retry-After"))
	}
	if code, _ := r.json(t)["code"].(string); code != "rate_limited" {
		t.Errorf("code %q, want rate_limited: %s", code, r.body)
	}
	want(t, from("203.0.113.20", password), 200, "owner from another address")

	// Two more failures from a second address: five for the account, the brake engages.
	for i := range 2 {
		want(t, from("198.51.100.2", fmt.Sprintf("second guess %d", i)), 401, "second address's wrong password")
	}
	want(t, from("198.51.100.2", password), 429, "an address that failed, while the brake is on")
	want(t, from("203.0.113.20", password), 200, "owner from a clean address, while the brake is on")

	admin := s.login(t, adminEmail, adminPassword)
	r = want(t, s.call(t, "GET", s.auth+"/admin/users/"+id+"/audit", admin.access, nil), 200, "audit")
	var body struct {
		Events []struct {
			Action   string `json:"action"`
			RemoteIP string `json:"remote_ip"`
		} `json:"events"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("audit body: %v: %s", err, r.body)
	}
	got := map[string][]string{}
	for _, e := range body.Events {
		if e.Action == "login_locked" || e.Action == "login_brake" {
			got[e.Action] = append(got[e.Action], e.RemoteIP)
		}
	}
	wantAudit := map[string][]string{"login_locked": {"198.51.100.2", "198.51.100.1"}, "login_brake": {"198.51.100.2"}}
	if diff := cmp.Diff(wantAudit, got); diff != "" {
		t.Errorf("audit lock-out events, newest first (-want +got):\n%s\n%s", diff, r.body)
	}
}
