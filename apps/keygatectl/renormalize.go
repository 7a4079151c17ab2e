package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/keygate/keygate/core/identity"
	"github.com/keygate/keygate/ports"
)

// Statuses of a row of users renormalize.
const (
	renormChange    = "change"    // stored in an older form; -apply rewrites it
	renormChanged   = "changed"   // rewritten by -apply
	renormCollision = "collision" // shares its normalised form with another user: not touched
	renormInvalid   = "invalid"   // the current rules refuse the stored address: not touched
	renormGone      = "skipped"   // changed or deleted by someone else while the command ran
)

// renormRow is one user whose stored e-mail is not in the current normalised form.
type renormRow struct {
	Status string `json:"status"`
	ID     string `json:"id"`
	Email  string `json:"email"`           // as stored
	Form   string `json:"form,omitempty"`  // the current normalised form; empty when invalid
	Group  int    `json:"group,omitempty"` // collision group, numbered from 1
	Reason string `json:"reason,omitempty"`
}

// renormPage is how many users renormalize reads per List call.
const renormPage = 500

// usersRenormalize walks every user and compares the stored e-mail with its form under the
// current rules (ports.Normalizer.Email through identity.NormalizeEmail). It reports rows in
// an older form, users whose forms collide (two or more users, one address: never merged or
// touched), and addresses the current rules refuse; with -apply it rewrites the rows that
// changed and collide with nothing. It fails (non-zero exit) when collisions or refused
// addresses remain, so that an upgrade script stops for a person to decide.
func (cl cli) usersRenormalize(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	c := newCommand("users renormalize", "", 0, stdout)
	apply := c.fs.Bool("apply", false, "rewrite the rows in an older form (default: report only)")
	return cl.withTool(ctx, c, args, getenv, func(t *tool) error {
		rows, checked, current, err := t.renormalize(ctx, *apply)
		if err != nil {
			return c.fail(err)
		}
		count := map[string]int{}
		for _, r := range rows {
			count[r.Status]++
		}
		out := struct {
			Checked int         `json:"checked"`
			Applied bool        `json:"applied"`
			Rows    []renormRow `json:"rows"`
		}{Checked: checked, Applied: *apply, Rows: rows}
		if out.Rows == nil {
			out.Rows = []renormRow{}
		}
		if err := c.print(out, func(w io.Writer) {
			if len(rows) > 0 {
				fmt.Fprintln(w, "STATUS\tGROUP\tID\tSTORED E-MAIL\tNORMALISED FORM\tREASON")
				for _, r := range rows {
					group := "-"
					if r.Group > 0 {
						group = fmt.Sprint(r.Group)
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%q\t%s\t%s\n", r.Status, group, r.ID, r.Email, orDash(r.Form), orDash(r.Reason))
				}
			}
			fmt.Fprintf(w, "%d users checked: %d in the current form", checked, current)
			if *apply {
				fmt.Fprintf(w, ", %d rewritten", count[renormChanged])
			} else {
				fmt.Fprintf(w, ", %d to rewrite (dry run: -apply writes them)", count[renormChange])
			}
			fmt.Fprintf(w, ", %d in collisions (not touched), %d refused by the current rules (not touched), %d skipped\n",
				count[renormCollision], count[renormInvalid], count[renormGone])
		}); err != nil {
			return err
		}
		if n := count[renormCollision] + count[renormInvalid]; n > 0 {
			return fmt.Errorf("keygatectl: users renormalize: %d users need a person: %d in collisions, %d with an address "+
				"the current rules refuse; none of them was changed. Decide for each (disable one account, or give it "+
				"another address) and run again", n, count[renormCollision], count[renormInvalid])
		}
		return nil
	})
}

// errMoved stops an Update whose row changed since it was read.
var errMoved = errors.New("e-mail changed since it was read")

// renormalize reads every user, groups them by normalised form and, with apply, rewrites
// the rows in an older form that collide with nobody. It returns the rows to report (every
// member of a collision, the stored form included), how many users it read, and how many of
// them were in the current form and collide with nobody.
func (t *tool) renormalize(ctx context.Context, apply bool) (rows []renormRow, checked, current int, err error) {
	type entry struct {
		u    identity.User
		form string
	}
	var all []entry
	byForm := map[string][]int{}
	var invalid []renormRow
	for after := ""; ; {
		us, err := t.users.List(ctx, after, renormPage)
		if err != nil {
			return nil, 0, 0, err
		}
		for _, u := range us {
			form, err := identity.NormalizeEmail(u.Email, t.norm.Email)
			if err != nil {
				invalid = append(invalid, renormRow{Status: renormInvalid, ID: u.ID, Email: u.Email, Reason: err.Error()})
				continue
			}
			byForm[form] = append(byForm[form], len(all))
			all = append(all, entry{u: u, form: form})
		}
		if len(us) < renormPage {
			break
		}
		after = us[len(us)-1].ID
	}
	checked = len(all) + len(invalid)

	forms := make([]string, 0, len(byForm))
	for f := range byForm {
		forms = append(forms, f)
	}
	slices.Sort(forms)
	group := 0
	for _, f := range forms {
		idx := byForm[f]
		if len(idx) > 1 {
			group++
			for _, i := range idx {
				rows = append(rows, renormRow{Status: renormCollision, ID: all[i].u.ID, Email: all[i].u.Email, Form: f, Group: group,
					Reason: fmt.Sprintf("%d users share this address", len(idx))})
			}
			continue
		}
		e := all[idx[0]]
		if e.u.Email == f {
			current++
			continue
		}
		r := renormRow{Status: renormChange, ID: e.u.ID, Email: e.u.Email, Form: f}
		if apply {
			if r.Status, r.Reason, err = t.rewrite(ctx, e.u, f); err != nil {
				return nil, 0, 0, err
			}
		}
		rows = append(rows, r)
	}
	return append(rows, invalid...), checked, current, nil
}

// rewrite stores form as u's e-mail unless the row changed since it was read. A unique-key
// conflict (a user registered the address meanwhile) is a collision, reported, not merged.
// Any other failure is returned: the rows rewritten so far stay rewritten, and a second run
// takes up the rest.
func (t *tool) rewrite(ctx context.Context, u identity.User, form string) (status, reason string, err error) {
	_, err = t.users.Update(ctx, u.ID, func(cur *identity.User) error {
		if cur.Email != u.Email {
			return errMoved
		}
		cur.Email, cur.UpdatedAt = form, time.Now().UTC()
		return nil
	})
	switch {
	case err == nil:
		return renormChanged, "", nil
	case errors.Is(err, ports.ErrConflict):
		return renormCollision, "another user took this address while the command ran", nil
	case errors.Is(err, errMoved), errors.Is(err, ports.ErrNotFound):
		return renormGone, "changed or deleted while the command ran", nil
	}
	return "", "", fmt.Errorf("rewrite user %s: %w", u.ID, err)
}
