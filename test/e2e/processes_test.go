package e2e

import (
	"bufio"
	"io"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/keygate/keygate/test/apptest"
)

var servingLine = regexp.MustCompile(`"msg":"(\w+): serving","addr":"[^"]*:(\d+)"`)

// startBinary runs a built binary with env and returns the port it logs that it serves on.
// The process gets SIGTERM when the test ends and must exit 0 (graceful shutdown).
func startBinary(t *testing.T, bin string, env ...string) string {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin"}, env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ports := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sent := false
		for sc.Scan() {
			if m := servingLine.FindStringSubmatch(sc.Text()); m != nil && !sent {
				ports <- m[2]
				sent = true
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			t.Errorf("%s after SIGTERM: %v, want a clean exit", filepath.Base(bin), err)
		}
	})
	select {
	case p := <-ports:
		return p
	case <-time.After(30 * time.Second):
		t.Fatalf("%s logged no serving line within 30s", bin)
		return ""
	}
}

// TestSeparateProcesses: the three binaries, each in its own process, work together with
// nothing set but PORT, KEYGATE_DEV and, for the microservices, KEYGATE_ISSUER: their default
// audiences agree and the JWKS is discovered from the issuer.
func TestSeparateProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries")
	}
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "./apps/authd", "./apps/ordersd", "./apps/paymentsd")
	build.Dir = "../.."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	authPort := startBinary(t, filepath.Join(dir, "authd"), "PORT=0", "KEYGATE_DEV=1")
	issuer := "KEYGATE_ISSUER=http://localhost:" + authPort
	ordersPort := startBinary(t, filepath.Join(dir, "ordersd"), "PORT=0", "KEYGATE_DEV=1", issuer)
	paymentsPort := startBinary(t, filepath.Join(dir, "paymentsd"), "PORT=0", "KEYGATE_DEV=1", issuer)

	s := &devStack{auth: "http://localhost:" + authPort, orders: "http://localhost:" + ordersPort,
		payments: "http://localhost:" + paymentsPort, http: defaultClient()}
	for _, base := range []string{s.auth, s.orders, s.payments} {
		apptest.Eventually(t, 15*time.Second, base+"/ready answers 200", func() bool {
			resp, err := s.http.Get(base + "/ready")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == 200
		})
	}
	s.register(t, "henry@example.com", "correct horse battery")
	tok := s.login(t, "henry@example.com", "correct horse battery")
	want(t, s.call(t, "POST", s.orders+"/api/orders", tok.access, `{"item":"pen","quantity":3}`), 201, "orders in its own process")
	want(t, s.call(t, "POST", s.payments+"/api/payments", tok.access, `{"amount":300,"currency":"USD"}`), 201, "payments in its own process")
	want(t, s.call(t, "GET", s.orders+"/api/orders", "forged", nil), 401, "orders with a forged token")
}
