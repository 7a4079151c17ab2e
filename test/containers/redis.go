package containers

import (
	"bufio"
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
)

// Redis is a Redis server in a container, published on a fixed host port so that Addr stays
// valid across Stop and Start.
type Redis struct {
	*Container
	// Addr is host:port for clients.
	Addr string
	// ContainerAddr is the container's own IP and port: clients there bypass Docker's
	// userland proxy and its buffers (see WithSysctls).
	ContainerAddr string
}

// RedisOption configures StartRedis.
type RedisOption func(*redisConfig)

type redisConfig struct {
	args    []string
	sysctls map[string]string
}

// WithAOF turns on append-only-file persistence with an fsync per write
// (--appendonly yes --appendfsync always): an acknowledged write survives a restart.
func WithAOF() RedisOption {
	return func(c *redisConfig) { c.args = append(c.args, "--appendonly", "yes", "--appendfsync", "always") }
}

// WithRedisArgs passes extra arguments to redis-server, e.g. "--maxclients", "100".
func WithRedisArgs(args ...string) RedisOption {
	return func(c *redisConfig) { c.args = append(c.args, args...) }
}

// WithSysctls sets namespaced kernel parameters of the container, e.g.
// "net.ipv4.tcp_wmem": "4096 8192 16384" to give Redis small socket buffers, so that a slow
// client fills Redis's own output buffer quickly.
func WithSysctls(kv map[string]string) RedisOption {
	return func(c *redisConfig) { c.sysctls = kv }
}

// RedisImage is the image StartRedis runs: $KEYGATE_REDIS_IMAGE or redis:7-alpine.
func RedisImage() string { return Image(EnvRedisImage, DefaultRedisImage) }

// StartRedis starts a fresh Redis for t, terminated when t ends, and waits until it answers.
func StartRedis(t testing.TB, opts ...RedisOption) *Redis {
	t.Helper()
	var cfg redisConfig
	for _, o := range opts {
		o(&cfg)
	}
	RequireDocker(t)
	port := freePort(t)
	c := start(t, RedisImage(),
		testcontainers.WithExposedPorts("6379/tcp"),
		testcontainers.WithCmd(append([]string{"redis-server"}, cfg.args...)...),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			hc.PortBindings = network.PortMap{network.MustParsePort("6379/tcp"): {{HostPort: port}}}
			hc.Sysctls = cfg.sysctls
		}),
		testcontainers.WithWaitStrategy(wait.ForLog("Ready to accept connections").WithStartupTimeout(time.Minute)),
	)
	host, err := c.Host(context.Background())
	if err != nil {
		t.Fatalf("containers: redis host: %v", err)
	}
	ip, err := c.ContainerIP(context.Background())
	if err != nil {
		t.Fatalf("containers: redis container ip: %v", err)
	}
	r := &Redis{Container: c, Addr: net.JoinHostPort(host, port), ContainerAddr: net.JoinHostPort(ip, "6379")}
	r.WaitReady(t, 30*time.Second)
	return r
}

// WaitReady waits until Redis answers PING with PONG (not LOADING) from the host.
func (r *Redis) WaitReady(t testing.TB, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		if last = ping(r.Addr); last == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("containers: redis at %s not ready after %v: %v", r.Addr, timeout, last)
}

func ping(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return &replyError{strings.TrimSpace(line)}
	}
	return nil
}

type replyError struct{ reply string }

func (e *replyError) Error() string { return "redis replied " + strconv.Quote(e.reply) }

// CLI runs redis-cli with args inside the container and returns its output.
func (r *Redis) CLI(t testing.TB, args ...string) string {
	t.Helper()
	return r.Exec(t, append([]string{"redis-cli"}, args...)...)
}

// KillPubSub closes every pub/sub connection (CLIENT KILL TYPE pubsub) and returns how many
// it closed.
func (r *Redis) KillPubSub(t testing.TB) int {
	t.Helper()
	out := strings.TrimSpace(r.CLI(t, "CLIENT", "KILL", "TYPE", "pubsub"))
	n, err := strconv.Atoi(strings.TrimPrefix(out, "(integer) "))
	if err != nil {
		t.Fatalf("containers: CLIENT KILL TYPE pubsub answered %q", out)
	}
	return n
}

// Restart stops Redis (SIGTERM, SIGKILL after timeout), starts it again and waits until it
// answers, e.g. after replaying its AOF.
func (r *Redis) Restart(t testing.TB, timeout time.Duration) {
	t.Helper()
	r.Stop(t, timeout)
	r.Start(t)
	r.WaitReady(t, time.Minute)
}
