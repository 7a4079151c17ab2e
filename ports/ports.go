// Package ports declares the interfaces between keygate's core and its adapters, one small
// file per port, and the errors they share. Each port's doc comment is its contract; the
// package portstest holds the suite every adapter of a port must pass. ports imports only the
// core's noun packages and the standard library.
package ports

import "errors"

// Errors every adapter returns (wrapped with %w) so the core can tell outcomes apart with
// errors.Is, whatever the technology behind the port.
var (
	// ErrNotFound: the thing asked for does not exist (or has expired).
	ErrNotFound = errors.New("not found")
	// ErrConflict: a uniqueness rule would be broken (an e-mail, a key slot, an id).
	ErrConflict = errors.New("conflict")
	// ErrUnavailable: the backing store cannot answer now (down, timed out, overloaded).
	// Callers answer 503 with Retry-After, never "invalid".
	ErrUnavailable = errors.New("unavailable")
)
