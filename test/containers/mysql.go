package containers

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"net"
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
//
// MySQL 8 is optional: with EnvMySQLImage unset, mysql:8.0 is used only if it is present
// locally or can be pulled; otherwise the MySQL 8 tests skip, even with
// KEYGATE_REQUIRE_DOCKER=1, because MariaDB 10.11 (which CI always runs, from the testbed image)
// covers the same adapter with the same tests. Setting EnvMySQLImage makes MySQL 8 required
// like any other image. MariaDB and PostgreSQL images that cannot be had skip their tests
// without KEYGATE_REQUIRE_DOCKER and fail them with it.
const (
	EnvMySQLImage       = "KEYGATE_MYSQL_IMAGE"
	DefaultMySQLImage   = "mysql:8.0"
	EnvMariaDBImage     = "KEYGATE_MARIADB_IMAGE"
	DefaultMariaDBImage = "mariadb:10.11"
)

// MySQL is a MySQL 8 or MariaDB server in a container, reachable at Host:Port as User (root)
// with Password. Its port is published on a fixed host port, so a pool opened before Stop
// reconnects after Start. It is terminated when the test ends.
type MySQL struct {
	*Container
	Flavor   string // "mysql" or "mariadb"
	Image    string
	Host     string
	Port     int
	User     string
	Password string

	seq atomic.Int64
}

// MySQLImage is the image StartMySQL runs, and whether it was asked for explicitly.
func MySQLImage() (img string, explicit bool) {
	if v := os.Getenv(EnvMySQLImage); v != "" {
		return v, true
	}
	return DefaultMySQLImage, false
}

// MariaDBImage is the image StartMariaDB runs: $KEYGATE_MARIADB_IMAGE or mariadb:10.11.
func MariaDBImage() string { return Image(EnvMariaDBImage, DefaultMariaDBImage) }

// StartMySQL starts a MySQL 8 server for t (see EnvMySQLImage for when it skips).
func StartMySQL(t testing.TB) *MySQL {
	t.Helper()
	img, explicit := MySQLImage()
	return startMySQL(t, "mysql", img, explicit)
}

// StartMariaDB starts a MariaDB server for t.
func StartMariaDB(t testing.TB) *MySQL {
	t.Helper()
	return startMySQL(t, "mariadb", MariaDBImage(), true)
}

// StartMariaDBTLS starts a MariaDB server that also speaks TLS with s's certificate
// (--ssl-cert, --ssl-key, --ssl-ca); plaintext connections are still accepted.
func StartMariaDBTLS(t testing.TB, s *ServerTLS) *MySQL {
	t.Helper()
	files := []testcontainers.ContainerFile{
		{Reader: bytes.NewReader(s.CertPEM), ContainerFilePath: "/etc/mysql/kg-server.crt", FileMode: 0o644},
		{Reader: bytes.NewReader(s.KeyPEM), ContainerFilePath: "/etc/mysql/kg-server.key", FileMode: 0o644},
		{Reader: bytes.NewReader(s.CAPEM), ContainerFilePath: "/etc/mysql/kg-ca.crt", FileMode: 0o644},
	}
	return startMySQL(t, "mariadb", MariaDBImage(), true, testcontainers.WithFiles(files...),
		testcontainers.WithCmdArgs("--ssl-cert=/etc/mysql/kg-server.crt", "--ssl-key=/etc/mysql/kg-server.key", "--ssl-ca=/etc/mysql/kg-ca.crt"))
}

func startMySQL(t testing.TB, flavor, img string, required bool, opts ...testcontainers.ContainerCustomizer) *MySQL {
	t.Helper()
	RequireDocker(t)
	ensureImage(t, img, required)
	port := freePort(t)
	const password = "keygate-test"
	c := start(t, img, append([]testcontainers.ContainerCustomizer{
		testcontainers.WithExposedPorts("3306/tcp"),
		testcontainers.WithEnv(map[string]string{
			"MYSQL_ROOT_PASSWORD":   password,
			"MARIADB_ROOT_PASSWORD": password,
		}),
		// Durability is not under test: fewer fsyncs on a 2-core machine.
		testcontainers.WithCmd("--innodb-flush-log-at-trx-commit=2", "--max-connections=500"),
		testcontainers.WithHostConfigModifier(publish("3306/tcp", port)),
	}, opts...)...)
	m := &MySQL{Container: c, Flavor: flavor, Image: img, User: "root", Password: password}
	m.Host = host(t, c)
	m.Port, _ = strconv.Atoi(port)
	m.WaitReady(t, 3*time.Minute)
	return m
}

// DSN returns a go-sql-driver DSN for database name (empty: none) as root.
func (m *MySQL) DSN(name string) string { return m.config(name).FormatDSN() }

func (m *MySQL) config(name string) *mysqldriver.Config {
	c := mysqldriver.NewConfig()
	c.Net, c.Addr = "tcp", net.JoinHostPort(m.Host, strconv.Itoa(m.Port))
	c.User, c.Passwd, c.DBName = m.User, m.Password, name
	c.Timeout = 5 * time.Second
	c.Logger = quiet{} // "unexpected EOF" while the server starts is expected
	return c
}

// open opens a root pool without a database.
func (m *MySQL) open() (*sql.DB, error) {
	conn, err := mysqldriver.NewConnector(m.config(""))
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(conn), nil
}

// quiet discards the driver's log messages.
type quiet struct{}

func (quiet) Print(...any) {}

// CreateDatabase creates a new, empty database and returns its name.
func (m *MySQL) CreateDatabase(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("keygate_%d_%d", time.Now().UnixNano()%1e6, m.seq.Add(1))
	db, err := m.open()
	if err != nil {
		t.Fatalf("containers: %s: %v", m.Flavor, err)
	}
	defer db.Close()
	if _, err := db.ExecContext(t.Context(), "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4"); err != nil {
		t.Fatalf("containers: %s: create database: %v", m.Flavor, err)
	}
	return name
}

// WaitReady waits until the server answers a query over TCP (the images run a first server
// without networking while they initialise, and InnoDB recovers after a restart).
func (m *MySQL) WaitReady(t testing.TB, timeout time.Duration) {
	t.Helper()
	waitSQL(t, m.Flavor, m.Container, timeout, func(ctx context.Context) error {
		db, err := m.open()
		if err != nil {
			return err
		}
		defer db.Close()
		return db.PingContext(ctx)
	})
}

// Restart stops the server (SIGTERM, SIGKILL after timeout), starts it again on the same host
// port and waits until it answers.
func (m *MySQL) Restart(t testing.TB, timeout time.Duration) {
	t.Helper()
	m.Stop(t, timeout)
	m.Start(t)
	m.WaitReady(t, 2*time.Minute)
}

// waitSQL calls ping until it succeeds or timeout passes, failing t with the container's last
// log lines.
func waitSQL(t testing.TB, what string, c *Container, timeout time.Duration, ping func(context.Context) error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		err := ping(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("containers: %s not ready after %v: %v\n%s", what, timeout, err, logTail(c, 30))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// logTail returns the last n lines of the container's log.
func logTail(c *Container, n int) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := c.Logs(ctx)
	if err != nil {
		return ""
	}
	defer r.Close()
	b, _ := io.ReadAll(r)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// host returns the host at which c's ports are published.
func host(t testing.TB, c *Container) string {
	t.Helper()
	h, err := c.Host(t.Context())
	if err != nil {
		t.Fatalf("containers: host: %v", err)
	}
	return h
}

// publish binds the container's port to hostPort on the host.
func publish(containerPort, hostPort string) func(*container.HostConfig) {
	return func(hc *container.HostConfig) {
		hc.PortBindings = network.PortMap{network.MustParsePort(containerPort): {{HostPort: hostPort}}}
	}
}

// ensureImage makes sure img is present locally, pulling it once if not (testcontainers
// would retry a failing pull for minutes). An image that cannot be had skips t, or fails it
// when required and KEYGATE_REQUIRE_DOCKER=1.
func ensureImage(t testing.TB, img string, required bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		t.Fatalf("containers: docker client: %v", err)
	}
	defer cli.Close()
	if _, err := cli.ImageInspect(ctx, img); err == nil {
		return
	}
	r, err := cli.ImagePull(ctx, img, client.ImagePullOptions{})
	if err == nil {
		_, err = io.Copy(io.Discard, r)
		r.Close()
		if err == nil {
			_, err = cli.ImageInspect(ctx, img)
		}
	}
	if err == nil {
		return
	}
	switch {
	case !required:
		t.Skipf("containers: optional image %s cannot be had (%v); set %s to an image to run these tests "+
			"(MariaDB runs the same ones)", img, err, EnvMySQLImage)
	case os.Getenv(EnvRequireDocker) == "1":
		t.Fatalf("containers: image %s cannot be had (%v) and %s=1; %s", img, err, EnvRequireDocker, HowToEnable)
	}
	t.Skipf("containers: image %s cannot be had (%v); %s", img, err, HowToEnable)
}
