package containers

import (
	"context"
	"fmt"
	"net"
	"net/url"
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
// Password. Its port is published on a fixed host port, so a pool opened before Stop
// reconnects after Start. It is terminated when the test ends.
type Postgres struct {
	*Container
	Image    string
	Host     string
	Port     int
	User     string
	Password string

	seq atomic.Int64
}

// PostgresImage is the image StartPostgres runs: $KEYGATE_POSTGRES_IMAGE or postgres:16-alpine.
func PostgresImage() string { return Image(EnvPostgresImage, DefaultPostgresImage) }

// StartPostgres starts a PostgreSQL server for t.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	img := PostgresImage()
	RequireDocker(t)
	ensureImage(t, img, true)
	port := freePort(t)
	p := &Postgres{Image: img, User: "postgres", Password: "keygate-test"}
	p.Container = start(t, img,
		testcontainers.WithExposedPorts("5432/tcp"),
		testcontainers.WithEnv(map[string]string{"POSTGRES_USER": p.User, "POSTGRES_PASSWORD": p.Password}),
		// Durability is not under test: no fsyncs on a 2-core machine.
		testcontainers.WithCmd("postgres", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "max_connections=300"),
		testcontainers.WithHostConfigModifier(publish("5432/tcp", port)),
	)
	p.Host = host(t, p.Container)
	p.Port, _ = strconv.Atoi(port)
	p.WaitReady(t, 3*time.Minute)
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
func (p *Postgres) CreateDatabase(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("keygate_%d_%d", time.Now().UnixNano()%1e6, p.seq.Add(1))
	conn, err := pgx.Connect(t.Context(), p.URL(""))
	if err != nil {
		t.Fatalf("containers: postgres: %v", err)
	}
	defer conn.Close(context.WithoutCancel(t.Context()))
	if _, err := conn.Exec(t.Context(), `CREATE DATABASE "`+name+`"`); err != nil {
		t.Fatalf("containers: postgres: create database: %v", err)
	}
	return name
}

// WaitReady waits until the server answers a query over TCP (the images run a first server
// without networking while they initialise).
func (p *Postgres) WaitReady(t testing.TB, timeout time.Duration) {
	t.Helper()
	waitSQL(t, "postgres", p.Container, timeout, func(ctx context.Context) error {
		conn, err := pgx.Connect(ctx, p.URL(""))
		if err != nil {
			return err
		}
		defer conn.Close(context.WithoutCancel(ctx))
		_, err = conn.Exec(ctx, "SELECT 1")
		return err
	})
}

// Restart stops the server (SIGINT, a fast shutdown; SIGKILL after timeout), starts it again
// on the same host port and waits until it answers.
func (p *Postgres) Restart(t testing.TB, timeout time.Duration) {
	t.Helper()
	p.Stop(t, timeout)
	p.Start(t)
	p.WaitReady(t, 2*time.Minute)
}
