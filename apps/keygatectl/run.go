package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/keygate/keygate/adapters/jose"
	"github.com/keygate/keygate/apps/internal/env"
	"github.com/keygate/keygate/core/key"
)

const usage = `usage: keygatectl <command>

commands:
  keys generate [-raw]   print a new Ed25519 signing key as JSON: its kid (RFC 7638
                         thumbprint), its public JWK, and its private seed sealed under
                         KEYGATE_KEK (base64 of 32 bytes), or raw with -raw
  help                   print this message
`

// errUsage is returned, after the usage is printed, for a command line keygatectl does not
// understand.
var errUsage = errors.New("keygatectl: unknown command (see usage above)")

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) < 2 {
		fmt.Fprint(stdout, usage)
		return errUsage
	}
	switch {
	case args[1] == "help" || args[1] == "-h" || args[1] == "--help":
		fmt.Fprint(stdout, usage)
		return nil
	case args[1] == "keys" && len(args) >= 3 && args[2] == "generate":
		return keysGenerate(args[3:], getenv, stdout)
	default:
		fmt.Fprint(stdout, usage)
		return errUsage
	}
}

// generated is what keys generate prints.
type generated struct {
	Kid         string          `json:"kid"`
	PublicJWK   json.RawMessage `json:"public_jwk"`
	Sealed      string          `json:"sealed,omitempty"`       // base64 (std) of key.Seal's output
	PrivateSeed string          `json:"private_seed,omitempty"` // base64url of the 32-byte seed, with -raw
	CreatedAt   time.Time       `json:"created_at"`
}

func keysGenerate(args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("keys generate", flag.ContinueOnError)
	fs.SetOutput(stdout)
	raw := fs.Bool("raw", false, "print the raw private seed instead of sealing it under KEYGATE_KEK")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("keygatectl: keys generate: %w", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("keygatectl: keys generate: unexpected arguments %q", fs.Args())
	}
	r := env.New(getenv)
	kek := r.Base64("KEYGATE_KEK", 32)
	if err := r.Err(); err != nil {
		return err
	}
	if kek == nil && !*raw {
		return errors.New("keygatectl: keys generate: set KEYGATE_KEK (base64 of 32 bytes) to seal the private key, or pass -raw to print it unsealed")
	}
	now := time.Now().UTC()
	k, err := key.Generate(nil, 0, now, now)
	if err != nil {
		return fmt.Errorf("keygatectl: %w", err)
	}
	set, err := jose.NewTokenIssuer().JWKS([]key.Key{k})
	if err != nil {
		return fmt.Errorf("keygatectl: %w", err)
	}
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(set, &doc); err != nil || len(doc.Keys) != 1 {
		return fmt.Errorf("keygatectl: unexpected JWKS %s", set)
	}
	out := generated{Kid: k.ID, PublicJWK: doc.Keys[0], CreatedAt: now}
	if *raw {
		out.PrivateSeed = base64.RawURLEncoding.EncodeToString(k.Private.Seed())
	} else {
		sealed, err := key.Seal(k, kek)
		if err != nil {
			return fmt.Errorf("keygatectl: %w", err)
		}
		out.Sealed = base64.StdEncoding.EncodeToString(sealed.Sealed)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
