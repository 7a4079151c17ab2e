// Package containers is keygate's testcontainers-go harness: one file per server (Redis here;
// MySQL/MariaDB, PostgreSQL and nginx beside it), each starting a fresh container for a test
// and terminating it in t.Cleanup (no reaper), plus fault injection: stop and start, pause and
// unpause (docker pause), exec.
//
// Images come from environment variables whose defaults are the official images
// (KEYGATE_REDIS_IMAGE=redis:7-alpine, KEYGATE_NGINX_IMAGE=nginx:1.27-alpine; the SQL servers'
// variables are in mysql.go and postgres.go). On a machine
// with no registry, test/testbed/up.sh builds equivalent images from Debian packages and prints
// the variables to export.
//
// Without a reachable Docker daemon, or without the image (not present and not pullable), a
// test that asks for a container is skipped, with a message saying how to enable it; with
// KEYGATE_REQUIRE_DOCKER=1 (as CI sets) it fails instead.
package containers

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tcexec "github.com/testcontainers/testcontainers-go/exec"
)

// Environment variables read by the harness.
const (
	EnvRequireDocker = "KEYGATE_REQUIRE_DOCKER" // "1": a would-be skip fails the test
	EnvRedisImage    = "KEYGATE_REDIS_IMAGE"
	EnvNginxImage    = "KEYGATE_NGINX_IMAGE"
)

// Official images used when the variables are unset (the SQL servers' are in their files).
const (
	DefaultRedisImage = "redis:7-alpine"
	DefaultNginxImage = "nginx:1.27-alpine"
)

// HowToEnable is the advice printed when Docker is missing.
const HowToEnable = "to run the container tests, start Docker and build the images with " +
	"`eval \"$(bash test/testbed/up.sh)\"` (it prints the variables to export), then run the tests again; " +
	"set " + EnvRequireDocker + "=1 to make this a failure instead of a skip"

// Image returns the image named by the environment variable env, or def when it is unset.
func Image(env, def string) string {
	if v := os.Getenv(env); v != "" {
		return v
	}
	return def
}

var (
	dockerOnce sync.Once
	dockerErr  error
)

// RequireDocker skips t (or fails it, with KEYGATE_REQUIRE_DOCKER=1) unless a Docker daemon
// answers. It checks once per process.
func RequireDocker(t testing.TB) {
	t.Helper()
	dockerOnce.Do(func() {
		// Reaper containers cannot be pulled where there is no registry, and every
		// container here is terminated in t.Cleanup anyway.
		if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") == "" {
			_ = os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
		}
		dockerErr = pingDocker()
	})
	if dockerErr != nil {
		skipOrFail(t, fmt.Sprintf("no Docker daemon (%v)", dockerErr))
	}
}

// skipOrFail skips t because of reason, or fails it with KEYGATE_REQUIRE_DOCKER=1.
func skipOrFail(t testing.TB, reason string) {
	t.Helper()
	if os.Getenv(EnvRequireDocker) == "1" {
		t.Fatalf("containers: %s and %s=1; %s", reason, EnvRequireDocker, HowToEnable)
	}
	t.Skipf("containers: %s; %s", reason, HowToEnable)
}

var (
	imagesMu sync.Mutex
	images   = map[string]error{} // image -> nil once present locally, or why it cannot be had
)

// RequireImage skips t (or fails it, see RequireDocker) unless img is present locally or can
// be pulled. It tries once per image and process.
func RequireImage(t testing.TB, img string) {
	t.Helper()
	RequireDocker(t)
	imagesMu.Lock()
	err, tried := images[img]
	if !tried {
		err = pullIfMissing(img)
		images[img] = err
	}
	imagesMu.Unlock()
	if err != nil {
		skipOrFail(t, fmt.Sprintf("image %s cannot be had (%v)", img, err))
	}
}

func pullIfMissing(img string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return err
	}
	defer cli.Close()
	if _, err := cli.ImageInspect(ctx, img); err == nil {
		return nil
	}
	r, err := cli.ImagePull(ctx, img, client.ImagePullOptions{})
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, r)
	r.Close()
	if err != nil {
		return err
	}
	_, err = cli.ImageInspect(ctx, img)
	return err
}

func pingDocker() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("docker client panicked: %v", r)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return err
	}
	defer cli.Close()
	_, err = cli.Ping(ctx, client.PingOptions{})
	return err
}

// Container is a running container with fault-injection helpers. Every helper fails the test
// on error.
type Container struct {
	testcontainers.Container
}

// start runs img with opts for t, after RequireImage, and terminates it in t.Cleanup.
func start(t testing.TB, img string, opts ...testcontainers.ContainerCustomizer) *Container {
	t.Helper()
	RequireImage(t, img)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := testcontainers.Run(ctx, img, opts...)
	if c != nil {
		t.Cleanup(func() {
			if err := testcontainers.TerminateContainer(c); err != nil {
				t.Logf("containers: terminate %s: %v", img, err)
			}
		})
	}
	if err != nil {
		t.Fatalf("containers: start %s: %v", img, err)
	}
	return &Container{Container: c}
}

// Stop stops the container (SIGTERM, then SIGKILL after timeout).
func (c *Container) Stop(t testing.TB, timeout time.Duration) {
	t.Helper()
	if err := c.Container.Stop(context.Background(), &timeout); err != nil {
		t.Fatalf("containers: stop: %v", err)
	}
}

// Start starts a stopped container again (same file system, same published ports).
func (c *Container) Start(t testing.TB) {
	t.Helper()
	if err := c.Container.Start(context.Background()); err != nil {
		t.Fatalf("containers: start: %v", err)
	}
}

// Kill sends SIGKILL to the container's processes (docker kill): no clean shutdown, no
// final save; what the kernel was handed stays, what the process still held is lost.
func (c *Container) Kill(t testing.TB) {
	t.Helper()
	c.docker(t, func(ctx context.Context, cli *testcontainers.DockerClient) error {
		_, err := cli.ContainerKill(ctx, c.GetContainerID(), client.ContainerKillOptions{Signal: "KILL"})
		return err
	})
}

// Pause freezes every process of the container (docker pause): connections stay open and
// nothing answers, as with SIGSTOP.
func (c *Container) Pause(t testing.TB) {
	t.Helper()
	c.docker(t, func(ctx context.Context, cli *testcontainers.DockerClient) error {
		_, err := cli.ContainerPause(ctx, c.GetContainerID(), client.ContainerPauseOptions{})
		return err
	})
}

// Unpause resumes a paused container (docker unpause).
func (c *Container) Unpause(t testing.TB) {
	t.Helper()
	c.docker(t, func(ctx context.Context, cli *testcontainers.DockerClient) error {
		_, err := cli.ContainerUnpause(ctx, c.GetContainerID(), client.ContainerUnpauseOptions{})
		return err
	})
}

func (c *Container) docker(t testing.TB, f func(context.Context, *testcontainers.DockerClient) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		t.Fatalf("containers: docker client: %v", err)
	}
	defer cli.Close()
	if err := f(ctx, cli); err != nil {
		t.Fatalf("containers: %v", err)
	}
}

// Exec runs cmd in the container and returns its combined output; a non-zero exit fails t.
func (c *Container) Exec(t testing.TB, cmd ...string) string {
	t.Helper()
	code, out, err := c.ExecCode(cmd...)
	if err != nil || code != 0 {
		t.Fatalf("containers: exec %q: exit %d, %v: %s", cmd, code, err, out)
	}
	return out
}

// ExecCode runs cmd in the container and returns its exit code and combined output.
func (c *Container) ExecCode(cmd ...string) (int, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code, r, err := c.Container.Exec(ctx, cmd, tcexec.Multiplexed())
	if err != nil {
		return code, "", err
	}
	var b bytes.Buffer
	_, err = io.Copy(&b, r)
	return code, b.String(), err
}

// freePort returns a TCP port free on this host now, to publish a container port on a fixed
// host port that survives a restart of the container.
func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("containers: free port: %v", err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}
