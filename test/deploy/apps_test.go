package deploy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/keygate/keygate/adapters/telemetry"
	"github.com/keygate/keygate/test/containers"
)

// TestAppImagesServeWhatTheManifestsProbe builds the real authd, ordersd and paymentsd into
// images with deploy/Dockerfile.local, runs each as Kubernetes runs it (user 65532, read-only
// root file system, no capabilities, PORT and KEYGATE_ADMIN_ADDR unset so the app picks its
// defaults), and checks that the port and probe paths of the base manifests answer, that the
// API's port serves no /metrics, and that the port and path the scrape annotations name export
// only metrics docs/configuration.md lists. Dev mode (KEYGATE_DEV=1) stands in for Redis and
// MySQL.
func TestAppImagesServeWhatTheManifestsProbe(t *testing.T) {
	containers.RequireDocker(t)
	if testing.Short() {
		t.Skip("compiles the three apps (a minute on a cold cache); skipped with -short")
	}
	base := build(t, "deploy/k8s/overlays/dev") // the overlay with the demo services
	ctxDir := t.TempDir()
	root := repoRoot(t)
	var pkgs []string
	for _, a := range Apps {
		if a.Port != 0 {
			pkgs = append(pkgs, "./apps/"+a.Name)
		}
	}
	gobuild := exec.CommandContext(t.Context(), "go", append([]string{"build", "-trimpath", "-ldflags=-s -w", "-o", ctxDir + "/"}, pkgs...)...)
	gobuild.Dir = root
	gobuild.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := gobuild.CombinedOutput(); err != nil {
		t.Fatalf("go build %v: %v\n%s", pkgs, err, out)
	}
	if err := os.WriteFile(filepath.Join(ctxDir, "ca-certificates.crt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile.local"), readFile(t, "deploy/Dockerfile.local"), 0o644); err != nil {
		t.Fatal(err)
	}

	for _, d := range base.Deployments {
		c := d.Spec.Template.Spec.Containers[0]
		app, ok := appOf(c.Image)
		if !ok {
			continue
		}
		t.Run(app.Name, func(t *testing.T) {
			port := fmt.Sprintf("%d/tcp", c.Ports[0].ContainerPort)
			adminPort := d.Spec.Template.Annotations["prometheus.io/port"] + "/tcp"
			name := app.Name
			ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
			defer cancel()
			ctr, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{
				ContainerRequest: testcontainers.ContainerRequest{
					FromDockerfile: testcontainers.FromDockerfile{
						Context: ctxDir, Dockerfile: "Dockerfile.local", BuildArgs: map[string]*string{"APP": &name},
					},
					Env:          map[string]string{"KEYGATE_DEV": "1"},
					ExposedPorts: []string{port, adminPort},
					HostConfigModifier: func(hc *container.HostConfig) {
						hc.ReadonlyRootfs = true
						hc.CapDrop = []string{"ALL"}
						hc.SecurityOpt = []string{"no-new-privileges:true"}
					},
					// Docker's port forward accepts before the app listens: wait for an answer.
					WaitingFor: wait.ForHTTP(c.LivenessProbe.HTTPGet.Path).WithPort(port).WithStartupTimeout(time.Minute),
				},
				Started: true,
			})
			if ctr != nil {
				t.Cleanup(func() { _ = testcontainers.TerminateContainer(ctr) })
			}
			if err != nil {
				t.Fatalf("run %s as the manifests do: %v", name, err)
			}
			url, err := ctr.PortEndpoint(ctx, port, "http")
			if err != nil {
				t.Fatal(err)
			}
			adminURL, err := ctr.PortEndpoint(ctx, adminPort, "http")
			if err != nil {
				t.Fatal(err)
			}
			get := func(path string) (int, string) {
				t.Helper()
				base := url
				if p, ok := strings.CutPrefix(path, "admin:"); ok {
					base, path = adminURL, p
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatalf("GET %s: %v", path, err)
				}
				defer res.Body.Close()
				b, _ := io.ReadAll(res.Body)
				return res.StatusCode, string(b)
			}
			if code, _ := get(c.LivenessProbe.HTTPGet.Path); code != http.StatusOK {
				t.Errorf("liveness %s = %d, want 200", c.LivenessProbe.HTTPGet.Path, code)
			}
			// Ready or not (a microservice has no JWKS here), the path must exist.
			if code, _ := get(c.ReadinessProbe.HTTPGet.Path); code != http.StatusOK && code != http.StatusServiceUnavailable {
				t.Errorf("readiness %s = %d, want 200 or 503", c.ReadinessProbe.HTTPGet.Path, code)
			}
			if code, _ := get("/metrics"); code != http.StatusNotFound {
				t.Errorf("/metrics on the API's port = %d, want 404", code)
			}
			code, metrics := get("admin:" + d.Spec.Template.Annotations["prometheus.io/path"])
			if code != http.StatusOK {
				t.Fatalf("metrics on the annotated admin port %s = %d", adminPort, code)
			}
			exported := map[string]bool{}
			sc := bufio.NewScanner(strings.NewReader(metrics))
			for sc.Scan() {
				if f := strings.Fields(sc.Text()); len(f) >= 3 && f[0] == "#" && f[1] == "TYPE" {
					exported[f[2]] = true
				}
			}
			for n := range exported {
				if strings.HasPrefix(n, "go_") || strings.HasPrefix(n, "process_") || strings.HasPrefix(n, "promhttp_") {
					continue
				}
				if !slices.Contains(telemetry.MetricNames, n) {
					t.Errorf("%s exports %s, which docs/configuration.md does not list", name, n)
				}
			}
			for _, want := range []string{"http_requests_in_flight", "go_goroutines"} {
				if !exported[want] {
					t.Errorf("%s does not export %s", name, want)
				}
			}
		})
	}
}
