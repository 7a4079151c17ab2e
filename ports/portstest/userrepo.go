package portstest

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/core/identity"
	"github.com/keygate/keygate/ports"
)

// RunUserRepo runs the contract suite of ports.UserRepo. open returns a fresh, empty repo.
// User ids are 32 lower-case hex characters (identity.NewID); e-mails up to 254 bytes and
// link subjects up to 200 bytes carry odd bytes.
func RunUserRepo(t *testing.T, open func(t *testing.T) ports.UserRepo) {
	t.Helper()
	t.Run("RoundTrip", func(t *testing.T) { testUserRoundTrip(t, open(t)) })
	t.Run("NotFound", func(t *testing.T) { testUserNotFound(t, open(t)) })
	t.Run("CreateConflict", func(t *testing.T) { testUserConflict(t, open(t)) })
	t.Run("ConcurrentCreateOneEmail", func(t *testing.T) { testUserCreateRace(t, open(t)) })
	t.Run("EmailComparedByteForByte", func(t *testing.T) { testUserEmailBytes(t, open(t)) })
	t.Run("Update", func(t *testing.T) { testUserUpdate(t, open(t)) })
	t.Run("UpdateCannotChangeIDOrCreatedAt", func(t *testing.T) { testUserUpdateImmutable(t, open(t)) })
	t.Run("UpdateToTakenEmail", func(t *testing.T) { testUserUpdateTaken(t, open(t)) })
	t.Run("UpdateEmailToItsNewForm", func(t *testing.T) { testUserRenormalise(t, open(t)) })
	t.Run("UpdateFailureWritesNothing", func(t *testing.T) { testUserUpdateFails(t, open(t)) })
	t.Run("UpdatesAreSerialised", func(t *testing.T) { testUserUpdatesSerialised(t, open(t)) })
	t.Run("List", func(t *testing.T) { testUserList(t, open(t)) })
	t.Run("CountRole", func(t *testing.T) { testUserCountRole(t, open(t)) })
	t.Run("Links", func(t *testing.T) { testUserLinks(t, open(t)) })
	t.Run("OddBytes", func(t *testing.T) { testUserOddBytes(t, open(t)) })
}

// newUser returns a user with every field set.
func newUser(email string) identity.User {
	now := Now()
	return identity.User{
		ID:           identity.NewID(),
		Email:        email,
		Name:         "Zoë O'Brien",
		PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
		Roles:        []string{"user", identity.RoleAdmin},
		CreatedAt:    now.Add(-time.Hour),
		UpdatedAt:    now,
	}
}

func createUsers(t *testing.T, r ports.UserRepo, us ...identity.User) {
	t.Helper()
	for _, u := range us {
		must(t, "Create "+u.Email, r.Create(t.Context(), u))
	}
}

func userByID(t *testing.T, r ports.UserRepo, id string) identity.User {
	t.Helper()
	u, err := r.ByID(t.Context(), id)
	must(t, "ByID", err)
	return u
}

func testUserRoundTrip(t *testing.T, r ports.UserRepo) {
	want := newUser("alice@example.org")
	bare := identity.User{ID: identity.NewID(), Email: "oauth-only@example.org", CreatedAt: Now(), UpdatedAt: Now()}
	disabled := newUser("off@example.org")
	disabled.Disabled = true
	disabled.Roles = nil
	flagged := newUser("flags@example.org")
	flagged.EmailVerified = true
	flagged.PasswordResetRequired = true
	createUsers(t, r, want, bare, disabled, flagged)
	for _, u := range []identity.User{want, bare, disabled, flagged} {
		if d := diff(u, userByID(t, r, u.ID)); d != "" {
			t.Errorf("ByID %s (-want +got):\n%s", u.Email, d)
		}
		got, err := r.ByEmail(t.Context(), u.Email)
		must(t, "ByEmail", err)
		if d := diff(u, got); d != "" {
			t.Errorf("ByEmail %s (-want +got):\n%s", u.Email, d)
		}
	}
}

func testUserNotFound(t *testing.T, r ports.UserRepo) {
	u := newUser("alice@example.org")
	createUsers(t, r, u)
	if _, err := r.ByID(t.Context(), identity.NewID()); !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("ByID of a missing user = %v, want ErrNotFound", err)
	}
	if _, err := r.ByEmail(t.Context(), "bob@example.org"); !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("ByEmail of a missing user = %v, want ErrNotFound", err)
	}
	called := false
	_, err := r.Update(t.Context(), identity.NewID(), func(*identity.User) error { called = true; return nil })
	if !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("Update of a missing user = %v, want ErrNotFound", err)
	}
	if called {
		t.Errorf("Update of a missing user called fn")
	}
	if _, err := r.ByLink(t.Context(), "google", "123"); !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("ByLink of a missing link = %v, want ErrNotFound", err)
	}
	err = r.Link(t.Context(), identity.Link{Provider: "google", Subject: "123", UserID: identity.NewID(), CreatedAt: Now()})
	if !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("Link to a missing user = %v, want ErrNotFound", err)
	}
}

func testUserConflict(t *testing.T, r ports.UserRepo) {
	u := newUser("alice@example.org")
	createUsers(t, r, u)
	sameID := newUser("other@example.org")
	sameID.ID = u.ID
	sameEmail := newUser(u.Email)
	for _, c := range []struct {
		name string
		u    identity.User
	}{{"same id", sameID}, {"same e-mail", sameEmail}} {
		if err := r.Create(t.Context(), c.u); !errors.Is(err, ports.ErrConflict) {
			t.Errorf("Create with the %s = %v, want ErrConflict", c.name, err)
		}
	}
	if d := diff(u, userByID(t, r, u.ID)); d != "" {
		t.Errorf("user after conflicting Creates (-want +got):\n%s", d)
	}
	if _, err := r.ByEmail(t.Context(), "other@example.org"); !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("a Create refused for its id stored its e-mail: ByEmail = %v", err)
	}
	if _, err := r.ByID(t.Context(), sameEmail.ID); !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("a Create refused for its e-mail stored its id: ByID = %v", err)
	}
}

func testUserCreateRace(t *testing.T, r ports.UserRepo) {
	errs := make([]error, racers)
	race(racers, func(i int) { errs[i] = r.Create(t.Context(), newUser("race@example.org")) })
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, ports.ErrConflict):
			t.Errorf("racing Create = %v, want nil or ErrConflict", err)
		}
	}
	if wins != 1 {
		t.Errorf("%d of %d racing Creates with one e-mail succeeded, want 1", wins, racers)
	}
	users, err := r.List(t.Context(), "", 100)
	must(t, "List", err)
	if len(users) != 1 {
		t.Errorf("%d users stored after racing Creates with one e-mail, want 1", len(users))
	}
}

func testUserEmailBytes(t *testing.T, r ports.UserRepo) {
	// Each pair must be two accounts: a case-, accent- or width-insensitive collation, a
	// normalising lookup or a padding comparison would merge them (the 2019 GitHub reset bug).
	pairs := []struct {
		name string
		a, b string
	}{
		{"dotless i", "mike@x.example", "mıke@x.example"},
		{"case", "mike@y.example", "Mike@y.example"},
		{"sharp s", "strasse@x.example", "straße@x.example"},
		{"fullwidth", "a@x.example", "ａ@x.example"},
		{"accent", "rene@x.example", "rené@x.example"},
		{"composed and decomposed", "josé@x.example", "jose\u0301@x.example"},
		{"kelvin sign", "k@x.example", "\u212a@x.example"},
		{"ligature", "office@x.example", "o\ufb03ce@x.example"},
	}
	for _, p := range pairs {
		t.Run(p.name, func(t *testing.T) {
			a, b := newUser(p.a), newUser(p.b)
			createUsers(t, r, a, b)
			for _, u := range []identity.User{a, b} {
				got, err := r.ByEmail(t.Context(), u.Email)
				must(t, "ByEmail", err)
				if got.ID != u.ID || got.Email != u.Email {
					t.Errorf("ByEmail(%q) = %q (%s), want %q (%s)", u.Email, got.Email, got.ID, u.Email, u.ID)
				}
			}
		})
	}
	// A trailing space is not ignored (PAD SPACE collations ignore it).
	if _, err := r.ByEmail(t.Context(), "mike@x.example "); !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("ByEmail with a trailing space = %v, want ErrNotFound", err)
	}
	if _, err := r.ByEmail(t.Context(), "MIKE@X.EXAMPLE"); !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("ByEmail in upper case = %v, want ErrNotFound", err)
	}
}

func testUserUpdate(t *testing.T, r ports.UserRepo) {
	u := newUser("alice@example.org")
	createUsers(t, r, u)
	want := u
	want.Email = "alice2@example.org"
	want.Name = "Alice"
	want.Roles = []string{"user"}
	want.Disabled = true
	want.EmailVerified = true
	want.PasswordResetRequired = true
	want.PasswordHash = "$argon2id$new"
	want.UpdatedAt = Now().Add(time.Second)
	got, err := r.Update(t.Context(), u.ID, func(u *identity.User) error {
		u.Email, u.Name, u.Roles, u.Disabled = want.Email, want.Name, want.Roles, want.Disabled
		u.PasswordHash, u.UpdatedAt = want.PasswordHash, want.UpdatedAt
		u.EmailVerified, u.PasswordResetRequired = true, true
		return nil
	})
	must(t, "Update", err)
	if d := diff(want, got); d != "" {
		t.Errorf("Update result (-want +got):\n%s", d)
	}
	if d := diff(want, userByID(t, r, u.ID)); d != "" {
		t.Errorf("ByID after Update (-want +got):\n%s", d)
	}
	if _, err := r.ByEmail(t.Context(), u.Email); !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("ByEmail of the old e-mail after Update = %v, want ErrNotFound", err)
	}
	got, err = r.ByEmail(t.Context(), want.Email)
	must(t, "ByEmail of the new e-mail", err)
	if got.ID != u.ID {
		t.Errorf("ByEmail of the new e-mail = user %s, want %s", got.ID, u.ID)
	}
	// The old e-mail is free again.
	createUsers(t, r, newUser(u.Email))
}

func testUserUpdateImmutable(t *testing.T, r ports.UserRepo) {
	u := newUser("alice@example.org")
	createUsers(t, r, u)
	otherID := identity.NewID()
	got, err := r.Update(t.Context(), u.ID, func(v *identity.User) error {
		v.ID = otherID
		v.CreatedAt = v.CreatedAt.Add(-time.Hour)
		v.Name = "renamed"
		return nil
	})
	// Refusing the change or ignoring it are both fine; storing it is not.
	if err == nil && (got.ID != u.ID || !got.CreatedAt.Equal(u.CreatedAt)) {
		t.Errorf("Update result has id %s created %v, want %s created %v", got.ID, got.CreatedAt, u.ID, u.CreatedAt)
	}
	stored := userByID(t, r, u.ID)
	if !stored.CreatedAt.Equal(u.CreatedAt) {
		t.Errorf("stored CreatedAt = %v, want %v", stored.CreatedAt, u.CreatedAt)
	}
	if _, err := r.ByID(t.Context(), otherID); !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("ByID of the id fn tried to set = %v, want ErrNotFound", err)
	}
}

func testUserUpdateTaken(t *testing.T, r ports.UserRepo) {
	a, b := newUser("a@example.org"), newUser("b@example.org")
	createUsers(t, r, a, b)
	_, err := r.Update(t.Context(), b.ID, func(u *identity.User) error {
		u.Email = a.Email
		u.Name = "changed"
		return nil
	})
	if !errors.Is(err, ports.ErrConflict) {
		t.Errorf("Update to a taken e-mail = %v, want ErrConflict", err)
	}
	for _, u := range []identity.User{a, b} {
		if d := diff(u, userByID(t, r, u.ID)); d != "" {
			t.Errorf("user %s after the refused Update (-want +got):\n%s", u.Email, d)
		}
	}
	got, err := r.ByEmail(t.Context(), a.Email)
	must(t, "ByEmail", err)
	if got.ID != a.ID {
		t.Errorf("ByEmail(%q) = user %s, want %s", a.Email, got.ID, a.ID)
	}
	// Keeping one's own e-mail is no conflict.
	_, err = r.Update(t.Context(), a.ID, func(u *identity.User) error { u.Name = "same e-mail"; return nil })
	must(t, "Update keeping the e-mail", err)
}

func testUserUpdateFails(t *testing.T, r ports.UserRepo) {
	u := newUser("alice@example.org")
	createUsers(t, r, u)
	_, err := r.Update(t.Context(), u.ID, func(u *identity.User) error {
		u.Email = "moved@example.org"
		u.Disabled = true
		u.Roles = append(u.Roles, "root")
		return errRefused
	})
	if !errors.Is(err, errRefused) {
		t.Errorf("Update whose fn fails = %v, want fn's error", err)
	}
	if d := diff(u, userByID(t, r, u.ID)); d != "" {
		t.Errorf("user after a failed Update (-want +got):\n%s", d)
	}
	if _, err := r.ByEmail(t.Context(), "moved@example.org"); !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("a failed Update stored its e-mail: ByEmail = %v", err)
	}
}

func testUserUpdatesSerialised(t *testing.T, r ports.UserRepo) {
	u := newUser("alice@example.org")
	u.Name = ""
	createUsers(t, r, u)
	errs := make([]error, racers)
	race(racers, func(i int) {
		_, errs[i] = r.Update(t.Context(), u.ID, func(u *identity.User) error { u.Name += "x"; return nil })
	})
	ok := 0
	for _, err := range errs {
		if err != nil {
			t.Logf("racing Update: %v", err)
			continue
		}
		ok++
	}
	if ok == 0 {
		t.Fatalf("every racing Update failed")
	}
	if got := userByID(t, r, u.ID).Name; len(got) != ok {
		t.Errorf("name after %d successful racing Updates has %d x, want %d: an update was lost", ok, len(got), ok)
	}
}

// testUserCountRole: only users that are not disabled count, a role matches exactly (not a
// prefix, not another case), and a change is counted at once.
func testUserCountRole(t *testing.T, r ports.UserRepo) {
	count := func(role string) int {
		t.Helper()
		n, err := r.CountRole(t.Context(), role)
		must(t, "CountRole "+role, err)
		return n
	}
	if n := count(identity.RoleAdmin); n != 0 {
		t.Fatalf("CountRole(admin) of an empty store = %d", n)
	}
	a, b, c := newUser("a@example.org"), newUser("b@example.org"), newUser("c@example.org")
	c.Disabled = true
	plain := newUser("d@example.org")
	plain.Roles = []string{"administrator", "Admin", "billing"}
	createUsers(t, r, a, b, c, plain)
	for role, want := range map[string]int{identity.RoleAdmin: 2, "user": 2, "billing": 1, "adm": 0, "ADMIN": 0, "nobody": 0, "admin\x00": 0, "\xff": 0} {
		if n := count(role); n != want {
			t.Errorf("CountRole(%q) = %d, want %d", role, n, want)
		}
	}
	_, err := r.Update(t.Context(), a.ID, func(u *identity.User) error { u.Roles = []string{"user"}; return nil })
	must(t, "Update", err)
	_, err = r.Update(t.Context(), c.ID, func(u *identity.User) error { u.Disabled = false; return nil })
	must(t, "Update", err)
	if n := count(identity.RoleAdmin); n != 2 {
		t.Errorf("CountRole(admin) after one admin lost the role and a disabled one came back = %d, want 2", n)
	}
}

func testUserList(t *testing.T, r ports.UserRepo) {
	var want []identity.User
	for i := range 7 {
		want = append(want, newUser(fmt.Sprintf("u%d@example.org", i)))
	}
	createUsers(t, r, want...)
	sort.Slice(want, func(i, j int) bool { return want[i].ID < want[j].ID })
	var got []identity.User
	after := ""
	for range 10 {
		page, err := r.List(t.Context(), after, 3)
		must(t, "List", err)
		if len(page) > 3 {
			t.Fatalf("List with limit 3 returned %d users", len(page))
		}
		if len(page) == 0 {
			break
		}
		got = append(got, page...)
		after = page[len(page)-1].ID
	}
	if d := diff(want, got); d != "" {
		t.Errorf("users listed page by page (-want +got):\n%s", d)
	}
	page, err := r.List(t.Context(), want[4].ID, 100)
	must(t, "List", err)
	if d := diff(want[5:], page); d != "" {
		t.Errorf("List after the fifth id (-want +got):\n%s", d)
	}
}

func testUserLinks(t *testing.T, r ports.UserRepo) {
	a, b := newUser("a@example.org"), newUser("b@example.org")
	createUsers(t, r, a, b)
	links := []identity.Link{
		{Provider: "google", Subject: "1001", UserID: a.ID, CreatedAt: Now()},
		{Provider: "github", Subject: "1001", UserID: b.ID, CreatedAt: Now()}, // same subject, other provider
		{Provider: "github", Subject: "1002", UserID: a.ID, CreatedAt: Now()}, // a second link of a
	}
	for _, l := range links {
		must(t, "Link", r.Link(t.Context(), l))
	}
	for _, l := range links {
		got, err := r.ByLink(t.Context(), l.Provider, l.Subject)
		must(t, "ByLink", err)
		if got.ID != l.UserID {
			t.Errorf("ByLink(%s, %s) = user %s, want %s", l.Provider, l.Subject, got.ID, l.UserID)
		}
	}
	for _, l := range []identity.Link{
		{Provider: "google", Subject: "1001", UserID: a.ID, CreatedAt: Now()},
		{Provider: "google", Subject: "1001", UserID: b.ID, CreatedAt: Now()},
	} {
		if err := r.Link(t.Context(), l); !errors.Is(err, ports.ErrConflict) {
			t.Errorf("Link of a mapped pair to %s = %v, want ErrConflict", l.UserID, err)
		}
	}
	got, err := r.ByLink(t.Context(), "google", "1001")
	must(t, "ByLink", err)
	if got.ID != a.ID {
		t.Errorf("a refused Link remapped the pair to user %s", got.ID)
	}
	if _, err := r.ByLink(t.Context(), "Google", "1001"); !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("ByLink with the provider in another case = %v, want ErrNotFound", err)
	}

	// Of racing links of one pair exactly one wins.
	errs := make([]error, racers)
	race(racers, func(i int) {
		u := a
		if i%2 == 1 {
			u = b
		}
		errs[i] = r.Link(t.Context(), identity.Link{Provider: "race", Subject: "s", UserID: u.ID, CreatedAt: Now()})
	})
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, ports.ErrConflict):
			t.Errorf("racing Link = %v, want nil or ErrConflict", err)
		}
	}
	if wins != 1 {
		t.Errorf("%d of %d racing Links of one pair succeeded, want 1", wins, racers)
	}
}

func testUserOddBytes(t *testing.T, r ports.UserRepo) {
	for _, k := range oddKeys(200) {
		t.Run(k.name, func(t *testing.T) {
			local := strings.ReplaceAll(k.key, " ", "_")
			if len(local) > 64 {
				local = local[:64]
			}
			email := local + "@" + strings.Repeat("d", 180) + ".example"
			u := newUser(email)
			u.Name = k.key[:min(len(k.key), 100)]
			createUsers(t, r, u)
			got, err := r.ByEmail(t.Context(), email)
			must(t, "ByEmail", err)
			if d := diff(u, got); d != "" {
				t.Errorf("ByEmail (-want +got):\n%s", d)
			}
			l := identity.Link{Provider: "oidc:" + k.name, Subject: k.key, UserID: u.ID, CreatedAt: Now()}
			must(t, "Link", r.Link(t.Context(), l))
			got, err = r.ByLink(t.Context(), l.Provider, l.Subject)
			must(t, "ByLink", err)
			if got.ID != u.ID {
				t.Errorf("ByLink = user %s, want %s", got.ID, u.ID)
			}
		})
	}
	if _, err := r.ByEmail(t.Context(), "%@%"); !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("ByEmail with SQL wildcards = %v, want ErrNotFound", err)
	}
	if _, err := r.ByLink(t.Context(), "oidc:glob", "*"); !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("ByLink with a glob = %v, want ErrNotFound", err)
	}
}

// testUserRenormalise: what keygatectl users renormalize does. Users stored in older forms of
// one address (a fullwidth letter, a decomposed one) are distinct rows; rewriting one to the
// current form frees its old form, and rewriting a second to the same form is ErrConflict
// (the unique key, compared byte for byte), leaving it as it was.
func testUserRenormalise(t *testing.T, r ports.UserRepo) {
	for _, p := range []struct{ name, old1, old2, form string }{
		{"fullwidth", "dave@\uff45xample.org", "dave@ex\uff41mple.org", "dave@example.org"},
		{"decomposed", "J\u030c@example.org", "j\u030c@example.org", "\u01f0@example.org"},
	} {
		t.Run(p.name, func(t *testing.T) {
			a, b := newUser(p.old1), newUser(p.old2)
			createUsers(t, r, a, b)
			_, err := r.Update(t.Context(), a.ID, func(u *identity.User) error { u.Email = p.form; return nil })
			must(t, "Update to the new form", err)
			if got, err := r.ByEmail(t.Context(), p.form); err != nil || got.ID != a.ID {
				t.Errorf("ByEmail(%q) = %s, %v; want user %s", p.form, got.ID, err, a.ID)
			}
			if _, err := r.ByEmail(t.Context(), p.old1); !errors.Is(err, ports.ErrNotFound) {
				t.Errorf("ByEmail of the old form after Update = %v, want ErrNotFound", err)
			}
			_, err = r.Update(t.Context(), b.ID, func(u *identity.User) error { u.Email = p.form; return nil })
			if !errors.Is(err, ports.ErrConflict) {
				t.Errorf("Update of a second user to the same form = %v, want ErrConflict", err)
			}
			if d := diff(b, userByID(t, r, b.ID)); d != "" {
				t.Errorf("the second user after the refused Update (-want +got):\n%s", d)
			}
		})
	}
}
