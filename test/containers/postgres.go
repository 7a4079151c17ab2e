package containers

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/testcontainers/testcontainers-go"
)

// The PostgreSQL image and the variable that overrides it (CI sets the testbed image of
// test/testbed/up.sh, Debian's PostgreSQL 15).
const (
	EnvPostgresImage     = "KEYGATE_POSTGRES_IMAGE"
	DefaultPostgresImage = "postgres:16-alpine"
)

// Postgres is a PostgreSQL server in a container, reachable at Host:Port as User with
// Password. Its host port stays the same across Stop and Start, so a pool opened before a
// Stop can reconnect after the Start. The container is terminated when the test ends.
type Postgres struct {
	Image    string
	Host     string
	Port     int
	User     string
	Password string

	c   testcontainers.Container
	seq atomic.Int64
}

// StartPostgres starts a PostgreSQL server (KEYGATE_POSTGRES_IMAGE, default
// postgres:16-alpine).
func StartPostgres(tb testing.TB) *Postgres {
	tb.Helper()
	img := os.Getenv(EnvPostgresImage)
	if img == "" {
		img = DefaultPostgresImage
	}
	sqlEnsureImage(tb, img, true)
	p := &Postgres{Image: img, User: "postgres", Password: "keygate-test"}
	port := sqlFreePort(tb)
	req := testcontainers.ContainerRequest{
		Image:        img,
		ExposedPorts: []string{"5432/tcp"},
		Env: map[string]string{
			"POSTGRES_USER":     p.User,
			"POSTGRES_PASSWORD": p.Password,
		},
		// Durability is not under test: skip the fsyncs that make a 2-core machine crawl.
		Cmd:                []string{"postgres", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "max_connections=300"},
		HostConfigModifier: sqlFixedPort("5432/tcp", port),
	}
	p.c = sqlStartContainer(tb, req)
	p.Host, p.Port = sqlHost(tb, p.c), port
	p.waitReady(tb, 3*time.Minute)
	return p
}

// URL returns a connection URL for database name (empty: the default database).
func (p *Postgres) URL(name string) string {
	if name == "" {
		name = "postgres"
	}
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(p.User, p.Password),
		Host:     net.JoinHostPort(p.Host, strconv.Itoa(p.Port)),
		Path:     "/" + name,
		RawQuery: "sslmode=disable&connect_timeout=5",
	}
	return u.String()
}

// CreateDatabase creates a new, empty database and returns its name.
func (p *Postgres) CreateDatabase(tb testing.TB) string {
	tb.Helper()
	name := fmt.Sprintf("keygate_%d_%d", time.Now().UnixNano()%1e6, p.seq.Add(1))
	conn, err := pgx.Connect(tb.Context(), p.URL(""))
	if err != nil {
		tb.Fatalf("containers: postgres: %v", err)
	}
	defer conn.Close(context.WithoutCancel(tb.Context()))
	if _, err := conn.Exec(tb.Context(), `CREATE DATABASE "`+name+`"`); err != nil {
		tb.Fatalf("containers: postgres: create database: %v", err)
	}
	return name
}

// Stop stops the server (SIGINT: a fast shutdown, then SIGKILL after 10 s).
func (p *Postgres) Stop(tb testing.TB) {
	tb.Helper()
	sqlStop(tb, p.c)
}

// Start starts the stopped server again on the same host port and waits until it answers.
func (p *Postgres) Start(tb testing.TB) {
	tb.Helper()
	if err := p.c.Start(tb.Context()); err != nil {
		tb.Fatalf("containers: start postgres: %v", err)
	}
	p.waitReady(tb, 2*time.Minute)
}

// waitReady waits until the server answers a query over TCP (the images run a first server
// without networking while they initialise).
func (p *Postgres) waitReady(tb testing.TB, limit time.Duration) {
	tb.Helper()
	sqlWait(tb, "postgres", p.c, limit, func(ctx context.Context) error {
		conn, err := pgx.Connect(ctx, p.URL(""))
		if err != nil {
			return err
		}
		defer conn.Close(context.WithoutCancel(ctx))
		_, err = conn.Exec(ctx, "SELECT 1")
		return err
	})
}
