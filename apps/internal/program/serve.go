package program

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"

	"github.com/keygate/keygate/adapters/httpapi"
)

// Listeners are the two a keygate service serves on: Public, the API (PORT), and Admin, the
// admin listener (KEYGATE_ADMIN_ADDR: metrics and the detailed readiness report, for the
// monitoring network only), nil when that is off.
type Listeners struct {
	Public net.Listener
	Admin  net.Listener
}

// Listen binds the public listener on publicAddr and, unless adminAddr is "" (off), the admin
// listener on adminAddr. An error names the listener and the address that failed, prefixed
// with name ("authd: listen: admin listener (KEYGATE_ADMIN_ADDR) :9090: ..."); nothing stays
// bound after one.
func Listen(name, publicAddr, adminAddr string) (Listeners, error) {
	var l Listeners
	var err error
	if l.Public, err = net.Listen("tcp", publicAddr); err != nil {
		return Listeners{}, fmt.Errorf("%s: listen: public listener (PORT) %s: %w", name, publicAddr, err)
	}
	if adminAddr == "" {
		return l, nil
	}
	if l.Admin, err = net.Listen("tcp", adminAddr); err != nil {
		l.Public.Close()
		return Listeners{}, fmt.Errorf("%s: listen: admin listener (KEYGATE_ADMIN_ADDR) %s: %w", name, adminAddr, err)
	}
	return l, nil
}

// Close closes the listeners (Serve closes them too; closing twice is harmless).
func (l Listeners) Close() {
	if l.Public != nil {
		l.Public.Close()
	}
	if l.Admin != nil {
		l.Admin.Close()
	}
}

// PublicPort is the public listener's port, once bound.
func (l Listeners) PublicPort() int { return l.Public.Addr().(*net.TCPAddr).Port }

// AdminAddr is the admin listener's address, or "off", for the serving log line.
func (l Listeners) AdminAddr() string {
	if l.Admin == nil {
		return "off"
	}
	return l.Admin.Addr().String()
}

// Serve serves public on l.Public and admin on l.Admin (when not nil) with httpapi's server
// limits, until ctx ends or either server fails; then it shuts both down together,
// gracefully: neither accepts any more, requests in flight finish for up to
// httpapi.ShutdownTimeout. It returns nil after a shutdown on ctx, else the first failure,
// naming the listener.
func Serve(ctx context.Context, l Listeners, public, admin http.Handler, log *slog.Logger) error {
	type server struct {
		what string
		ln   net.Listener
		srv  *http.Server
	}
	servers := []server{{"public listener", l.Public, httpapi.NewServer(public, log)}}
	if l.Admin != nil {
		servers = append(servers, server{"admin listener", l.Admin, httpapi.NewServer(admin, log)})
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(servers))
	var wg sync.WaitGroup
	for i, s := range servers {
		wg.Go(func() {
			if err := s.srv.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
				errs[i] = fmt.Errorf("%s %s: %w", s.what, s.ln.Addr(), err)
				cancel() // one listener down stops the other
			}
		})
	}
	<-ctx.Done()
	sctx, stop := context.WithTimeout(context.WithoutCancel(ctx), httpapi.ShutdownTimeout)
	defer stop()
	shutErrs := make([]error, len(servers))
	for i, s := range servers {
		wg.Go(func() {
			if err := s.srv.Shutdown(sctx); err != nil {
				shutErrs[i] = fmt.Errorf("%s %s: shutdown: %w", s.what, s.ln.Addr(), err)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err // the failure that stopped the service, not the shutdown it caused
	}
	return errors.Join(shutErrs...)
}
