package ports

import "context"

// PasswordHasher hashes and verifies passwords (argon2id). It bounds the number of concurrent
// hashes: when that many are running and the caller's context ends first, it returns
// ErrUnavailable. Safe for concurrent use.
type PasswordHasher interface {
	// Hash returns a self-describing (PHC) hash of password.
	Hash(ctx context.Context, password string) (string, error)
	// Verify reports whether password matches hash. An empty hash (unknown user) costs the
	// same work as a real one and reports false, so the two cannot be told apart by timing.
	Verify(ctx context.Context, hash, password string) (bool, error)
	// NeedsRehash reports whether hash was made with parameters other than those Hash uses
	// now (or cannot be read): after a successful login the caller stores a fresh Hash of
	// the password. It does no hashing.
	NeedsRehash(hash string) bool
}
