package deploy

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/keygate/keygate/test/containers"
)

func TestDockerfilesBuildStaticNonRootImages(t *testing.T) {
	tests := []struct {
		file string
		want []string
	}{
		{"deploy/Dockerfile", []string{
			"ARG APP", "FROM golang:${GO_VERSION} AS build", "ARG GO_VERSION=1.26", "CGO_ENABLED=0", "-trimpath",
			"./apps/${APP}", "FROM scratch", "ca-certificates.crt", "USER 65532:65532",
			"EXPOSE 8080 8081 8082 8083 9090 9091 9092 9093", `ENTRYPOINT ["/app"]`,
		}},
		{"deploy/Dockerfile.local", []string{"FROM scratch", "ARG APP", "COPY ${APP} /app", "USER 65532:65532", `ENTRYPOINT ["/app"]`}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			df := string(readFile(t, tt.file))
			for _, w := range tt.want {
				if !strings.Contains(df, w) {
					t.Errorf("%s lacks %q", tt.file, w)
				}
			}
			froms := regexp.MustCompile(`(?m)^FROM\s+(\S+)`).FindAllStringSubmatch(df, -1)
			if last := froms[len(froms)-1][1]; last != "scratch" {
				t.Errorf("%s: final stage FROM %s, want scratch", tt.file, last)
			}
		})
	}
	// The Dockerfile's build stage uses the Go of go.mod.
	gomod := string(readFile(t, "go.mod"))
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(gomod)
	if m == nil || !strings.Contains(string(readFile(t, "deploy/Dockerfile")), "GO_VERSION="+m[1]) {
		t.Errorf("deploy/Dockerfile's GO_VERSION does not match go.mod's go %v", m)
	}
}

// healthServer is a tiny static program standing in for a keygate binary: it answers
// /health on $PORT, as the apps do.
const healthServer = `package main

import (
	"net/http"
	"os"
)

func main() {
	http.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	http.ListenAndServe(":"+os.Getenv("PORT"), nil)
}
`

// TestLocalDockerfileImageRuns builds deploy/Dockerfile.local as CI here does (a static binary
// copied onto scratch, no registry needed), then runs the image and checks its user, ports
// and that the binary answers.
func TestLocalDockerfileImageRuns(t *testing.T) {
	containers.RequireDocker(t)
	ctxDir := t.TempDir()
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "main.go"), []byte(healthServer), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module health\n\ngo 1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	build := exec.CommandContext(t.Context(), "go", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(ctxDir, "authd"), ".")
	build.Dir = src
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOFLAGS=-mod=mod", "GOWORK=off")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(ctxDir, "ca-certificates.crt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile.local"), readFile(t, "deploy/Dockerfile.local"), 0o644); err != nil {
		t.Fatal(err)
	}

	app := "authd"
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	c, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{
		ContainerRequest: testcontainers.ContainerRequest{
			FromDockerfile: testcontainers.FromDockerfile{
				Context:    ctxDir,
				Dockerfile: "Dockerfile.local",
				BuildArgs:  map[string]*string{"APP": &app},
			},
			Env:          map[string]string{"PORT": "8080"},
			ExposedPorts: []string{"8080/tcp"},
			WaitingFor:   wait.ForHTTP("/health").WithPort("8080/tcp").WithStartupTimeout(time.Minute),
		},
		Started: true,
	})
	if c != nil {
		t.Cleanup(func() {
			if err := testcontainers.TerminateContainer(c); err != nil {
				t.Logf("terminate: %v", err)
			}
		})
	}
	if err != nil {
		t.Fatalf("build and run deploy/Dockerfile.local: %v", err)
	}
	inspect, err := c.Inspect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if inspect.Config.User != "65532:65532" {
		t.Errorf("image user %q, want 65532:65532", inspect.Config.User)
	}
	var ports []string
	for p := range inspect.Config.ExposedPorts {
		ports = append(ports, p.String())
	}
	slices.Sort(ports)
	if want := []string{"8080/tcp", "8081/tcp", "8082/tcp", "8083/tcp", "9090/tcp", "9091/tcp", "9092/tcp", "9093/tcp"}; !slices.Equal(ports, want) {
		t.Errorf("exposed ports %v, want %v", ports, want)
	}
	url, err := c.PortEndpoint(ctx, "8080/tcp", "http")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/health", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /health: %v", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || string(body) != "ok" {
		t.Errorf("GET /health = %d %q, want 200 ok", res.StatusCode, body)
	}
}

// TestDockerfileBuildsAnApp builds deploy/Dockerfile for ordersd where the Go base image can
// be had; where no registry answers it skips, saying so.
func TestDockerfileBuildsAnApp(t *testing.T) {
	containers.RequireDocker(t)
	if testing.Short() {
		t.Skip("builds the whole module in a container; skipped with -short")
	}
	const base = "golang:1.26"
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		t.Fatalf("docker client: %v", err)
	}
	defer cli.Close()
	if _, err := cli.ImageInspect(ctx, base); err != nil {
		pullCtx, cancelPull := context.WithTimeout(ctx, time.Minute)
		r, err := cli.ImagePull(pullCtx, base, client.ImagePullOptions{})
		if err == nil {
			_, err = io.Copy(io.Discard, r)
			r.Close()
		}
		cancelPull()
		if err != nil {
			t.Skipf("deploy/Dockerfile needs %s and no registry answers (%v); CI here builds images with deploy/Dockerfile.local instead", base, err)
		}
	}
	app := "ordersd"
	c, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{
		ContainerRequest: testcontainers.ContainerRequest{
			FromDockerfile: testcontainers.FromDockerfile{
				Context:    repoRoot(t),
				Dockerfile: "deploy/Dockerfile",
				BuildArgs:  map[string]*string{"APP": &app},
			},
		},
		Started: false,
	})
	if c != nil {
		t.Cleanup(func() { _ = testcontainers.TerminateContainer(c) })
	}
	if err != nil {
		t.Fatalf("build deploy/Dockerfile with APP=%s: %v", app, err)
	}
	inspect, err := c.Inspect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if inspect.Config.User != "65532:65532" {
		t.Errorf("image user %q, want 65532:65532", inspect.Config.User)
	}
}
