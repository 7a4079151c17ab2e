package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/keygate/keygate/adapters/jose"
	"github.com/keygate/keygate/apps/internal/authsvc"
	"github.com/keygate/keygate/apps/internal/env"
	"github.com/keygate/keygate/apps/internal/stores"
	"github.com/keygate/keygate/core/audit"
	"github.com/keygate/keygate/core/auth"
	"github.com/keygate/keygate/core/identity"
	"github.com/keygate/keygate/core/key"
	"github.com/keygate/keygate/core/keyring"
	"github.com/keygate/keygate/core/token"
	"github.com/keygate/keygate/ports"
)

// admin is the principal of keygatectl's admin calls; the audit log names it as the actor.
var admin = token.Claims{Subject: "keygatectl", Roles: []string{identity.RoleAdmin}}

// client is where keygatectl's calls come from, for the audit log.
var client = auth.Client{UserAgent: "keygatectl"}

// open reads authd's configuration through getenv, opens the stores of its profile and wires
// what the command needs: the key ring alone (keys commands, full false: no hasher, no use
// cases, no guard), or the tool with the use cases.
func open(ctx context.Context, getenv func(string) string, full bool) (*tool, func(), error) {
	cfg, err := authsvc.Load(getenv)
	if err != nil {
		return nil, nil, err
	}
	if cfg.Profile.InMemory() {
		return nil, nil, errOwnMemory
	}
	cfg.Listened(cfg.Port)
	log := slog.New(slog.DiscardHandler)
	st, cleanup, err := stores.Open(ctx, cfg.Config, log)
	if err != nil {
		return nil, nil, err
	}
	var t *tool
	if full {
		t, err = assembleTool(st, cfg, log)
	} else {
		var ring *keyring.Ring
		ring, err = authsvc.NewRing(keyring.Deps{Keys: st.Keys, Issuer: jose.NewTokenIssuer(), Bus: st.Bus,
			Audit: st.Audit, Clock: st.Clock}, cfg)
		t = &tool{ring: ring, cfg: cfg}
	}
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	return t, cleanup, nil
}

// errOwnMemory is the refusal of a profile whose users and keys would live in keygatectl's
// own memory: every command would act on an empty store that authd never sees.
var errOwnMemory = errors.New("keygatectl: no database is configured: with KEYGATE_DEV=1 and no DB_HOST (or DATABASE_URL), " +
	"authd keeps users and signing keys in its own memory, which keygatectl cannot reach; it would act on an empty store of its own. " +
	"Set DB_HOST (or DATABASE_URL) and REDIS_ADDR as authd has them")

// command is one subcommand's flags and arguments.
type command struct {
	name    string // "users disable"
	args    string // "USER_ID_OR_EMAIL", for the usage line
	nargs   int
	fs      *flag.FlagSet
	json    *bool
	out     io.Writer
	operand []string
	// dashOperand: an argument beginning with "-" that names no flag is an operand.
	dashOperand bool
}

func newCommand(name, args string, nargs int, stdout io.Writer) *command {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c := &command{name: name, args: args, nargs: nargs, fs: fs, out: stdout}
	c.json = fs.Bool("json", false, "print JSON")
	return c
}

// flag returns the value of the flag arg names ("-json", "--limit=5"), and whether it names
// one of c's flags or -h/-help.
func (c *command) flag(arg string) (flag.Value, bool) {
	name, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(arg, "-"), "-"), "=")
	if f := c.fs.Lookup(name); f != nil {
		return f.Value, true
	}
	return nil, name == "h" || name == "help"
}

// errHelp is returned by parse after printing a subcommand's usage for -h.
var errHelp = errors.New("help")

func (c *command) usage() string {
	var flags []string
	c.fs.VisitAll(func(f *flag.Flag) {
		switch b, ok := f.Value.(interface{ IsBoolFlag() bool }); {
		case f.Name == "json":
		case ok && b.IsBoolFlag():
			flags = append(flags, "[-"+f.Name+"]")
		default:
			flags = append(flags, "[-"+f.Name+" "+strings.ToUpper(f.Name)+"]")
		}
	})
	return strings.TrimSpace(strings.Join(append([]string{"keygatectl", c.name, "[-json]"}, append(flags, c.args)...), " "))
}

// parse reads flags anywhere on the line and checks the number of operands. After "--"
// everything is an operand. For a command whose operand may begin with "-" (a kid: base64url,
// one in 64 does), an argument that names none of its flags is an operand, not an unknown flag.
func (c *command) parse(args []string) error {
	var flags []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch f, named := c.flag(a); {
		case a == "--":
			c.operand = append(c.operand, args[i+1:]...)
			i = len(args)
		case len(a) < 2 || a[0] != '-':
			c.operand = append(c.operand, a)
		case !named && c.dashOperand:
			c.operand = append(c.operand, a)
		default:
			flags = append(flags, a)
			if b, ok := f.(interface{ IsBoolFlag() bool }); f != nil && !(ok && b.IsBoolFlag()) &&
				!strings.Contains(a, "=") && i+1 < len(args) {
				i++
				flags = append(flags, args[i]) // the flag's value, whatever it looks like
			}
		}
	}
	if err := c.fs.Parse(flags); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(c.out, "usage: "+c.usage())
			return errHelp
		}
		return fmt.Errorf("keygatectl: %s: %v (usage: %s)", c.name, err, c.usage())
	}
	if len(c.operand) != c.nargs {
		if len(c.operand) > c.nargs {
			return fmt.Errorf("keygatectl: %s: unexpected arguments %q (usage: %s)", c.name, c.operand[c.nargs:], c.usage())
		}
		return fmt.Errorf("keygatectl: %s: missing %s (usage: %s)", c.name, c.args, c.usage())
	}
	return nil
}

// print writes v as indented JSON with -json, else calls text.
func (c *command) print(v any, text func(w io.Writer)) error {
	if *c.json {
		enc := json.NewEncoder(c.out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	text(tw)
	return tw.Flush()
}

// fail prefixes err with the command, saying what a port error means to an operator.
func (c *command) fail(err error) error {
	if errors.Is(err, ports.ErrUnavailable) {
		return fmt.Errorf("keygatectl: %s: a store cannot answer now (retry later): %w", c.name, err)
	}
	return fmt.Errorf("keygatectl: %s: %w", c.name, err)
}

// withTool parses args, wires the tool and runs do.
func (cl cli) withTool(ctx context.Context, c *command, args []string, getenv func(string) string,
	do func(*tool) error) error {
	if err := c.parse(args); err != nil {
		if errors.Is(err, errHelp) {
			return nil
		}
		return err
	}
	full := !strings.HasPrefix(c.name, "keys ") // the keys commands need the ring alone
	t, cleanup, err := cl.open(ctx, getenv, full)
	if err != nil {
		var joined interface{ Unwrap() []error }
		if errors.As(err, &joined) {
			return err // the configuration's own lines, one per variable
		}
		return fmt.Errorf("keygatectl: %w", err)
	}
	defer cleanup()
	return do(t)
}

// migrate applies the schema migrations. It needs the database settings only.
func migrate(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	c := newCommand("migrate", "", 0, stdout)
	if err := c.parse(args); err != nil {
		if errors.Is(err, errHelp) {
			return nil
		}
		return err
	}
	r := env.New(getenv)
	dev := r.Flag("KEYGATE_DEV")
	db := stores.LoadDatabase(r, getenv)
	if err := r.Err(); err != nil {
		return err
	}
	type result struct {
		Driver  string `json:"driver"`
		Version int64  `json:"version"`
	}
	if !db.Configured() {
		if !dev {
			return errors.New("keygatectl: migrate: no database configured: set DB_HOST and DB_NAME (with DB_USER, DB_PASSWORD, DB_PORT, DB_DRIVER) or DATABASE_URL")
		}
		return c.print(result{Driver: "memory"}, func(w io.Writer) {
			fmt.Fprintln(w, "no database configured (KEYGATE_DEV=1, memory profile): nothing to migrate")
		})
	}
	v, err := stores.MigrateDatabase(ctx, db, slog.New(slog.DiscardHandler))
	if err != nil {
		return c.fail(err)
	}
	return c.print(result{Driver: db.Driver, Version: v}, func(w io.Writer) {
		fmt.Fprintf(w, "%s database at schema version %d\n", db.Driver, v)
	})
}

// keyRow is one key of keys list.
type keyRow struct {
	Kid         string    `json:"kid"`
	Seq         int64     `json:"seq"`
	State       string    `json:"state"` // signing, next, retired (published), expired (unpublished)
	CreatedAt   time.Time `json:"created_at"`
	ActivatesAt time.Time `json:"activates_at"`
	RetiredAt   time.Time `json:"retired_at,omitzero"`
}

func keyRows(ks []key.Key, now time.Time, p key.Policy) []keyRow {
	ring := key.Ring(ks)
	signing, _ := ring.Signing(now)
	published := map[string]bool{}
	for _, k := range ring.Published(now, p) {
		published[k.ID] = true
	}
	rows := make([]keyRow, 0, len(ks))
	for _, k := range ks {
		state := "expired"
		switch {
		case k.ID == signing.ID:
			state = "signing"
		case !published[k.ID]:
		case k.ActivatesAt.After(now) && (k.RetiredAt.IsZero() || k.RetiredAt.After(now)):
			state = "next"
		default:
			state = "retired"
		}
		rows = append(rows, keyRow{Kid: k.ID, Seq: k.Seq, State: state, CreatedAt: k.CreatedAt.UTC(),
			ActivatesAt: k.ActivatesAt.UTC(), RetiredAt: utc(k.RetiredAt)})
	}
	slices.SortFunc(rows, func(a, b keyRow) int { return int(a.Seq - b.Seq) })
	return rows
}

func utc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC()
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func (cl cli) keysList(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	c := newCommand("keys list", "", 0, stdout)
	return cl.withTool(ctx, c, args, getenv, func(t *tool) error {
		ks, err := t.ring.List(ctx)
		if err != nil {
			return c.fail(err)
		}
		rows := keyRows(ks, time.Now(), t.ring.Config().Policy)
		return c.print(map[string]any{"keys": rows}, func(w io.Writer) {
			if len(rows) == 0 {
				fmt.Fprintln(w, "no signing keys yet (authd creates the first at start)")
				return
			}
			fmt.Fprintln(w, "KID\tSEQ\tSTATE\tCREATED\tACTIVATES\tRETIRED")
			for _, r := range rows {
				fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", r.Kid, r.Seq, r.State, stamp(r.CreatedAt),
					stamp(r.ActivatesAt), stamp(r.RetiredAt))
			}
		})
	})
}

func (cl cli) keysRotate(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	c := newCommand("keys rotate", "", 0, stdout)
	return cl.withTool(ctx, c, args, getenv, func(t *tool) error {
		k, err := t.ring.Rotate(ctx)
		if errors.Is(err, ports.ErrConflict) {
			return c.fail(fmt.Errorf("another replica created a key at the same moment; run keys list, and retry if needed: %w", err))
		}
		if err != nil {
			return c.fail(err)
		}
		row := keyRow{Kid: k.ID, Seq: k.Seq, State: "next", CreatedAt: utc(k.CreatedAt), ActivatesAt: utc(k.ActivatesAt)}
		if !k.ActivatesAt.After(time.Now()) {
			row.State = "signing"
		}
		return c.print(row, func(w io.Writer) {
			fmt.Fprintf(w, "created key %s (slot %d): published now, signs from %s\n", k.ID, k.Seq, stamp(k.ActivatesAt))
		})
	})
}

func (cl cli) keysRetire(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	c := newCommand("keys retire", "KID", 1, stdout)
	c.dashOperand = true // a kid may begin with "-"
	compromised := c.fs.Bool("compromised", false, "withdraw the key from the JWKS at once")
	return cl.withTool(ctx, c, args, getenv, func(t *tool) error {
		kid := c.operand[0]
		retire, state := t.ring.Retire, "retired"
		if *compromised {
			retire, state = t.ring.Withdraw, "withdrawn"
		}
		if err := retire(ctx, kid); err != nil {
			if errors.Is(err, ports.ErrNotFound) {
				return fmt.Errorf("keygatectl: keys retire: no key %q (see keys list)", kid)
			}
			return c.fail(err)
		}
		return c.print(map[string]string{"kid": kid, "state": state}, func(w io.Writer) {
			if *compromised {
				fmt.Fprintf(w, "withdrew key %s: it signs no more and has left the JWKS; verifiers refuse its tokens once the key-change event reaches them\n", kid)
				return
			}
			fmt.Fprintf(w, "retired key %s: it signs no more and stays published until the tokens it signed expire\n", kid)
		})
	})
}

// userRow is one user of users list; the shape of the admin API's.
type userRow struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name,omitempty"`
	Roles     []string  `json:"roles"`
	Disabled  bool      `json:"disabled"`
	CreatedAt time.Time `json:"created_at"`
}

func toUserRow(u identity.User) userRow {
	roles := u.Roles
	if roles == nil {
		roles = []string{}
	}
	return userRow{ID: u.ID, Email: u.Email, Name: u.Name, Roles: roles, Disabled: u.Disabled, CreatedAt: utc(u.CreatedAt)}
}

func (cl cli) usersList(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	c := newCommand("users list", "", 0, stdout)
	after := c.fs.String("after", "", "list users with an id greater than this one (the previous page's next)")
	limit := c.fs.Int("limit", auth.DefaultPageSize, fmt.Sprintf("users per page (1 to %d)", auth.MaxPageSize))
	return cl.withTool(ctx, c, args, getenv, func(t *tool) error {
		if *limit < 1 || *limit > auth.MaxPageSize {
			return fmt.Errorf("keygatectl: users list: -limit must be from 1 to %d, got %d", auth.MaxPageSize, *limit)
		}
		us, err := t.svc.ListUsers(ctx, admin, *after, *limit)
		if err != nil {
			return c.fail(err)
		}
		out := struct {
			Users []userRow `json:"users"`
			Next  string    `json:"next,omitempty"`
		}{Users: make([]userRow, 0, len(us))}
		for _, u := range us {
			out.Users = append(out.Users, toUserRow(u))
		}
		if len(us) == *limit {
			out.Next = us[len(us)-1].ID
		}
		return c.print(out, func(w io.Writer) {
			fmt.Fprintln(w, "ID\tEMAIL\tNAME\tROLES\tDISABLED\tCREATED")
			for _, u := range out.Users {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%t\t%s\n", u.ID, u.Email, orDash(u.Name), orDash(strings.Join(u.Roles, ",")),
					u.Disabled, stamp(u.CreatedAt))
			}
			if out.Next != "" {
				fmt.Fprintf(w, "more: keygatectl users list -after %s -limit %d\n", out.Next, *limit)
			}
		})
	})
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// resolve finds the user named by an id or an e-mail address.
func (t *tool) resolve(ctx context.Context, idOrEmail string) (identity.User, error) {
	if strings.Contains(idOrEmail, "@") {
		email, err := identity.NormalizeEmail(idOrEmail, t.norm.Email)
		if err != nil {
			return identity.User{}, err
		}
		u, err := t.users.ByEmail(ctx, email)
		if errors.Is(err, ports.ErrNotFound) {
			return identity.User{}, fmt.Errorf("no user with e-mail %q", idOrEmail)
		}
		return u, err
	}
	u, err := t.users.ByID(ctx, idOrEmail)
	if errors.Is(err, ports.ErrNotFound) {
		return identity.User{}, fmt.Errorf("no user with id %q", idOrEmail)
	}
	return u, err
}

func (cl cli) usersDisable(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	c := newCommand("users disable", "USER_ID_OR_EMAIL", 1, stdout)
	return cl.withTool(ctx, c, args, getenv, func(t *tool) error {
		u, err := t.resolve(ctx, c.operand[0])
		if err != nil {
			return c.fail(err)
		}
		if err := t.svc.DisableUser(ctx, admin, u.ID, client); err != nil {
			return c.fail(err)
		}
		u.Disabled = true
		return c.print(toUserRow(u), func(w io.Writer) {
			fmt.Fprintf(w, "disabled user %s (%s): every session and token revoked\n", u.ID, u.Email)
		})
	})
}

func (cl cli) usersEnable(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	c := newCommand("users enable", "USER_ID_OR_EMAIL", 1, stdout)
	return cl.withTool(ctx, c, args, getenv, func(t *tool) error {
		u, err := t.resolve(ctx, c.operand[0])
		if err != nil {
			return c.fail(err)
		}
		if err := t.svc.EnableUser(ctx, admin, u.ID, client); err != nil {
			return c.fail(err)
		}
		u.Disabled = false
		return c.print(toUserRow(u), func(w io.Writer) {
			fmt.Fprintf(w, "enabled user %s (%s): they may log in again\n", u.ID, u.Email)
		})
	})
}

func (cl cli) usersForceReset(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	c := newCommand("users force-reset", "USER_ID_OR_EMAIL", 1, stdout)
	return cl.withTool(ctx, c, args, getenv, func(t *tool) error {
		u, err := t.resolve(ctx, c.operand[0])
		if err != nil {
			return c.fail(err)
		}
		if err := t.svc.ForcePasswordReset(ctx, admin, u.ID, client); err != nil {
			if errors.Is(err, auth.ErrMailDisabled) {
				return c.fail(fmt.Errorf("%w: set KEYGATE_SMTP_ADDR and KEYGATE_SMTP_FROM as authd has them, or the user could never set a password", err))
			}
			return c.fail(err)
		}
		t.svc.WaitMail()
		u.PasswordResetRequired = true
		return c.print(toUserRow(u), func(w io.Writer) {
			fmt.Fprintf(w, "forced a password reset for user %s (%s): every session and token revoked, a reset link mailed\n", u.ID, u.Email)
		})
	})
}

// usersRole is users grant and users revoke-role (name says which).
func (cl cli) usersRole(ctx context.Context, name string, args []string, getenv func(string) string, stdout io.Writer) error {
	c := newCommand(name, "USER_ID_OR_EMAIL ROLE", 2, stdout)
	return cl.withTool(ctx, c, args, getenv, func(t *tool) error {
		u, err := t.resolve(ctx, c.operand[0])
		if err != nil {
			return c.fail(err)
		}
		role := c.operand[1]
		do, said := t.svc.GrantRole, "granted role %s to user %s (%s): their tokens carry it from the next refresh or login\n"
		if name == "users revoke-role" {
			do, said = t.svc.RevokeRole, "revoked role %s from user %s (%s): every earlier token refused at every verifier\n"
		}
		if err := do(ctx, admin, u.ID, role, client); err != nil {
			return c.fail(err)
		}
		if u, err = t.users.ByID(ctx, u.ID); err != nil {
			return c.fail(err)
		}
		return c.print(toUserRow(u), func(w io.Writer) { fmt.Fprintf(w, said, role, u.ID, u.Email) })
	})
}

// eventRow is one audit event; the shape of the admin API's.
type eventRow struct {
	ID       int64     `json:"id"`
	At       time.Time `json:"at"`
	Action   string    `json:"action"`
	UserID   string    `json:"user_id,omitempty"`
	ActorID  string    `json:"actor_id,omitempty"`
	RemoteIP string    `json:"remote_ip,omitempty"`
	Detail   string    `json:"detail,omitempty"`
}

func (cl cli) audit(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	c := newCommand("audit", "USER_ID_OR_EMAIL", 1, stdout)
	limit := c.fs.Int("limit", auth.DefaultPageSize, fmt.Sprintf("events to show (1 to %d)", auth.MaxPageSize))
	return cl.withTool(ctx, c, args, getenv, func(t *tool) error {
		if *limit < 1 || *limit > auth.MaxPageSize {
			return fmt.Errorf("keygatectl: audit: -limit must be from 1 to %d, got %d", auth.MaxPageSize, *limit)
		}
		id := c.operand[0]
		if strings.Contains(id, "@") {
			u, err := t.resolve(ctx, id)
			if err != nil {
				return c.fail(err)
			}
			id = u.ID
		}
		evs, err := t.svc.AuditOf(ctx, admin, id, *limit)
		if err != nil {
			return c.fail(err)
		}
		rows := make([]eventRow, 0, len(evs))
		for _, e := range evs {
			rows = append(rows, toEventRow(e))
		}
		return c.print(map[string]any{"events": rows}, func(w io.Writer) {
			fmt.Fprintln(w, "ID\tAT\tACTION\tUSER\tACTOR\tIP\tDETAIL")
			for _, e := range rows {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", strconv.FormatInt(e.ID, 10), stamp(e.At), e.Action,
					orDash(e.UserID), orDash(e.ActorID), orDash(e.RemoteIP), orDash(e.Detail))
			}
		})
	})
}

func toEventRow(e audit.Event) eventRow {
	return eventRow{ID: e.ID, At: utc(e.At), Action: string(e.Action), UserID: e.UserID, ActorID: e.ActorID,
		RemoteIP: e.RemoteIP, Detail: e.Detail}
}
