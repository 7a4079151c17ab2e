package portstest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/keygate/keygate/ports"
)

// RunMailer runs the contract suite of ports.Mailer. open returns a fresh mailer and a
// function that returns what the receiving end got so far (decoded: To, Subject, Text with
// "\n" line ends), waiting up to a few seconds for n messages.
func RunMailer(t *testing.T, open func(t *testing.T) (ports.Mailer, func(t *testing.T, n int) []ports.Mail)) {
	t.Helper()
	t.Run("RoundTrip", func(t *testing.T) { testMailRoundTrip(t, open) })
	t.Run("HeaderInjectionRefused", func(t *testing.T) { testMailInjection(t, open) })
	t.Run("CancelledIsUnavailable", func(t *testing.T) { testMailCancelled(t, open) })
	t.Run("Concurrent", func(t *testing.T) { testMailConcurrent(t, open) })
}

func testMailRoundTrip(t *testing.T, open func(t *testing.T) (ports.Mailer, func(t *testing.T, n int) []ports.Mail)) {
	m, got := open(t)
	long := "https://auth.example.com/reset?token=" + strings.Repeat("Ab0_-", 30)
	want := []ports.Mail{
		{To: "erin@example.com", Subject: "Reset your password", Text: "Open this link within 30 minutes:\n" + long + "\n"},
		{To: "jos\u00e9@b\u00fccher.example", Subject: "Passwort zur\u00fccksetzen \u2014 \u00e9t\u00e9", Text: "Gr\u00fc\u00dfe = 100%\n.\n..leading dots\n"},
	}
	for _, w := range want {
		if err := m.Send(t.Context(), w); err != nil {
			t.Fatalf("Send(%q): %v", w.Subject, err)
		}
	}
	if diff := cmp.Diff(want, got(t, len(want))); diff != "" {
		t.Errorf("received (-sent +received):\n%s", diff)
	}
}

func testMailInjection(t *testing.T, open func(t *testing.T) (ports.Mailer, func(t *testing.T, n int) []ports.Mail)) {
	m, got := open(t)
	for _, bad := range []ports.Mail{
		{To: "erin@example.com", Subject: "hi\r\nBcc: mallory@example.com", Text: "x\n"},
		{To: "erin@example.com\r\nBcc: mallory@example.com", Subject: "hi", Text: "x\n"},
		{To: "erin@example.com\nRCPT TO:<mallory@example.com>", Subject: "hi", Text: "x\n"},
	} {
		if err := m.Send(t.Context(), bad); err == nil {
			t.Errorf("Send(To %q, Subject %q) = nil, want refused", bad.To, bad.Subject)
		}
	}
	ok := ports.Mail{To: "erin@example.com", Subject: "after", Text: "fine\n"}
	if err := m.Send(t.Context(), ok); err != nil {
		t.Fatalf("Send after refusals: %v", err)
	}
	if diff := cmp.Diff([]ports.Mail{ok}, got(t, 1)); diff != "" {
		t.Errorf("only the good message must arrive (-want +got):\n%s", diff)
	}
}

func testMailCancelled(t *testing.T, open func(t *testing.T) (ports.Mailer, func(t *testing.T, n int) []ports.Mail)) {
	m, _ := open(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := m.Send(ctx, ports.Mail{To: "erin@example.com", Subject: "never", Text: "x\n"})
	if !errors.Is(err, ports.ErrUnavailable) {
		t.Errorf("Send with a cancelled context = %v, want ErrUnavailable", err)
	}
	ctx, cancel = context.WithTimeout(t.Context(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	if err := m.Send(ctx, ports.Mail{To: "erin@example.com", Subject: "never", Text: "x\n"}); !errors.Is(err, ports.ErrUnavailable) {
		t.Errorf("Send past its deadline = %v, want ErrUnavailable", err)
	}
}

func testMailConcurrent(t *testing.T, open func(t *testing.T) (ports.Mailer, func(t *testing.T, n int) []ports.Mail)) {
	m, got := open(t)
	const n = 5
	var wg sync.WaitGroup
	errs := make([]error, n)
	want := make([]ports.Mail, n)
	for i := range n {
		want[i] = ports.Mail{To: fmt.Sprintf("user%d@example.com", i), Subject: fmt.Sprintf("message %d", i), Text: "x\n"}
		wg.Go(func() { errs[i] = m.Send(t.Context(), want[i]) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Send %d: %v", i, err)
		}
	}
	less := func(a, b ports.Mail) bool { return a.To < b.To }
	if diff := cmp.Diff(want, got(t, n), cmpopts.SortSlices(less)); diff != "" {
		t.Errorf("received (-sent +received):\n%s", diff)
	}
}
