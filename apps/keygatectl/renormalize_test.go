package main

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keygate/keygate/core/identity"
	"github.com/keygate/keygate/ports"
)

// seedOld stores users with e-mails as an older release stored them, bypassing today's
// normalisation; it returns their ids by stored e-mail.
func seedOld(t *testing.T, tl *tool, emails ...string) map[string]string {
	t.Helper()
	ids := map[string]string{}
	for _, e := range emails {
		u := identity.User{ID: identity.NewID(), Email: e, CreatedAt: time.Now(), UpdatedAt: time.Now()}
		if err := tl.users.Create(t.Context(), u); err != nil {
			t.Fatalf("seed %q: %v", e, err)
		}
		ids[e] = u.ID
	}
	return ids
}

type renormOut struct {
	Checked int
	Applied bool
	Rows    []renormRow
}

func renormJSON(t *testing.T, c cli, args ...string) (renormOut, error) {
	t.Helper()
	out, err := ctl(t, c, append([]string{"users", "renormalize", "-json"}, args...)...)
	var got renormOut
	if jerr := json.Unmarshal([]byte(out), &got); jerr != nil {
		t.Fatalf("output is not JSON: %v\n%s", jerr, out)
	}
	return got, err
}

// TestUsersRenormalize: rows stored in an older form are reported (dry run) and rewritten
// (-apply); users whose forms collide (an old row beside the account that holds the address,
// two old rows of one address) and an address today's rules refuse are reported, never
// touched, and make the command fail until a person decides.
func TestUsersRenormalize(t *testing.T) {
	c, tl := memoryCLI(t, "alice@example.org", "carol@example.org")
	ids := seedOld(t, tl,
		"bob@\uff45xample.org",   // fullwidth e in the domain
		"\u00c9mile@example.org", // upper-case É: not folded before
		"carol@\uff45xample.org", // collides with the registered carol@example.org
		"dave@\uff45xample.org",  // these two collide with each other
		"dave@ex\uff41mple.org",  //
		"eve\u200b@example.org",  // a zero-width space: refused today
	)
	carol, err := tl.users.ByEmail(t.Context(), "carol@example.org")
	if err != nil {
		t.Fatal(err)
	}
	ids["carol@example.org"] = carol.ID
	want := []renormRow{
		{Status: "change", ID: ids["bob@\uff45xample.org"], Email: "bob@\uff45xample.org", Form: "bob@example.org"},
		{Status: "collision", Group: 1, Form: "carol@example.org"},
		{Status: "collision", Group: 1, Form: "carol@example.org"},
		{Status: "collision", Group: 2, Form: "dave@example.org"},
		{Status: "collision", Group: 2, Form: "dave@example.org"},
		{Status: "change", ID: ids["\u00c9mile@example.org"], Email: "\u00c9mile@example.org", Form: "\u00e9mile@example.org"},
		{Status: "invalid", ID: ids["eve\u200b@example.org"], Email: "eve\u200b@example.org"},
	}
	ignore := func(got []renormRow) []renormRow {
		out := make([]renormRow, len(got))
		for i, r := range got {
			r.Reason = ""
			if r.Status == "collision" {
				r.ID, r.Email = "", ""
			}
			out[i] = r
		}
		return out
	}
	collided := func(got []renormRow) map[string]string { // id -> stored e-mail of every collision row
		m := map[string]string{}
		for _, r := range got {
			if r.Status == "collision" {
				m[r.ID] = r.Email
			}
		}
		return m
	}
	wantCollided := map[string]string{carol.ID: "carol@example.org", ids["carol@\uff45xample.org"]: "carol@\uff45xample.org",
		ids["dave@\uff45xample.org"]: "dave@\uff45xample.org", ids["dave@ex\uff41mple.org"]: "dave@ex\uff41mple.org"}

	// Dry run: the report, nothing written, a failure naming the collisions.
	got, err := renormJSON(t, c)
	if err == nil || !strings.Contains(err.Error(), "4 in collisions") || !strings.Contains(err.Error(), "1 with an address") {
		t.Errorf("dry run error = %v, want a failure counting 4 users in collisions and 1 refused", err)
	}
	if diff := cmp.Diff(want, ignore(got.Rows)); diff != "" {
		t.Errorf("dry run rows (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantCollided, collided(got.Rows)); diff != "" {
		t.Errorf("collision members (-want +got):\n%s", diff)
	}
	if got.Checked != 8 || got.Applied {
		t.Errorf("checked %d, applied %t; want 8, false", got.Checked, got.Applied)
	}
	if _, err := tl.users.ByEmail(t.Context(), "bob@example.org"); !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("the dry run wrote bob's new form: ByEmail = %v", err)
	}

	// The table a person reads.
	text, _ := ctl(t, c, "users", "renormalize")
	for _, s := range []string{"STATUS", "collision", `"dave@ｅxample.org"`, "bob@example.org",
		"8 users checked: 1 in the current form, 2 to rewrite (dry run: -apply writes them), 4 in collisions"} {
		if !strings.Contains(text, s) {
			t.Errorf("table lacks %q:\n%s", s, text)
		}
	}

	// -apply: the two old forms rewritten, the collisions and the refused address untouched.
	got, err = renormJSON(t, c, "-apply")
	if err == nil {
		t.Error("-apply with collisions left succeeded")
	}
	want[0].Status, want[5].Status = "changed", "changed"
	if diff := cmp.Diff(want, ignore(got.Rows)); diff != "" {
		t.Errorf("-apply rows (-want +got):\n%s", diff)
	}
	for stored, form := range map[string]string{"bob@\uff45xample.org": "bob@example.org", "\u00c9mile@example.org": "\u00e9mile@example.org"} {
		u, err := tl.users.ByEmail(t.Context(), form)
		if err != nil || u.ID != ids[stored] {
			t.Errorf("ByEmail(%q) after -apply = %s, %v; want user %s", form, u.ID, err, ids[stored])
		}
	}
	for id, stored := range wantCollided {
		if u, err := tl.users.ByID(t.Context(), id); err != nil || u.Email != stored {
			t.Errorf("collision member %s = %q, %v; want untouched %q", id, u.Email, err, stored)
		}
	}
	if u, err := tl.users.ByID(t.Context(), ids["eve\u200b@example.org"]); err != nil || u.Email != "eve\u200b@example.org" {
		t.Errorf("refused address = %q, %v; want untouched", u.Email, err)
	}
	// The account is found again by what its owner types (before -apply it was not).
	if u, err := tl.resolve(t.Context(), "Bob@\uff45xample.org"); err != nil || u.ID != ids["bob@\uff45xample.org"] {
		t.Errorf("resolve(Bob@ｅxample.org) after -apply = %s, %v; want bob", u.ID, err)
	}

	// Once a person has resolved the collisions and the refused address, the command passes.
	for _, id := range []string{ids["carol@\uff45xample.org"], ids["dave@ex\uff41mple.org"], ids["eve\u200b@example.org"]} {
		if _, err := tl.users.Update(t.Context(), id, func(u *identity.User) error {
			u.Email = "retired-" + u.ID + "@example.org"
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := renormJSON(t, c, "-apply"); err != nil {
		t.Errorf("-apply after the collisions were resolved: %v", err)
	}
	got, err = renormJSON(t, c)
	if err != nil || len(got.Rows) != 0 {
		t.Errorf("dry run after everything is current = %+v, %v; want nothing to do", got.Rows, err)
	}
}
