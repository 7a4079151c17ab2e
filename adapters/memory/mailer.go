package memory

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/keygate/keygate/ports"
)

// Outbox is a ports.Mailer that keeps every message in memory and, if given a writer, prints
// it there: dev mode's mailer, whose reset and verification links `make run` shows on the
// console. Tests read what was sent with Sent. Safe for concurrent use.
type Outbox struct {
	mu   sync.Mutex
	sent []ports.Mail
	out  io.Writer
}

var _ ports.Mailer = (*Outbox)(nil)

// NewOutbox returns an empty Outbox that prints each message to out (nil: prints nothing).
func NewOutbox(out io.Writer) *Outbox { return &Outbox{out: out} }

// Send records m (and prints it). Like a mail server it refuses a To or Subject that holds a
// line break, which would let a caller's input add headers.
func (o *Outbox) Send(ctx context.Context, m ports.Mail) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: send mail: %w: %w", ports.ErrUnavailable, err)
	}
	if m.To == "" || strings.ContainsAny(m.To+m.Subject, "\r\n") {
		return errors.New("memory: send mail: empty recipient, or a line break in To or Subject")
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sent = append(o.sent, m)
	if o.out != nil {
		fmt.Fprintf(o.out, "\n--- mail to %s: %s\n%s--- end of mail\n", m.To, m.Subject, m.Text)
	}
	return nil
}

// Sent returns a copy of the messages sent so far, oldest first.
func (o *Outbox) Sent() []ports.Mail {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]ports.Mail(nil), o.sent...)
}
