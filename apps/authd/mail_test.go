package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/test/apptest"
)

// call sends method path with a JSON body (and a bearer token if given) and returns the status
// and the body.
func call(t *testing.T, method, url, bearer string, body any) (int, []byte, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

// problemCode returns the code of a problem+json answer.
func problemCode(t *testing.T, h http.Header, b []byte) string {
	t.Helper()
	if ct := h.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type %q, want application/problem+json: %s", ct, b)
	}
	var p struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(b, &p)
	return p.Code
}

// mailedLink waits for the n-th (from 1) link to path printed by the dev mailer in authd's log
// and returns its token.
func mailedLink(t *testing.T, out *apptest.Output, path string, n int) string {
	t.Helper()
	re := regexp.MustCompile(regexp.QuoteMeta(path) + `\?token=([A-Za-z0-9_-]{43})`)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if m := re.FindAllStringSubmatch(out.String(), -1); len(m) >= n {
			return m[n-1][1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no link %d to %s in the log:\n%s", n, path, out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func login(t *testing.T, base, email, password string) (int, string) {
	t.Helper()
	st, b, _ := call(t, "POST", base+"/login", "", map[string]string{"email": email, "password": password})
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal(b, &tok)
	return st, tok.AccessToken
}

// TestPasswordResetOverHTTP: a reset request answers 202 with one body for an address with
// and without an account; the mailed link sets a new password once, signs the user out
// everywhere, and a second use, a malformed token, or no token at all get problem+json.
func TestPasswordResetOverHTTP(t *testing.T) {
	base, out := start(t, map[string]string{"PORT": "0", "KEYGATE_DEV": "1"})
	const pw = "correct horse battery"
	if st, b, _ := call(t, "POST", base+"/register", "", map[string]string{"email": "erin@example.com", "password": pw}); st != http.StatusCreated {
		t.Fatalf("register = %d %s, want 201 (open mode: the dev default)", st, b)
	}
	_, access := login(t, base, "erin@example.com", pw)

	stKnown, known, _ := call(t, "POST", base+"/password/reset", "", map[string]string{"email": "erin@example.com"})
	stUnknown, unknown, _ := call(t, "POST", base+"/password/reset", "", map[string]string{"email": "nobody@example.com"})
	if stKnown != http.StatusAccepted || stUnknown != http.StatusAccepted || !bytes.Equal(known, unknown) {
		t.Errorf("reset request: known %d %s, unknown %d %s; want the same 202", stKnown, known, stUnknown, unknown)
	}
	secret := mailedLink(t, out, "/password/reset", 1)
	if strings.Contains(out.String(), "nobody@example.com") {
		t.Errorf("a mail went to an address without an account")
	}

	const newPW = "a new passphrase, longer"
	body := map[string]string{"token": secret, "new_password": newPW}
	if st, b, _ := call(t, "POST", base+"/password/reset/confirm", "", body); st != http.StatusNoContent {
		t.Fatalf("confirm = %d %s, want 204", st, b)
	}
	st, b, h := call(t, "POST", base+"/password/reset/confirm", "", body)
	if st != http.StatusBadRequest || problemCode(t, h, b) != "invalid_link" {
		t.Errorf("second use = %d %s, want 400 invalid_link", st, b)
	}
	for name, req := range map[string]map[string]string{
		"malformed token": {"token": "not-a-token", "new_password": newPW},
		"unknown token":   {"token": strings.Repeat("A", 43), "new_password": newPW},
	} {
		st, b, h := call(t, "POST", base+"/password/reset/confirm", "", req)
		if st != http.StatusBadRequest || problemCode(t, h, b) != "invalid_link" {
			t.Errorf("%s = %d %s, want 400 invalid_link", name, st, b)
		}
	}
	st, b, h = call(t, "POST", base+"/password/reset/confirm", "", map[string]string{"new_password": newPW})
	if st != http.StatusBadRequest || problemCode(t, h, b) != "invalid_request" {
		t.Errorf("no token = %d %s, want 400 invalid_request", st, b)
	}
	if st, _ := login(t, base, "erin@example.com", pw); st != http.StatusUnauthorized {
		t.Errorf("login with the old password = %d, want 401", st)
	}
	st, access2 := login(t, base, "erin@example.com", newPW)
	if st != http.StatusOK {
		t.Errorf("login with the new password = %d, want 200", st)
	}
	if st, _, _ := call(t, "GET", base+"/me", access, nil); st != http.StatusUnauthorized {
		t.Errorf("/me with a token from before the reset = %d, want 401 (every session revoked)", st)
	}
	st, b, _ = call(t, "GET", base+"/me", access2, nil)
	if st != http.StatusOK || !strings.Contains(string(b), `"email_verified":true`) {
		t.Errorf("/me after a reset by mail = %d %s, want email_verified true", st, b)
	}
}

// TestRegisterVerifyModeOverHTTP: with KEYGATE_REGISTRATION_MODE=verify, registering a new
// and a taken address answer the same 202; the new account's link verifies it, which /me
// shows; a verification token is refused as a reset token.
func TestRegisterVerifyModeOverHTTP(t *testing.T) {
	base, out := start(t, map[string]string{"PORT": "0", "KEYGATE_DEV": "1", "KEYGATE_REGISTRATION_MODE": "verify"})
	const pw = "correct horse battery"
	reg := map[string]string{"email": "finn@example.com", "password": pw}
	st1, b1, _ := call(t, "POST", base+"/register", "", reg)
	st2, b2, _ := call(t, "POST", base+"/register", "", map[string]string{"email": "finn@example.com", "password": "someone else's"})
	if st1 != http.StatusAccepted || st2 != http.StatusAccepted || !bytes.Equal(b1, b2) {
		t.Fatalf("register new = %d %s, taken = %d %s; want the same 202", st1, b1, st2, b2)
	}
	mailedLink(t, out, "/password/reset", 1) // the owner's notice carries a reset link
	secret := mailedLink(t, out, "/email/verify", 1)

	_, access := login(t, base, "finn@example.com", pw)
	if _, b, _ := call(t, "GET", base+"/me", access, nil); !strings.Contains(string(b), `"email_verified":false`) {
		t.Errorf("/me before verification: %s", b)
	}
	st, b, h := call(t, "POST", base+"/password/reset/confirm", "", map[string]string{"token": secret, "new_password": "whatever it is"})
	if st != http.StatusBadRequest || problemCode(t, h, b) != "invalid_link" {
		t.Errorf("a verification token used to reset = %d %s, want 400 invalid_link", st, b)
	}
	if st, b, _ := call(t, "POST", base+"/email/verify", "", map[string]string{"token": secret}); st != http.StatusNoContent {
		t.Fatalf("verify = %d %s, want 204", st, b)
	}
	if _, b, _ := call(t, "GET", base+"/me", access, nil); !strings.Contains(string(b), `"email_verified":true`) {
		t.Errorf("/me after verification: %s", b)
	}
	st, b, h = call(t, "POST", base+"/email/verify", "", map[string]string{"token": secret})
	if st != http.StatusBadRequest || problemCode(t, h, b) != "invalid_link" {
		t.Errorf("second verification = %d %s, want 400 invalid_link", st, b)
	}
	if st, b, _ := call(t, "POST", base+"/email/verify/resend", access, nil); st != http.StatusAccepted {
		t.Errorf("resend = %d %s, want 202", st, b)
	}
}

// TestAdminForceResetOverHTTP: an admin's forced reset signs the user out, the old password
// answers 403 password_reset_required (401 when wrong), and the mailed link sets a new one.
func TestAdminForceResetOverHTTP(t *testing.T) {
	const adminPW = "admin password here"
	base, out := start(t, map[string]string{"PORT": "0", "KEYGATE_DEV": "1",
		"KEYGATE_ADMIN_EMAIL": "admin@example.com", "KEYGATE_ADMIN_PASSWORD": adminPW})
	const pw = "correct horse battery"
	_, b, _ := call(t, "POST", base+"/register", "", map[string]string{"email": "gail@example.com", "password": pw})
	var u struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(b, &u)
	_, userToken := login(t, base, "gail@example.com", pw)
	_, admin := login(t, base, "admin@example.com", adminPW)

	if st, b, _ := call(t, "POST", base+"/admin/users/"+u.ID+"/reset-password", userToken, nil); st != http.StatusForbidden {
		t.Errorf("force reset by a non-admin = %d %s, want 403", st, b)
	}
	if st, b, _ := call(t, "POST", base+"/admin/users/"+u.ID+"/reset-password", admin, nil); st != http.StatusNoContent {
		t.Fatalf("force reset = %d %s, want 204", st, b)
	}
	if st, _, _ := call(t, "GET", base+"/me", userToken, nil); st != http.StatusUnauthorized {
		t.Errorf("/me after a forced reset = %d, want 401", st)
	}
	st, b, h := call(t, "POST", base+"/login", "", map[string]string{"email": "gail@example.com", "password": pw})
	if st != http.StatusForbidden || problemCode(t, h, b) != "password_reset_required" {
		t.Errorf("login with the old password = %d %s, want 403 password_reset_required", st, b)
	}
	st, b, h = call(t, "POST", base+"/login", "", map[string]string{"email": "gail@example.com", "password": "wrong password!"})
	if st != http.StatusUnauthorized || problemCode(t, h, b) != "invalid_credentials" {
		t.Errorf("login with a wrong password = %d %s, want 401 invalid_credentials", st, b)
	}
	secret := mailedLink(t, out, "/password/reset", 1)
	if st, b, _ := call(t, "POST", base+"/password/reset/confirm", "", map[string]string{"token": secret, "new_password": "gail's new passphrase"}); st != http.StatusNoContent {
		t.Fatalf("confirm = %d %s", st, b)
	}
	if st, _ := login(t, base, "gail@example.com", "gail's new passphrase"); st != http.StatusOK {
		t.Errorf("login after the reset = %d, want 200", st)
	}
	if st, b, _ := call(t, "POST", base+"/admin/users/nobody/reset-password", admin, nil); st != http.StatusNotFound {
		t.Errorf("force reset of an unknown user = %d %s, want 404", st, b)
	}
}

// TestMailFailuresCounted: an account e-mail the mail server never takes (here: nothing
// listens at KEYGATE_SMTP_ADDR), the registration's verification mail and a reset mail, is counted on the admin listener's keygate_mail_failures_total,
// and the reset request still answers its usual 202.
func TestMailFailuresCounted(t *testing.T) {
	base, admin, _ := startAdmin(t, map[string]string{"PORT": "0", "KEYGATE_DEV": "1", "KEYGATE_REGISTRATION_MODE": "open",
		"KEYGATE_SMTP_ADDR": apptest.ClosedAddr(t), "KEYGATE_SMTP_FROM": "keygate@example.com", "KEYGATE_SMTP_TLS": "none"})
	counter := regexp.MustCompile(`(?m)^keygate_mail_failures_total (\S+)$`)
	failures := func() string {
		_, b, _ := call(t, "GET", admin+"/metrics", "", nil)
		if m := counter.FindSubmatch(b); m != nil {
			return string(m[1])
		}
		return "absent"
	}
	if got := failures(); got != "0" {
		t.Fatalf("keygate_mail_failures_total before any mail = %s, want 0", got)
	}
	if st, b, _ := call(t, "POST", base+"/register", "", map[string]string{"email": "fay@example.com", "password": "correct horse battery"}); st != http.StatusCreated {
		t.Fatalf("register = %d %s, want 201", st, b)
	}
	waitFor := func(want, what string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for failures() != want {
			if time.Now().After(deadline) {
				t.Fatalf("keygate_mail_failures_total = %s 10 s after %s to an unreachable server, want %s", failures(), what, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("1", "the registration's verification mail")
	if st, b, _ := call(t, "POST", base+"/password/reset", "", map[string]string{"email": "fay@example.com"}); st != http.StatusAccepted {
		t.Fatalf("reset request = %d %s, want 202", st, b)
	}
	waitFor("2", "a reset mail")
}
