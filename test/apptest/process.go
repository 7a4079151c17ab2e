package apptest

import (
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Process is a program a test started with Start.
type Process struct {
	Name string
	Cmd  *exec.Cmd
	Out  *Output // its stdout and stderr

	exited chan struct{}
	err    error       // its exit, once exited is closed
	killed atomic.Bool // Kill ended it: its exit is not a failure
}

// Start runs cmd as name with exactly env (plus PATH), its output in Out. When t ends it gets
// SIGTERM and must exit cleanly within 20 s (else it is killed and t fails); if t failed, the
// last lines of its output are logged.
func Start(t testing.TB, name string, cmd *exec.Cmd, env map[string]string) *Process {
	t.Helper()
	p := &Process{Name: name, Cmd: cmd, Out: &Output{}, exited: make(chan struct{})}
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = p.Out, p.Out
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		if !p.killed.Load() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
		}
		select {
		case <-p.exited:
			if p.err != nil && !p.killed.Load() {
				t.Errorf("%s after SIGTERM: %v, want a clean exit\n%s", name, p.err, Tail(p.Out.String(), 20))
			}
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-p.exited
			t.Errorf("%s did not stop within 20s of SIGTERM", name)
		}
		if t.Failed() {
			t.Logf("%s output (last 30 lines):\n%s", name, Tail(p.Out.String(), 30))
		}
	})
	return p
}

// Exited is closed once the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Err is how the process exited; valid once Exited is closed.
func (p *Process) Err() error { return p.err }

// Kill sends SIGKILL and waits (10 s at most) until the process is gone; its exit is then not
// a failure.
func (p *Process) Kill(t testing.TB) {
	t.Helper()
	p.killed.Store(true)
	_ = p.Cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s still running 10s after SIGKILL", p.Name)
	}
}

// Tail returns the last n lines of s.
func Tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
