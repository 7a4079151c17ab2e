package ports

import "context"

// Mail is one plain-text message to one recipient: account e-mails (password reset, address
// verification) carry a link and nothing a reader must trust beyond it.
type Mail struct {
	To      string // one bare address (no display name), as stored: identity.NormalizeEmail
	Subject string // one line
	Text    string // the body, plain text; lines end in "\n"
}

// Mailer sends account e-mails. Send returns nil once the mail server has accepted the
// message for delivery (not once it is delivered). It returns an error wrapping
// ErrUnavailable when the server cannot be reached or answers a temporary failure (the caller
// may try again later), and another error when the message itself is refused (a recipient or
// header the server rejects for good, or a To or Subject with a line break). Safe for
// concurrent use.
type Mailer interface {
	Send(ctx context.Context, m Mail) error
}
