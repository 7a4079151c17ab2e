package topology_test

import (
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keygate/keygate/test/apptest"
	"github.com/keygate/keygate/test/containers"
)

// TestFirstAdminFromASecretCannotBeReplayed runs authd as deploy/README.md tells production
// to create the first admin: KEYGATE_ADMIN_EMAIL and KEYGATE_ADMIN_PASSWORD from the optional
// Secret keygate-admin, on a real database and Redis. The first start creates the admin; a
// restart with the Secret still there, or with another password in it (replayed, edited or
// leaked), changes nothing: the first password still logs in, the new one does not; a Secret
// naming an account someone else registered, without that account's password, stops authd
// with a clear error and promotes nobody.
func TestFirstAdminFromASecretCannotBeReplayed(t *testing.T) {
	db := mysqlDatabase(t, containers.StartMariaDB(t))
	redis := containers.StartRedis(t)
	c := newClient(4)
	env := apptest.Merge(authEnv(), redisEnv(redis), db.env, map[string]string{"KEYGATE_MIGRATE": "1"})
	const root, firstPW = "root@example.org", "the first admin password"
	secret := func(email, password string) map[string]string {
		return map[string]string{"KEYGATE_ADMIN_EMAIL": email, "KEYGATE_ADMIN_PASSWORD": password}
	}
	stop := func(p *proc) {
		t.Helper()
		_ = p.Cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.Exited():
		case <-time.After(20 * time.Second):
			t.Fatalf("%s did not stop", p.Name)
		}
	}

	first := startProc(t, "authd-first", binary(t, "authd"), apptest.Merge(env, secret(root, firstPW)))
	at := tokensOf(t, c.login(t, first.URL, root, firstPW), "login as the bootstrapped admin").access
	want(t, c.do(t, "GET", first.URL+"/admin/users", at, nil), http.StatusOK, "admin API as the bootstrapped admin")
	mallory := c.signup(t, first.URL, "mallory@example.org", "mallory's own password")
	want(t, c.do(t, "GET", first.URL+"/admin/users", mallory.access, nil), http.StatusForbidden, "admin API as a user")
	stop(first)

	// The same Secret at every restart, then one with another password: no change.
	again := startProc(t, "authd-again", binary(t, "authd"), apptest.Merge(env, secret(root, firstPW)))
	stop(again)
	replay := startProc(t, "authd-replay", binary(t, "authd"), apptest.Merge(env, secret(root, "another password, replayed")))
	want(t, c.login(t, replay.URL, root, "another password, replayed"), http.StatusUnauthorized, "login with the replayed Secret's password")
	tokensOf(t, c.login(t, replay.URL, root, firstPW), "login with the first password after the replay")
	stop(replay)

	// A Secret naming someone else's account, without their password: authd refuses to start.
	out, err := runCmd(t, binary(t, "authd"), apptest.Merge(env, secret("mallory@example.org", "a guess at mallory's password")), "authd")
	if err == nil || !strings.Contains(out, "KEYGATE_ADMIN_EMAIL") || !strings.Contains(out, "not promoting") {
		t.Errorf("authd with a Secret naming another account: %v, want a refusal naming KEYGATE_ADMIN_EMAIL:\n%s", err, apptest.Tail(out, 10))
	}
	plain := startProc(t, "authd-plain", binary(t, "authd"), env)
	mt := tokensOf(t, c.login(t, plain.URL, "mallory@example.org", "mallory's own password"), "login as mallory").access
	want(t, c.do(t, "GET", plain.URL+"/admin/users", mt, nil), http.StatusForbidden, "admin API as mallory after the refused bootstrap")
}
