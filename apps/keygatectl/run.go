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

const usage = `usage: keygatectl <command> [flags] [arguments]

keygatectl reads the same environment as authd (docs/configuration.md): REDIS_ADDR, DB_HOST
(or DATABASE_URL), KEYGATE_KEK, KEYGATE_REFRESH_SECRET... and works on the same stores, through
the same use cases as the admin API. Without a database (KEYGATE_DEV=1 alone) authd's users
and keys live in its own memory: keygatectl refuses rather than act on an empty store of its
own. Every command takes -json for output machines read.

commands:
  migrate                         apply the embedded schema migrations to the database
                                  (needs only DB_DRIVER, DB_* or DATABASE_URL)
  keys list                       the signing-key ring: kid, slot, state, times
  keys rotate                     create the next key now; it is published for 2x
                                  KEYGATE_JWKS_MAX_AGE before it signs
  keys retire [-compromised] [--] KID
                                  stop key KID signing now; it stays published until
                                  the tokens it signed expire, or, with -compromised, leaves
                                  the JWKS at once so every verifier refuses its tokens (a KID
                                  may begin with "-": it is taken as it is, or after --)
  keys generate [-raw]            print a new Ed25519 signing key as JSON: its kid (RFC 7638
                                  thumbprint), its public JWK, and its private seed sealed under
                                  KEYGATE_KEK (base64 of 32 bytes), or raw with -raw
  users list [-after ID] [-limit N]
                                  users ordered by id, N per page (default 100, at most 1000)
  users disable USER_ID_OR_EMAIL  disable a user: every session and token revoked at once,
                                  pushed to every verifier
  users renormalize [-apply]      compare every stored e-mail with its form under the current
                                  normalisation rules: report rows in an older form, users
                                  whose forms collide, and addresses now refused; -apply
                                  rewrites the old forms that collide with nobody. Collisions
                                  are never merged or touched; any left: non-zero exit
  users enable USER_ID_OR_EMAIL   re-enable a disabled user (their revoked tokens stay revoked)
  users force-reset USER_ID_OR_EMAIL
                                  require a new password: the current one stops logging in,
                                  every session and token is revoked, and a reset link is
                                  mailed (needs KEYGATE_SMTP_*)
  users grant USER_ID_OR_EMAIL ROLE
                                  give a user a role; their tokens carry it from the next
                                  refresh or login
  users revoke-role USER_ID_OR_EMAIL ROLE
                                  take a role away at once: every earlier token of the user
                                  revoked at every verifier; sessions stay and refresh to
                                  tokens with the current roles
  audit USER_ID_OR_EMAIL [-limit N]
                                  a user's audit events, newest first (default 100)
  help                            print this message
`

// errUsage is returned, after the usage is printed, for a command line keygatectl does not
// understand.
var errUsage = errors.New("keygatectl: unknown command (see usage above)")

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	return cli{open: open}.run(ctx, args, getenv, stdout)
}

// cli runs keygatectl's commands; open wires the tool of a configuration, with the use cases
// when full (tests share one memory tool between commands).
type cli struct {
	open func(ctx context.Context, getenv func(string) string, full bool) (*tool, func(), error)
}

func (c cli) run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) < 2 {
		fmt.Fprint(stdout, usage)
		return errUsage
	}
	cmd, sub := args[1], ""
	if len(args) >= 3 {
		sub = args[2]
	}
	switch {
	case cmd == "help" || cmd == "-h" || cmd == "--help":
		fmt.Fprint(stdout, usage)
		return nil
	case cmd == "migrate":
		return migrate(ctx, args[2:], getenv, stdout)
	case cmd == "keys" && sub == "generate":
		return keysGenerate(args[3:], getenv, stdout)
	case cmd == "keys" && sub == "list":
		return c.keysList(ctx, args[3:], getenv, stdout)
	case cmd == "keys" && sub == "rotate":
		return c.keysRotate(ctx, args[3:], getenv, stdout)
	case cmd == "keys" && sub == "retire":
		return c.keysRetire(ctx, args[3:], getenv, stdout)
	case cmd == "users" && sub == "list":
		return c.usersList(ctx, args[3:], getenv, stdout)
	case cmd == "users" && sub == "disable":
		return c.usersDisable(ctx, args[3:], getenv, stdout)
	case cmd == "users" && sub == "renormalize":
		return c.usersRenormalize(ctx, args[3:], getenv, stdout)
	case cmd == "users" && sub == "enable":
		return c.usersEnable(ctx, args[3:], getenv, stdout)
	case cmd == "users" && sub == "force-reset":
		return c.usersForceReset(ctx, args[3:], getenv, stdout)
	case cmd == "users" && sub == "grant":
		return c.usersRole(ctx, "users grant", args[3:], getenv, stdout)
	case cmd == "users" && sub == "revoke-role":
		return c.usersRole(ctx, "users revoke-role", args[3:], getenv, stdout)
	case cmd == "audit":
		return c.audit(ctx, args[2:], getenv, stdout)
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
