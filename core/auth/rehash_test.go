package auth

import (
	"errors"
	"strings"
	"testing"

	"github.com/keygate/keygate/adapters/argon2"
	"github.com/keygate/keygate/core/identity"
)

// A hash made under older argon2 parameters is replaced, at the next successful login, by one
// under the configured parameters; the password keeps working and nothing is rehashed twice.
func TestLoginRehashesOldParameters(t *testing.T) {
	e := newEnv(t)
	old, err := argon2.New(argon2.Config{Memory: 32, Time: 1, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	oldHash, err := old.Hash(t.Context(), testPassword)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(oldHash, "$m=32,t=1,p=1$") {
		t.Fatalf("old hash %q", oldHash)
	}
	alice := identity.User{ID: identity.NewID(), Email: "alice@example.org", PasswordHash: oldHash,
		CreatedAt: t0, UpdatedAt: t0}
	if err := e.users.Create(t.Context(), alice); err != nil {
		t.Fatal(err)
	}
	stored := func() string {
		u, err := e.users.ByID(t.Context(), alice.ID)
		if err != nil {
			t.Fatal(err)
		}
		return u.PasswordHash
	}

	// A wrong password rehashes nothing.
	if _, err := e.svc.Login(t.Context(), "alice@example.org", "not the password", client); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatal(err)
	}
	if stored() != oldHash {
		t.Fatal("a failed login changed the stored hash")
	}

	e.claims(t, e.login(t, "alice@example.org").AccessToken)
	rehashed := stored()
	if !strings.Contains(rehashed, "$m=64,t=1,p=1$") || e.hasher.NeedsRehash(rehashed) {
		t.Fatalf("stored hash after login = %q, want the configured parameters m=64,t=1,p=1", rehashed)
	}
	hashes := e.hasher.hashes.Load()
	e.claims(t, e.login(t, "alice@example.org").AccessToken) // the new hash verifies
	if stored() != rehashed || e.hasher.hashes.Load() != hashes {
		t.Error("a second login rehashed again")
	}
	if _, err := e.svc.Login(t.Context(), "alice@example.org", "not the password", client); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("wrong password after the rehash: %v", err)
	}
}
