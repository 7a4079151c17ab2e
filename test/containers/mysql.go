package containers

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

// Images of the MySQL-protocol servers and the variables that override them.
const (
	// EnvMySQLImage names the MySQL 8 image. When it is unset the default is used only if it
	// can be had (present locally or pulled); otherwise the MySQL 8 tests skip even with
	// KEYGATE_REQUIRE_DOCKER=1, because MariaDB (which CI always runs) covers the same adapter.
	// Set it to make MySQL 8 required.
	EnvMySQLImage     = "KEYGATE_MYSQL_IMAGE"
	DefaultMySQLImage = "mysql:8.0"
	// EnvMariaDBImage names the MariaDB image: CI sets the testbed image of test/testbed/up.sh.
	EnvMariaDBImage     = "KEYGATE_MARIADB_IMAGE"
	DefaultMariaDBImage = "mariadb:10.11"
)

// MySQL is a MySQL 8 or MariaDB server in a container, reachable at Host:Port as root with
// Password. Its host port stays the same across Stop and Start, so a pool opened before a
// Stop can reconnect after the Start. The container is terminated when the test ends.
type MySQL struct {
	Flavor   string // "mysql" or "mariadb"
	Image    string
	Host     string
	Port     int
	User     string
	Password string

	c   testcontainers.Container
	seq atomic.Int64
}

// StartMySQL starts a MySQL 8 server (KEYGATE_MYSQL_IMAGE, default mysql:8.0). Without
// KEYGATE_MYSQL_IMAGE, a default image that cannot be had skips the test whatever
// KEYGATE_REQUIRE_DOCKER says (MariaDB covers the adapter there).
func StartMySQL(tb testing.TB) *MySQL {
	tb.Helper()
	img, explicit := os.LookupEnv(EnvMySQLImage)
	if !explicit || img == "" {
		img = DefaultMySQLImage
	}
	return startMySQL(tb, "mysql", img, explicit)
}

// StartMariaDB starts a MariaDB server (KEYGATE_MARIADB_IMAGE, default mariadb:10.11).
func StartMariaDB(tb testing.TB) *MySQL {
	tb.Helper()
	img := os.Getenv(EnvMariaDBImage)
	if img == "" {
		img = DefaultMariaDBImage
	}
	return startMySQL(tb, "mariadb", img, true)
}

func startMySQL(tb testing.TB, flavor, img string, required bool) *MySQL {
	tb.Helper()
	sqlEnsureImage(tb, img, required)
	m := &MySQL{Flavor: flavor, Image: img, User: "root", Password: "keygate-test"}
	port := sqlFreePort(tb)
	req := testcontainers.ContainerRequest{
		Image:        img,
		ExposedPorts: []string{"3306/tcp"},
		Env: map[string]string{
			"MYSQL_ROOT_PASSWORD":   m.Password,
			"MARIADB_ROOT_PASSWORD": m.Password,
		},
		// Durability is not under test: skip the fsyncs that make a 2-core machine crawl.
		Cmd:                []string{"--innodb-flush-log-at-trx-commit=2", "--max-connections=500"},
		HostConfigModifier: sqlFixedPort("3306/tcp", port),
	}
	m.c = sqlStartContainer(tb, req)
	m.Host, m.Port = sqlHost(tb, m.c), port
	m.waitReady(tb, 3*time.Minute)
	return m
}

// DSN returns a go-sql-driver DSN for database name (empty: none) as root.
func (m *MySQL) DSN(name string) string {
	c := mysqldriver.NewConfig()
	c.Net, c.Addr = "tcp", net.JoinHostPort(m.Host, strconv.Itoa(m.Port))
	c.User, c.Passwd, c.DBName = m.User, m.Password, name
	c.Timeout = 5 * time.Second
	return c.FormatDSN()
}

// CreateDatabase creates a new, empty database and returns its name.
func (m *MySQL) CreateDatabase(tb testing.TB) string {
	tb.Helper()
	name := fmt.Sprintf("keygate_%d_%d", time.Now().UnixNano()%1e6, m.seq.Add(1))
	m.exec(tb, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4")
	return name
}

// exec runs one statement as root.
func (m *MySQL) exec(tb testing.TB, stmt string) {
	tb.Helper()
	db, err := sql.Open("mysql", m.DSN(""))
	if err != nil {
		tb.Fatalf("containers: %s: %v", m.Flavor, err)
	}
	defer db.Close()
	if _, err := db.ExecContext(tb.Context(), stmt); err != nil {
		tb.Fatalf("containers: %s: %s: %v", m.Flavor, stmt, err)
	}
}

// Stop stops the server (SIGTERM, then SIGKILL after 10 s).
func (m *MySQL) Stop(tb testing.TB) {
	tb.Helper()
	sqlStop(tb, m.c)
}

// Start starts the stopped server again on the same host port and waits until it answers.
func (m *MySQL) Start(tb testing.TB) {
	tb.Helper()
	if err := m.c.Start(tb.Context()); err != nil {
		tb.Fatalf("containers: start %s: %v", m.Flavor, err)
	}
	m.waitReady(tb, 2*time.Minute)
}

// waitReady waits until the server answers a query over TCP (the images run a first server
// without networking while they initialise).
func (m *MySQL) waitReady(tb testing.TB, limit time.Duration) {
	tb.Helper()
	sqlWait(tb, m.Flavor, m.c, limit, func(ctx context.Context) error {
		db, err := sql.Open("mysql", m.DSN(""))
		if err != nil {
			return err
		}
		defer db.Close()
		return db.PingContext(ctx)
	})
}

// waitSQL calls ping until it succeeds or limit passes, failing the test with the container's
// last log lines.
func sqlWait(tb testing.TB, what string, c testcontainers.Container, limit time.Duration, ping func(context.Context) error) {
	tb.Helper()
	deadline := time.Now().Add(limit)
	for {
		ctx, cancel := context.WithTimeout(tb.Context(), 3*time.Second)
		err := ping(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("containers: %s not ready after %s: %v\n%s", what, limit, err, sqlLogTail(c, 30))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// logTail returns the last n lines of the container's log.
func sqlLogTail(c testcontainers.Container, n int) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := c.Logs(ctx)
	if err != nil {
		return ""
	}
	defer r.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		k, err := r.Read(buf)
		b.Write(buf[:k])
		if err != nil {
			break
		}
	}
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// freePort returns a TCP port free on the host now, for a fixed binding that survives a
// container restart.
func sqlFreePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("containers: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// fixedPort binds the container's port to hostPort on the host.
func sqlFixedPort(containerPort string, hostPort int) func(*container.HostConfig) {
	return func(hc *container.HostConfig) {
		hc.PortBindings = network.PortMap{
			network.MustParsePort(containerPort): {{HostIP: netip.IPv4Unspecified(), HostPort: strconv.Itoa(hostPort)}},
		}
	}
}

// requireDocker reports whether KEYGATE_REQUIRE_DOCKER asks for a failure instead of a skip.
func sqlRequireDocker() bool { return os.Getenv("KEYGATE_REQUIRE_DOCKER") == "1" }

// sqlSkipOrFail skips the test with reason, or fails it when required and
// KEYGATE_REQUIRE_DOCKER=1.
func sqlSkipOrFail(tb testing.TB, required bool, reason string) {
	tb.Helper()
	if required && sqlRequireDocker() {
		tb.Fatalf("containers: %s (KEYGATE_REQUIRE_DOCKER=1)", reason)
	}
	tb.Skipf("containers: %s; run `eval \"$(bash test/testbed/up.sh)\"` to start Docker and build local images", reason)
}

// sqlEnsureImage makes sure img is present locally: it pulls it once if not. An image that
// cannot be had skips the test (or fails it, see sqlSkipOrFail).
func sqlEnsureImage(tb testing.TB, img string, required bool) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tb.Context(), 10*time.Minute)
	defer cancel()
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		sqlSkipOrFail(tb, true, fmt.Sprintf("no Docker daemon: %v", err))
	}
	defer cli.Close()
	if _, err := cli.Ping(ctx, client.PingOptions{}); err != nil {
		sqlSkipOrFail(tb, true, fmt.Sprintf("no Docker daemon: %v", err))
	}
	if _, err := cli.ImageInspect(ctx, img); err == nil {
		return
	}
	r, err := cli.ImagePull(ctx, img, client.ImagePullOptions{})
	if err == nil {
		_, err = io.Copy(io.Discard, r)
		r.Close()
	}
	if err == nil {
		if _, err = cli.ImageInspect(ctx, img); err == nil {
			return
		}
	}
	if !required {
		tb.Skipf("containers: image %s cannot be had (%v); optional: set %s to an image to run these tests (MariaDB covers the same adapter)",
			img, err, EnvMySQLImage)
	}
	sqlSkipOrFail(tb, required, fmt.Sprintf("image %s cannot be had: %v", img, err))
}

// sqlStartContainer starts req and terminates it when the test ends.
func sqlStartContainer(tb testing.TB, req testcontainers.ContainerRequest) testcontainers.Container {
	tb.Helper()
	c, err := testcontainers.GenericContainer(tb.Context(), testcontainers.GenericContainerRequest{
		ContainerRequest: req, Started: true,
	})
	if c != nil {
		tb.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_ = c.Terminate(ctx)
		})
	}
	if err != nil {
		tb.Fatalf("containers: start %s: %v", req.Image, err)
	}
	return c
}

// sqlHost returns the host at which the container's ports are mapped.
func sqlHost(tb testing.TB, c testcontainers.Container) string {
	tb.Helper()
	h, err := c.Host(tb.Context())
	if err != nil {
		tb.Fatalf("containers: host: %v", err)
	}
	return h
}

// sqlStop stops the container (SIGTERM, SIGKILL after 10 s).
func sqlStop(tb testing.TB, c testcontainers.Container) {
	tb.Helper()
	d := 10 * time.Second
	if err := c.Stop(tb.Context(), &d); err != nil {
		tb.Fatalf("containers: stop: %v", err)
	}
}
