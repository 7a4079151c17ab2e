// Package stack runs keygate's dev stack, authd, orders and payments in one process on the
// memory adapters with one shared event bus and revocation store; the devstack binary and
// the end-to-end tests start it through Run.
package stack

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/keygate/keygate/adapters/telemetry"
	"github.com/keygate/keygate/apps/internal/authsvc"
	"github.com/keygate/keygate/apps/internal/demo"
	"github.com/keygate/keygate/apps/internal/program"
	"github.com/keygate/keygate/apps/internal/stores"
)

// Default admin of the dev stack; the password is generated and printed unless
// KEYGATE_ADMIN_PASSWORD is set.
const defaultAdminEmail = "admin@example.com"

// Run starts authd, orders and payments in this process until ctx ends, and prints their
// URLs and a quickstart to stdout (then the services' JSON logs). authd listens on PORT
// (default 8080), orders and payments on the next two ports; PORT=0 picks three free ports.
// Each service has its admin listener (/metrics, the detailed /ready) too: authd's at
// KEYGATE_ADMIN_ADDR (default 127.0.0.1:9090, loopback only; a free port with PORT=0; "off":
// none), orders and payments on the next two ports of that host. The listeners are bound
// before anything is built, so the issuer URL names authd's real port. Dev mode and the memory adapters are implied (REDIS_* and DB_* are ignored); the admin is KEYGATE_ADMIN_EMAIL (default admin@example.com) with
// KEYGATE_ADMIN_PASSWORD, or a generated password that is printed.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) > 1 {
		return fmt.Errorf("devstack: unexpected arguments %q: devstack is configured by environment variables (docs/configuration.md)", args[1:])
	}
	out := &syncWriter{w: stdout}
	adminPassword := getenv("KEYGATE_ADMIN_PASSWORD")
	if adminPassword == "" {
		adminPassword = randomPassword()
	}
	getenv = memoryOnly(getenv)
	authEnv := overlay(getenv, map[string]string{
		"KEYGATE_DEV":            "1",
		"KEYGATE_ADMIN_EMAIL":    or(getenv("KEYGATE_ADMIN_EMAIL"), defaultAdminEmail),
		"KEYGATE_ADMIN_PASSWORD": adminPassword,
	})
	authCfg, err := authsvc.Load(authEnv)
	if err != nil {
		return err
	}
	log := telemetry.NewLogger(out, authCfg.LogLevel)

	ports := []int{authCfg.Port, 0, 0}
	if authCfg.Port != 0 {
		ports[1], ports[2] = authCfg.Port+1, authCfg.Port+2
	}
	if strings.TrimSpace(getenv("KEYGATE_ADMIN_ADDR")) == "" && authCfg.AdminAddr != "" {
		_, port, _ := net.SplitHostPort(authCfg.AdminAddr)
		authCfg.AdminAddr = net.JoinHostPort("127.0.0.1", port) // dev: metrics stay on this machine
	}
	admins := adminAddrs(authCfg.AdminAddr)
	var lns []program.Listeners
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	for i, name := range []string{"authd", "orders", "payments"} {
		l, err := program.Listen("devstack: "+name, ":"+strconv.Itoa(ports[i]), admins[i])
		if err != nil {
			return err
		}
		lns = append(lns, l)
	}
	bound := func(i int) int { return lns[i].PublicPort() }
	authCfg.Listened(bound(0))
	authCfg.Warnings = authCfg.Warnings[:0:0]
	authCfg.MailConsole = out // reset and verification links, to click through

	demoEnv := overlay(getenv, map[string]string{"KEYGATE_DEV": "1", "KEYGATE_ISSUER": authCfg.Auth.Issuer})
	ordersCfg, err1 := demo.Load(demoEnv, demo.Orders, 0, "") // the listeners are bound above
	paymentsCfg, err2 := demo.Load(demoEnv, demo.Payments, 0, "")
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	// One bus and one revocation store for the three services: what authd revokes reaches
	// the microservices' feeds as it would through Redis.
	st, stClean, err := stores.Open(ctx, authCfg.Config, log) // the memory profile
	if err != nil {
		return fmt.Errorf("devstack: authd: %w", err)
	}
	defer stClean()
	bus, store := st.Bus, st.Revocations
	for _, c := range []*demo.Config{&ordersCfg, &paymentsCfg} {
		c.Verifier.Revocations, c.Verifier.Events, c.Verifier.Warnings = store, bus, nil
	}

	authApp, err := authsvc.Assemble(st, authCfg, log)
	if err != nil {
		return fmt.Errorf("devstack: authd: %w", err)
	}
	ordersApp, ordersClean, err := demo.Build(ordersCfg, log)
	if err != nil {
		return fmt.Errorf("devstack: orders: %w", err)
	}
	defer ordersClean()
	paymentsApp, paymentsClean, err := demo.Build(paymentsCfg, log)
	if err != nil {
		return fmt.Errorf("devstack: payments: %w", err)
	}
	defer paymentsClean()

	printQuickstart(out, authCfg.Auth.Issuer, "http://localhost:"+strconv.Itoa(bound(1)),
		"http://localhost:"+strconv.Itoa(bound(2)), authCfg.AdminEmail, adminPassword, getenv("KEYGATE_ADMIN_PASSWORD") == "")
	printAdmin(out, lns)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, 3)
	var wg sync.WaitGroup
	start := func(i int, runApp func(context.Context, program.Listeners) error) {
		wg.Go(func() {
			errs[i] = runApp(ctx, lns[i])
			cancel() // one service down stops the stack
		})
	}
	// authd first: the microservices fetch its JWKS as they start.
	start(0, authApp.Run)
	select {
	case <-authApp.Serving():
	case <-ctx.Done():
	}
	start(1, ordersApp.Run)
	start(2, paymentsApp.Run)
	wg.Wait()
	return errors.Join(errs...)
}

func printQuickstart(w io.Writer, auth, orders, payments, adminEmail, adminPassword string, generated bool) {
	pw := adminPassword
	if !generated {
		pw = "(KEYGATE_ADMIN_PASSWORD)"
	}
	const login = `'{"email":"me@example.com","password":"correct horse battery"}'`
	fmt.Fprintf(w, `keygate dev stack: everything in memory, nothing persisted
  authd     %s
  orders    %s
  payments  %s
  admin     %s / %s

Try it:
  curl -s -X POST %s/register -H 'Content-Type: application/json' -d %s
  TOKEN=$(curl -s -X POST %s/login -H 'Content-Type: application/json' -d %s | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
  curl -s -X POST %s/api/orders -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"item":"book","quantity":1}'
  curl -s %s/api/orders -H "Authorization: Bearer $TOKEN"
  curl -s -X POST %s/logout -H "Authorization: Bearer $TOKEN"
  curl -s -i %s/api/orders -H "Authorization: Bearer $TOKEN"   # 401 at once: the session is revoked

Forgot the password? Mails are printed here, not sent (KEYGATE_SMTP_ADDR sends them):
  curl -s -X POST %s/password/reset -H 'Content-Type: application/json' -d '{"email":"me@example.com"}'
  curl -s -X POST %s/password/reset/confirm -H 'Content-Type: application/json' -d '{"token":"<token from the printed link>","new_password":"a new passphrase"}'

`, auth, orders, payments, adminEmail, pw, auth, login, auth, login, orders, orders, auth, orders, auth, auth)
}

// printAdmin prints where each service's metrics and detailed readiness are served.
func printAdmin(w io.Writer, lns []program.Listeners) {
	if lns[0].Admin == nil {
		fmt.Fprint(w, "Admin listeners off (KEYGATE_ADMIN_ADDR=off): no /metrics, no detailed /ready.\n\n")
		return
	}
	fmt.Fprint(w, "Metrics and detailed readiness, on the admin listeners only (KEYGATE_ADMIN_ADDR):\n")
	for i, name := range []string{"authd", "orders", "payments"} {
		base := "http://" + lns[i].AdminAddr()
		fmt.Fprintf(w, "  %-9s %s/metrics  %s/ready\n", name, base, base)
	}
	fmt.Fprintln(w)
}

// adminAddrs are the admin addresses of authd, orders and payments: authd's, and the next two
// ports on its host (free ports when it is port 0, none when it is "" for off).
func adminAddrs(authd string) [3]string {
	host, port, err := net.SplitHostPort(authd)
	if authd == "" || err != nil {
		return [3]string{}
	}
	p, _ := strconv.Atoi(port)
	out := [3]string{authd, authd, authd}
	if p != 0 {
		out[1], out[2] = net.JoinHostPort(host, strconv.Itoa(p+1)), net.JoinHostPort(host, strconv.Itoa(p+2))
	}
	return out
}

// storeVars select Redis or a database; the dev stack runs on the memory adapters whatever
// they say.
var storeVars = []string{"REDIS_ADDR", "REDIS_PASSWORD", "REDIS_MASTER_NAME", "REDIS_DB", "KEYGATE_REDIS_PREFIX",
	"DB_DRIVER", "DB_HOST", "DB_PORT", "DB_USER", "DB_PASSWORD", "DB_NAME", "DATABASE_URL", "KEYGATE_MIGRATE"}

// memoryOnly returns getenv with the variables that select Redis or a database unset.
func memoryOnly(getenv func(string) string) func(string) string {
	unset := map[string]string{}
	for _, name := range storeVars {
		unset[name] = ""
	}
	return overlay(getenv, unset)
}

// overlay returns getenv with some variables replaced.
func overlay(getenv func(string) string, set map[string]string) func(string) string {
	return func(name string) string {
		if v, ok := set[name]; ok {
			return v
		}
		return getenv(name)
	}
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func randomPassword() string {
	var b [15]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// syncWriter serialises writes from the three services' loggers.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
