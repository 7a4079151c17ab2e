package deploy

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/keygate/keygate/test/containers"
)

// redisPod is one pod of the redis StatefulSet, played by a container with the pod's name and
// DNS name (redis-N.redis), running the ConfigMap's init.sh, then a sentinel and redis-server
// with the files it wrote: the same start sequence as deploy/k8s/base/redis.yaml.
type redisPod struct {
	name string
	c    *containers.Container
}

const sentinelPassword = "test-redis-password"

func startRedisPod(t *testing.T, img, netName string, ordinal int) *redisPod {
	t.Helper()
	root := repoRoot(t)
	name := fmt.Sprintf("redis-%d", ordinal)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	c, err := testcontainers.Run(ctx, img,
		testcontainers.WithFiles(
			testcontainers.ContainerFile{HostFilePath: filepath.Join(root, "deploy/k8s/base/redis/redis.conf"), ContainerFilePath: "/config/redis.conf", FileMode: 0o644},
			testcontainers.ContainerFile{HostFilePath: filepath.Join(root, "deploy/k8s/base/redis/init.sh"), ContainerFilePath: "/config/init.sh", FileMode: 0o755},
			testcontainers.ContainerFile{HostFilePath: filepath.Join(root, "deploy/k8s/base/redis/probe.sh"), ContainerFilePath: "/config/probe.sh", FileMode: 0o755},
		),
		testcontainers.WithEnv(map[string]string{"REDIS_PASSWORD": sentinelPassword}),
		testcontainers.WithConfigModifier(func(cfg *container.Config) { cfg.Hostname = name }),
		network.WithNetworkName([]string{name + ".redis"}, netName),
		// The official image has redis-sentinel; Debian's package only redis-server --sentinel.
		testcontainers.WithCmd("sh", "-c", "mkdir -p /run/redis /data && sh /config/init.sh && "+
			"{ redis-server /run/redis/sentinel.conf --sentinel & } && exec redis-server /run/redis/redis.conf"),
		testcontainers.WithWaitStrategy(wait.ForLog("Ready to accept connections").WithStartupTimeout(time.Minute)),
	)
	if c != nil {
		t.Cleanup(func() {
			if err := testcontainers.TerminateContainer(c); err != nil {
				t.Logf("terminate %s: %v", name, err)
			}
		})
	}
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	return &redisPod{name: name, c: &containers.Container{Container: c}}
}

// cli runs redis-cli in the pod against host:port (the pod itself when host is "").
func (p *redisPod) cli(t *testing.T, host string, port int, args ...string) (string, error) {
	t.Helper()
	cmd := fmt.Sprintf("REDISCLI_AUTH=%s redis-cli --no-auth-warning -p %d", sentinelPassword, port)
	if port == 26379 {
		cmd = "redis-cli -p 26379" // sentinels take no password
	}
	if host != "" {
		cmd += " -h " + host
	}
	for _, a := range args {
		cmd += " '" + a + "'"
	}
	code, out, err := p.c.ExecCode("sh", "-c", cmd)
	if err == nil && code != 0 {
		err = fmt.Errorf("exit %d", code)
	}
	return strings.TrimSpace(stripExecHeader(out)), err
}

// logTail returns the last n lines of the pod's log, for failure messages.
func (p *redisPod) logTail(n int) string {
	r, err := p.c.Logs(context.Background())
	if err != nil {
		return err.Error()
	}
	defer r.Close()
	b, _ := io.ReadAll(r)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// stripExecHeader drops control bytes a multiplexed exec stream can leave at the start.
func stripExecHeader(s string) string {
	return strings.TrimLeftFunc(s, func(r rune) bool { return r < ' ' && r != '\n' })
}

// eventually retries f until it returns true or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, f func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		var ok bool
		if ok, last = f(); ok {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("%s: not after %v (last: %s)", what, timeout, last)
}

func TestRedisSentinelFailsOverAndARestartedPodRejoinsAsReplica(t *testing.T) {
	if testing.Short() {
		t.Skip("a Sentinel failover takes about 40 s; skipped with -short")
	}
	img := needImage(t, containers.EnvRedisImage, containers.DefaultRedisImage)
	nw, err := network.New(t.Context())
	if err != nil {
		t.Fatalf("network: %v", err)
	}
	t.Cleanup(func() { _ = nw.Remove(context.Background()) })

	// OrderedReady, as the StatefulSet starts them.
	pods := make([]*redisPod, 3)
	for i := range pods {
		pods[i] = startRedisPod(t, img, nw.Name, i)
	}
	masterOf := func(p *redisPod) string {
		out, err := p.cli(t, "", 26379, "sentinel", "get-master-addr-by-name", "keygate")
		if err != nil {
			return "error: " + err.Error()
		}
		return strings.Fields(out + " ")[0]
	}
	role := func(p *redisPod, host string) string {
		out, _ := p.cli(t, host, 6379, "role")
		return strings.Fields(out + " ")[0]
	}

	// Every sentinel agrees redis-0 is the master, and knows the two replicas and the two
	// other sentinels (sentinels learn replicas from the master's INFO every 10 s: one the
	// sentinels never saw would not be reconfigured by a failover; probe.sh covers that case).
	for _, p := range pods {
		eventually(t, 45*time.Second, p.name+" sees master redis-0, two replicas, two other sentinels", func() (bool, string) {
			out, _ := p.cli(t, "", 26379, "sentinel", "master", "keygate")
			fields := strings.Fields(out)
			field := func(name string) string {
				for i := 0; i+1 < len(fields); i++ {
					if fields[i] == name {
						return fields[i+1]
					}
				}
				return ""
			}
			ok := masterOf(p) == "redis-0.redis" && field("num-slaves") == "2" && field("num-other-sentinels") == "2"
			return ok, fmt.Sprintf("master %s, replicas %s, other sentinels %s", masterOf(p), field("num-slaves"), field("num-other-sentinels"))
		})
	}
	probe := func(p *redisPod) int {
		code, _, err := p.c.ExecCode("sh", "/config/probe.sh")
		if err != nil {
			t.Fatalf("probe.sh in %s: %v", p.name, err)
		}
		return code
	}
	for _, p := range pods {
		if code := probe(p); code != 0 {
			t.Errorf("liveness probe of healthy %s: exit %d, want 0", p.name, code)
		}
	}
	if got := role(pods[1], ""); got != "slave" {
		t.Fatalf("redis-1 role %q, want slave", got)
	}
	// A write on the master reaches both replicas.
	// Until a replica has synchronised, min-replicas-to-write refuses writes (NOREPLICAS).
	eventually(t, 30*time.Second, "a write on the master", func() (bool, string) {
		out, err := pods[0].cli(t, "", 6379, "set", "revoked:jti-1", "1")
		return err == nil && out == "OK", out
	})
	if out, _ := pods[0].cli(t, "", 6379, "wait", "2", "5000"); out != "2" {
		t.Fatalf("WAIT 2 replicas: %q", out)
	}

	// The master dies: the sentinels promote a replica.
	stopped := time.Now()
	pods[0].c.Stop(t, time.Second)
	var newMaster string
	eventually(t, 45*time.Second, "a new master elected", func() (bool, string) {
		m := masterOf(pods[1])
		if m == "redis-1.redis" || m == "redis-2.redis" {
			newMaster = m
			return masterOf(pods[2]) == m, m
		}
		return false, m + "\n" + pods[1].logTail(30)
	})
	t.Logf("failover to %s took %v", newMaster, time.Since(stopped).Round(100*time.Millisecond))
	promoted := pods[1]
	if newMaster == "redis-2.redis" {
		promoted = pods[2]
	}
	if got := role(promoted, ""); got != "master" {
		t.Fatalf("%s role %q, want master", promoted.name, got)
	}
	if out, _ := promoted.cli(t, "", 6379, "get", "revoked:jti-1"); out != "1" {
		t.Errorf("write made before the failover: %q on the new master, want 1", out)
	}
	eventually(t, 30*time.Second, "a write on the new master", func() (bool, string) {
		out, err := promoted.cli(t, "", 6379, "set", "revoked:jti-2", "1")
		if err == nil && out == "OK" {
			return true, out
		}
		info, _ := promoted.cli(t, "", 6379, "info", "replication")
		other := pods[3-slices.Index(pods, promoted)]
		oinfo, _ := other.cli(t, "", 6379, "info", "replication")
		return false, out + "\n" + info + "\n" + other.name + ":\n" + oinfo
	})

	// A replica stranded on the dead master fails its liveness probe (Kubernetes restarts it).
	other := pods[3-slices.Index(pods, promoted)]
	if _, err := other.cli(t, "", 6379, "replicaof", "redis-0.redis", "6379"); err != nil {
		t.Fatal(err)
	}
	if code := probe(other); code == 0 {
		t.Errorf("liveness probe of %s replicating from the dead redis-0: exit 0, want a failure", other.name)
	}
	// The restart Kubernetes makes: init.sh asks the sentinels and it follows the new master.
	other.c.Stop(t, time.Second)
	other.c.Start(t)
	eventually(t, 45*time.Second, other.name+" restarted as a replica of "+newMaster, func() (bool, string) {
		out, _ := other.cli(t, "", 6379, "role")
		f := strings.Fields(out)
		return len(f) >= 2 && f[0] == "slave" && f[1] == newMaster && probe(other) == 0, out
	})

	// The old master comes back: init.sh asks the sentinels and it rejoins as a replica.
	pods[0].c.Start(t)
	eventually(t, 45*time.Second, "redis-0 back as a replica of "+newMaster, func() (bool, string) {
		out, _ := pods[0].cli(t, "", 6379, "role")
		f := strings.Fields(out)
		return len(f) >= 2 && f[0] == "slave" && f[1] == newMaster, out
	})
	eventually(t, 30*time.Second, "redis-0 has the write made during its absence", func() (bool, string) {
		out, _ := pods[0].cli(t, "", 6379, "get", "revoked:jti-2")
		return out == "1", out
	})
}
