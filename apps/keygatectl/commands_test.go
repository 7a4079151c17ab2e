package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keygate/keygate/apps/internal/authsvc"
	"github.com/keygate/keygate/apps/internal/stores"
	"github.com/keygate/keygate/core/auth"
	"github.com/keygate/keygate/core/token"
)

// memoryCLI is keygatectl over one memory-profile tool shared by every command it runs, as
// commands against one database would share it: a key ring (Init ran) and the given users
// (e-mail -> password, registered through the service).
func memoryCLI(t *testing.T, users ...string) (cli, *tool) {
	t.Helper()
	return memoryCLIMailing(t, nil, users...)
}

// memoryCLIMailing is memoryCLI whose dev-mode account e-mails are printed to mails (nil: the
// default console).
func memoryCLIMailing(t *testing.T, mails io.Writer, users ...string) (cli, *tool) {
	t.Helper()
	cfg, err := authsvc.Load(getenv(map[string]string{"KEYGATE_DEV": "1"}))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listened(8080)
	if mails != nil {
		cfg.MailConsole = mails
	}
	st, cleanup, err := stores.Open(t.Context(), cfg.Config, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	tl, err := assembleTool(st, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := tl.ring.Init(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, email := range users {
		if _, err := tl.svc.Register(t.Context(), email, "correct horse battery", "", auth.Client{IP: "192.0.2.1"}); err != nil {
			t.Fatal(err)
		}
	}
	return cli{open: func(context.Context, func(string) string, bool) (*tool, func(), error) { return tl, func() {}, nil }}, tl
}

// ctl runs one command line and returns its output.
func ctl(t *testing.T, c cli, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := c.run(t.Context(), append([]string{"keygatectl"}, args...), getenv(map[string]string{"KEYGATE_DEV": "1"}), &out)
	return out.String(), err
}

func mustCtl(t *testing.T, c cli, args ...string) string {
	t.Helper()
	out, err := ctl(t, c, args...)
	if err != nil {
		t.Fatalf("keygatectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func TestKeysListRotateRetire(t *testing.T) {
	c, _ := memoryCLI(t)
	var list struct{ Keys []keyRow }
	if err := json.Unmarshal([]byte(mustCtl(t, c, "keys", "list", "-json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Keys) != 1 || list.Keys[0].State != "signing" || list.Keys[0].Seq != 1 {
		t.Fatalf("keys after start = %+v, want one signing key", list.Keys)
	}
	first := list.Keys[0].Kid

	var rotated keyRow
	if err := json.Unmarshal([]byte(mustCtl(t, c, "keys", "rotate", "--json")), &rotated); err != nil {
		t.Fatal(err)
	}
	if rotated.Seq != 2 || rotated.State != "next" || !rotated.ActivatesAt.After(time.Now()) {
		t.Errorf("rotate = %+v, want slot 2, next, activating later", rotated)
	}
	text := mustCtl(t, c, "keys", "list")
	for _, want := range []string{"KID", "STATE", first, "signing", rotated.Kid, "next"} {
		if !strings.Contains(text, want) {
			t.Errorf("keys list lacks %q:\n%s", want, text)
		}
	}

	out := mustCtl(t, c, "keys", "retire", first)
	if !strings.Contains(out, "retired key "+first) {
		t.Errorf("retire said %q", out)
	}
	if err := json.Unmarshal([]byte(mustCtl(t, c, "keys", "list", "-json")), &list); err != nil {
		t.Fatal(err)
	}
	states := map[string]string{}
	for _, k := range list.Keys {
		states[k.Kid] = k.State
	}
	// With the only active key retired, the pending key signs early (key.Ring.Signing).
	if diff := cmp.Diff(map[string]string{first: "retired", rotated.Kid: "signing"}, states); diff != "" {
		t.Errorf("states after retire (-want +got):\n%s", diff)
	}
	if _, err := ctl(t, c, "keys", "retire", "no-such-kid"); err == nil || !strings.Contains(err.Error(), `no key "no-such-kid"`) {
		t.Errorf("retire of an unknown kid: %v", err)
	}
}

func TestUsersListPages(t *testing.T) {
	c, _ := memoryCLI(t, "a@example.com", "b@example.com", "c@example.com")
	var page struct {
		Users []userRow
		Next  string
	}
	if err := json.Unmarshal([]byte(mustCtl(t, c, "users", "list", "-limit", "2", "-json")), &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Users) != 2 || page.Next != page.Users[1].ID {
		t.Fatalf("first page = %+v, want 2 users and a next cursor", page)
	}
	seen := []string{page.Users[0].Email, page.Users[1].Email}
	after := page.Next
	page.Users, page.Next = nil, ""
	if err := json.Unmarshal([]byte(mustCtl(t, c, "users", "list", "--after", after, "-json")), &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Users) != 1 || page.Next != "" {
		t.Fatalf("second page = %+v, want the last user and no cursor", page)
	}
	seen = append(seen, page.Users[0].Email)
	if diff := cmp.Diff([]string{"a@example.com", "b@example.com", "c@example.com"}, slices.Sorted(slices.Values(seen))); diff != "" {
		t.Errorf("users over both pages (-want +got):\n%s", diff)
	}
	text := mustCtl(t, c, "users", "list", "-limit", "2")
	if !strings.Contains(text, "EMAIL") || !strings.Contains(text, "more: keygatectl users list -after") {
		t.Errorf("text page lacks its header or the next-page hint:\n%s", text)
	}
}

// TestUsersDisable: disabling (by e-mail or id) revokes every session at once, as the admin
// API does, and the user can no longer log in or refresh.
func TestUsersDisable(t *testing.T) {
	for _, by := range []string{"email", "id"} {
		t.Run(by, func(t *testing.T) {
			c, tl := memoryCLI(t, "Victim@Example.com")
			pair, err := tl.svc.Login(t.Context(), "victim@example.com", "correct horse battery", auth.Client{IP: "192.0.2.1"})
			if err != nil {
				t.Fatal(err)
			}
			u, err := tl.resolve(t.Context(), "victim@example.com")
			if err != nil {
				t.Fatal(err)
			}
			arg := u.ID
			if by == "email" {
				arg = "VICTIM@example.com"
			}
			out := mustCtl(t, c, "users", "disable", arg)
			if !strings.Contains(out, "disabled user "+u.ID) {
				t.Errorf("disable said %q", out)
			}
			if _, err := tl.svc.Refresh(t.Context(), pair.RefreshToken, auth.Client{}); !errors.Is(err, auth.ErrInvalidGrant) {
				t.Errorf("refresh after disable = %v, want invalid grant", err)
			}
			if ss, err := tl.svc.Sessions(t.Context(), token.Claims{Subject: u.ID}); err != nil || len(ss) != 0 {
				t.Errorf("sessions after disable = %v (%v), want none", ss, err)
			}
			if _, err := tl.svc.Login(t.Context(), "victim@example.com", "correct horse battery", auth.Client{IP: "192.0.2.1"}); err == nil {
				t.Error("a disabled user logged in")
			}
			var list struct{ Users []userRow }
			if err := json.Unmarshal([]byte(mustCtl(t, c, "users", "list", "-json")), &list); err != nil {
				t.Fatal(err)
			}
			if len(list.Users) != 1 || !list.Users[0].Disabled {
				t.Errorf("users list = %+v, want the one user disabled", list.Users)
			}
		})
	}
}

func TestAudit(t *testing.T) {
	c, tl := memoryCLI(t, "a@example.com")
	u, err := tl.resolve(t.Context(), "a@example.com")
	if err != nil {
		t.Fatal(err)
	}
	mustCtl(t, c, "users", "disable", "a@example.com")
	var got struct{ Events []eventRow }
	if err := json.Unmarshal([]byte(mustCtl(t, c, "audit", "a@example.com", "-json")), &got); err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range got.Events {
		actions = append(actions, e.Action)
	}
	if diff := cmp.Diff([]string{"user_disabled", "register"}, actions); diff != "" {
		t.Errorf("audit actions, newest first (-want +got):\n%s", diff)
	}
	if got.Events[0].ActorID != "keygatectl" {
		t.Errorf("disable's actor = %q, want keygatectl", got.Events[0].ActorID)
	}
	if err := json.Unmarshal([]byte(mustCtl(t, c, "audit", "-limit", "1", u.ID, "-json")), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Events) != 1 {
		t.Errorf("-limit 1 gave %d events", len(got.Events))
	}
	text := mustCtl(t, c, "audit", u.ID)
	if !strings.Contains(text, "ACTION") || !strings.Contains(text, "user_disabled") {
		t.Errorf("text audit:\n%s", text)
	}
}

// TestMigrateMemory: without a database, migrate has nothing to do in dev mode and names the
// variables to set otherwise.
func TestMigrateMemory(t *testing.T) {
	var out bytes.Buffer
	if err := run(t.Context(), []string{"keygatectl", "migrate"}, getenv(map[string]string{"KEYGATE_DEV": "1"}), &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "nothing to migrate") {
		t.Errorf("migrate said %q", out.String())
	}
	err := run(t.Context(), []string{"keygatectl", "migrate"}, getenv(nil), &out)
	if err == nil || !strings.Contains(err.Error(), "DB_HOST") || !strings.Contains(err.Error(), "DATABASE_URL") {
		t.Errorf("migrate without a database = %v, want the variables named", err)
	}
	err = run(t.Context(), []string{"keygatectl", "migrate"}, getenv(map[string]string{"DB_HOST": "db", "DB_DRIVER": "oracle"}), &out)
	if err == nil || !strings.Contains(err.Error(), "config: DB_DRIVER:") || !strings.Contains(err.Error(), "config: DB_NAME:") {
		t.Errorf("migrate with bad settings = %v, want one line per variable", err)
	}
}

// TestRunMemoryProfileCommands: on a profile whose users and keys would live in keygatectl's
// own memory (KEYGATE_DEV=1 without a database), every command that needs a store refuses and
// says why, instead of acting on an empty store of its own (issue 10).
func TestRunMemoryProfileCommands(t *testing.T) {
	for _, env := range []map[string]string{{"KEYGATE_DEV": "1"}, {"KEYGATE_DEV": "1", "REDIS_ADDR": "127.0.0.1:1"}} {
		for _, args := range [][]string{
			{"keys", "list"}, {"keys", "rotate"}, {"keys", "retire", "kid"}, {"users", "list"}, {"audit", "someone"},
			{"keys", "list", "-json"}, {"users", "disable", "nobody@example.com"},
		} {
			var out bytes.Buffer
			err := run(t.Context(), append([]string{"keygatectl"}, args...), getenv(env), &out)
			if !errors.Is(err, errOwnMemory) || !strings.Contains(err.Error(), "DB_HOST") {
				t.Errorf("%v: keygatectl %s = %v, want the refusal naming DB_HOST", env, strings.Join(args, " "), err)
			}
			if strings.Contains(out.String(), "created key") || strings.Contains(out.String(), "no user") {
				t.Errorf("%v: keygatectl %s acted on its own store: %q", env, strings.Join(args, " "), out.String())
			}
		}
	}
	var out bytes.Buffer
	err := run(t.Context(), []string{"keygatectl", "users", "list"}, getenv(nil), &out)
	if err == nil || !strings.Contains(err.Error(), "config: KEYGATE_DEV:") {
		t.Errorf("users list with no configuration = %v, want the configuration's refusal", err)
	}
}

// Kids are base64url: one in 64 begins with "-" (and one in 4096 with "--"). keys retire takes
// them as they are, or after "--" (issue 10).
func TestKeysRetireKidsThatLookLikeFlags(t *testing.T) {
	c, tl := memoryCLI(t)
	var dashed []string
	for range 3000 {
		k, err := tl.ring.Rotate(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(k.ID, "-") {
			dashed = append(dashed, k.ID)
			if len(dashed) == 2 {
				break
			}
		}
	}
	if len(dashed) < 2 {
		t.Fatalf("no two kids beginning with '-' in 3000 keys: %v", dashed)
	}
	if out := mustCtl(t, c, "keys", "retire", "-compromised", dashed[0]); !strings.Contains(out, "withdrew key "+dashed[0]) {
		t.Errorf("retire -compromised %s said %q", dashed[0], out)
	}
	if out := mustCtl(t, c, "keys", "retire", "-json", "--", dashed[1]); !strings.Contains(out, `"state": "retired"`) {
		t.Errorf("retire -- %s said %q", dashed[1], out)
	}
	var list struct{ Keys []keyRow }
	if err := json.Unmarshal([]byte(mustCtl(t, c, "keys", "list", "-json")), &list); err != nil {
		t.Fatal(err)
	}
	states := map[string]string{}
	for _, k := range list.Keys {
		states[k.Kid] = k.State
	}
	if states[dashed[0]] != "expired" || states[dashed[1]] != "retired" {
		t.Errorf("states = %s %s, want expired (withdrawn) and retired", states[dashed[0]], states[dashed[1]])
	}
	for _, args := range [][]string{
		{"keys", "retire", "--AbC-made-up"},
		{"keys", "retire", "-compromised", "--", "--AbC-made-up"},
		{"keys", "retire", "-compromised", "-AbC-made-up"},
	} {
		_, err := ctl(t, c, args...)
		if err == nil || !strings.Contains(err.Error(), "no key \"") || strings.Contains(err.Error(), "flag") {
			t.Errorf("keygatectl %s = %v, want the kid looked up (no key ...)", strings.Join(args, " "), err)
		}
	}
	if _, err := ctl(t, c, "keys", "retire", "-compromised", "-json", "-x", "-y"); err == nil || !strings.Contains(err.Error(), `unexpected arguments ["-y"]`) {
		t.Errorf("two dashed kids = %v, want unexpected arguments", err)
	}
}

func TestUsageErrors(t *testing.T) {
	c, _ := memoryCLI(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"retire without a kid", []string{"keys", "retire"}, "keys retire: missing KID (usage: keygatectl keys retire [-json] [-compromised] KID)"},
		{"retire with two", []string{"keys", "retire", "a", "b"}, `unexpected arguments ["b"]`},
		{"disable without a user", []string{"users", "disable"}, "missing USER_ID_OR_EMAIL"},
		{"audit without a user", []string{"audit"}, "audit: missing USER_ID_OR_EMAIL"},
		{"unknown flag", []string{"users", "list", "-color"}, "flag provided but not defined: -color"},
		{"bad limit", []string{"users", "list", "-limit", "0"}, "-limit must be from 1 to 1000"},
		{"limit not a number", []string{"audit", "x", "-limit", "many"}, "invalid value"},
		{"list takes no argument", []string{"keys", "list", "extra"}, "unexpected arguments"},
		{"keys alone", []string{"keys"}, "unknown command"},
		{"users alone", []string{"users", "frob"}, "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := ctl(t, c, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want one containing %q", err, tt.want)
			}
			if errors.Is(err, errUsage) && !strings.Contains(out, "users disable USER_ID_OR_EMAIL") {
				t.Errorf("no usage printed:\n%s", out)
			}
		})
	}
	out, err := ctl(t, c, "users", "list", "-h")
	if err != nil || !strings.Contains(out, "usage: keygatectl users list [-json] [-after AFTER] [-limit LIMIT]") {
		t.Errorf("-h: %v %q", err, out)
	}
}

func TestKeysRetireCompromisedWithdrawsAtOnce(t *testing.T) {
	c, _ := memoryCLI(t)
	var list struct{ Keys []keyRow }
	if err := json.Unmarshal([]byte(mustCtl(t, c, "keys", "list", "-json")), &list); err != nil {
		t.Fatal(err)
	}
	leaked := list.Keys[0].Kid
	out := mustCtl(t, c, "keys", "retire", "-compromised", leaked)
	if !strings.Contains(out, "withdrew key "+leaked) {
		t.Errorf("retire -compromised said %q", out)
	}
	if err := json.Unmarshal([]byte(mustCtl(t, c, "keys", "list", "-json")), &list); err != nil {
		t.Fatal(err)
	}
	states := map[string]string{}
	for _, k := range list.Keys {
		states[k.Kid] = k.State
	}
	if states[leaked] != "expired" {
		t.Errorf("withdrawn key state = %q, want expired (unpublished); all: %v", states[leaked], states)
	}
	signing := 0
	for kid, st := range states {
		if st == "signing" && kid != leaked {
			signing++
		}
	}
	if signing != 1 {
		t.Errorf("after withdrawing the only key, want exactly one new signing key: %v", states)
	}
	if usage, _ := ctl(t, c, "keys", "retire", "-h"); !strings.Contains(usage, "keys retire [-json] [-compromised] KID") {
		t.Errorf("usage = %q, want it to show -compromised", usage)
	}
}
