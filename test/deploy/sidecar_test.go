package deploy

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

const sidecarExample = "deploy/k8s/examples/guardd-sidecar"

// guardd is the forward-auth sidecar: the variables of ordersd, on its own port.
var guardd = App{Name: "guardd", Port: 8083, AdminPort: 9093, Sections: []string{"Every binary", "ordersd, paymentsd", "guardd"}}

// TestSidecarExample: the guardd sidecar example builds and decodes strictly; its nginx
// configuration is the auth_request example's; guardd listens on its port with /health and
// /ready probes and is set only documented variables; every container runs as the restricted
// Pod Security Standard requires.
func TestSidecarExample(t *testing.T) {
	if conf := readFile(t, sidecarExample+"/nginx.conf"); !bytes.Equal(conf, readFile(t, "deploy/nginx/auth-request/nginx.conf")) {
		t.Errorf("%s/nginx.conf differs from deploy/nginx/auth-request/nginx.conf: copy it", sidecarExample)
	}
	b := build(t, sidecarExample)
	docs := parseDocs(t)
	if len(b.Deployments) != 1 {
		t.Fatalf("%d Deployments, want 1", len(b.Deployments))
	}
	spec := b.Deployments[0].Spec.Template.Spec
	if psc := spec.SecurityContext; psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod security context %+v, want runAsNonRoot and RuntimeDefault seccomp", psc)
	}
	var found bool
	for _, c := range spec.Containers {
		if sc := c.SecurityContext; sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.Capabilities == nil ||
			!slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
			t.Errorf("container %s: security context %+v is not restricted", c.Name, sc)
		}
		if !strings.HasPrefix(c.Image, "keygate/guardd") {
			continue
		}
		found = true
		if len(c.Ports) != 2 || c.Ports[0].ContainerPort != guardd.Port || c.Ports[1].ContainerPort != guardd.AdminPort {
			t.Errorf("guardd ports %+v, want %d and the admin listener's %d", c.Ports, guardd.Port, guardd.AdminPort)
			continue
		}
		if ann := b.Deployments[0].Spec.Template.Annotations; ann["prometheus.io/port"] != fmt.Sprint(guardd.AdminPort) {
			t.Errorf("scrape annotation port %q, want guardd's admin listener %d", ann["prometheus.io/port"], guardd.AdminPort)
		}
		for probe, want := range map[*corev1.Probe]string{c.LivenessProbe: livenessPath, c.ReadinessProbe: readinessPath} {
			if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != want || !portIs(probe.HTTPGet.Port, c.Ports[0]) {
				t.Errorf("guardd probe %+v, want GET %s on the API's port", probe, want)
			}
		}
		var names []string
		for _, e := range c.Env {
			names = append(names, e.Name)
		}
		for _, from := range c.EnvFrom {
			cm, ok := b.configMap(from.ConfigMapRef.Name)
			if !ok {
				t.Fatalf("guardd envFrom a missing ConfigMap %s", from.ConfigMapRef.Name)
			}
			for name := range cm.Data {
				names = append(names, name)
			}
		}
		for _, name := range names {
			if !docs.readsVar(guardd, name) {
				t.Errorf("guardd is set %s, which docs/configuration.md does not list for it", name)
			}
		}
		if !slices.Contains(names, "KEYGATE_AUDIENCE") || !slices.Contains(names, "REDIS_ADDR") {
			t.Errorf("guardd is set %v; it needs KEYGATE_AUDIENCE and REDIS_ADDR", names)
		}
	}
	if !found {
		t.Errorf("no guardd container in %s", sidecarExample)
	}
	for _, p := range adminPortsInServices(b, append(Apps, guardd)) {
		t.Error(p)
	}
}
