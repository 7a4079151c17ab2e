package deploy

import (
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// Built is one kustomization built and every object decoded strictly into its API type.
type Built struct {
	Deployments     []*appsv1.Deployment
	StatefulSets    []*appsv1.StatefulSet
	Jobs            []*batchv1.Job
	Services        []*corev1.Service
	ConfigMaps      []*corev1.ConfigMap
	Namespaces      []*corev1.Namespace
	HPAs            []*autoscalingv2.HorizontalPodAutoscaler
	PDBs            []*policyv1.PodDisruptionBudget
	NetworkPolicies []*networkingv1.NetworkPolicy
	Ingresses       []*networkingv1.Ingress
	CronJobs        []*batchv1.CronJob
	PVCs            []*corev1.PersistentVolumeClaim
}

// Workload is a pod template with the name and kind of its owner.
type Workload struct {
	Kind, Name string
	Labels     map[string]string
	Spec       corev1.PodSpec
}

func (b *Built) workloads() []Workload {
	var out []Workload
	for _, d := range b.Deployments {
		out = append(out, Workload{"Deployment", d.Name, d.Spec.Template.Labels, d.Spec.Template.Spec})
	}
	for _, s := range b.StatefulSets {
		out = append(out, Workload{"StatefulSet", s.Name, s.Spec.Template.Labels, s.Spec.Template.Spec})
	}
	for _, j := range b.Jobs {
		out = append(out, Workload{"Job", j.Name, j.Spec.Template.Labels, j.Spec.Template.Spec})
	}
	for _, c := range b.CronJobs {
		tpl := c.Spec.JobTemplate.Spec.Template
		out = append(out, Workload{"CronJob", c.Name, tpl.Labels, tpl.Spec})
	}
	return out
}

func (b *Built) configMap(name string) (*corev1.ConfigMap, bool) {
	for _, c := range b.ConfigMaps {
		if c.Name == name {
			return c, true
		}
	}
	return nil, false
}

// kustomizations are the directories `kubectl apply -k` must accept.
var kustomizations = []string{"deploy/k8s/base", "deploy/k8s/overlays/dev", "deploy/k8s/overlays/prod", "deploy/k8s/overlays/prod-postgres"}

// prodLike are the production overlays: prod, and prod-postgres (prod with the component
// deploy/k8s/components/postgres instead of MySQL).
var prodLike = map[string]bool{"deploy/k8s/overlays/prod": true, "deploy/k8s/overlays/prod-postgres": true}

// database returns the database a kustomization deploys: its name (StatefulSet, Service and
// pod label) and port.
func database(dir string) (string, int32) {
	if dir == "deploy/k8s/overlays/prod-postgres" {
		return "postgres", 5432
	}
	return "mysql", 3306
}

// withDemos are the kustomizations that deploy the demo services ordersd and paymentsd (the
// component deploy/k8s/components/demos); the others deploy authd and its stores only.
var withDemos = map[string]bool{"deploy/k8s/overlays/dev": true}

// isDemo reports whether app is one of the demo services.
func isDemo(app string) bool { return app == "ordersd" || app == "paymentsd" }

// deployed reports whether the kustomization dir runs app.
func deployed(dir string, a App) bool { return a.Port != 0 && (withDemos[dir] || !isDemo(a.Name)) }

// build runs kustomize (the library kubectl embeds) on dir and decodes every object strictly:
// an unknown field or kind fails the test.
func build(t *testing.T, dir string) *Built {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resources, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(repoRoot(t), dir))
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	b := &Built{}
	for _, r := range resources.Resources() {
		data, err := r.AsYAML()
		if err != nil {
			t.Fatalf("%s: %s/%s as YAML: %v", dir, r.GetKind(), r.GetName(), err)
		}
		gvk := r.GetApiVersion() + " " + r.GetKind()
		var target any
		switch gvk {
		case "apps/v1 Deployment":
			o := &appsv1.Deployment{}
			b.Deployments, target = append(b.Deployments, o), o
		case "apps/v1 StatefulSet":
			o := &appsv1.StatefulSet{}
			b.StatefulSets, target = append(b.StatefulSets, o), o
		case "batch/v1 Job":
			o := &batchv1.Job{}
			b.Jobs, target = append(b.Jobs, o), o
		case "v1 Service":
			o := &corev1.Service{}
			b.Services, target = append(b.Services, o), o
		case "v1 ConfigMap":
			o := &corev1.ConfigMap{}
			b.ConfigMaps, target = append(b.ConfigMaps, o), o
		case "v1 Namespace":
			o := &corev1.Namespace{}
			b.Namespaces, target = append(b.Namespaces, o), o
		case "autoscaling/v2 HorizontalPodAutoscaler":
			o := &autoscalingv2.HorizontalPodAutoscaler{}
			b.HPAs, target = append(b.HPAs, o), o
		case "policy/v1 PodDisruptionBudget":
			o := &policyv1.PodDisruptionBudget{}
			b.PDBs, target = append(b.PDBs, o), o
		case "batch/v1 CronJob":
			o := &batchv1.CronJob{}
			b.CronJobs, target = append(b.CronJobs, o), o
		case "v1 PersistentVolumeClaim":
			o := &corev1.PersistentVolumeClaim{}
			b.PVCs, target = append(b.PVCs, o), o
		case "networking.k8s.io/v1 Ingress":
			o := &networkingv1.Ingress{}
			b.Ingresses, target = append(b.Ingresses, o), o
		case "networking.k8s.io/v1 NetworkPolicy":
			o := &networkingv1.NetworkPolicy{}
			b.NetworkPolicies, target = append(b.NetworkPolicies, o), o
		default:
			t.Errorf("%s: %s %s: a kind this test does not decode (add it, or drop the object)", dir, gvk, r.GetName())
			continue
		}
		if err := yaml.UnmarshalStrict(data, target); err != nil {
			t.Errorf("%s: %s %s does not decode strictly: %v", dir, gvk, r.GetName(), err)
		}
	}
	return b
}

// buildAll builds every kustomization once per test binary.
var builtCache = map[string]*Built{}

func buildAll(t *testing.T) map[string]*Built {
	t.Helper()
	for _, dir := range kustomizations {
		if builtCache[dir] == nil {
			builtCache[dir] = build(t, dir)
		}
	}
	return builtCache
}

func TestEveryKustomizationBuildsAndDecodesStrictly(t *testing.T) {
	for _, dir := range kustomizations {
		t.Run(dir, func(t *testing.T) {
			b := build(t, dir)
			wantDeployments := 2 // authd, nginx
			if withDemos[dir] {
				wantDeployments = 4 // and ordersd, paymentsd
			}
			if len(b.Deployments) != wantDeployments || len(b.StatefulSets) != 2 || len(b.Jobs) != 1 {
				t.Errorf("%d Deployments, %d StatefulSets, %d Jobs; want %d (authd, nginx, and the demos where deployed); redis, the database; the migration",
					len(b.Deployments), len(b.StatefulSets), len(b.Jobs), wantDeployments)
			}
		})
	}
}

func TestAppContainersListenWhereTheAppsDoAndProbeHealthAndReady(t *testing.T) {
	for dir, b := range buildAll(t) {
		seen := map[string]bool{}
		for _, w := range b.workloads() {
			for _, c := range w.Spec.Containers {
				app, ok := appOf(c.Image)
				if !ok || app.Port == 0 {
					continue
				}
				seen[app.Name] = true
				where := fmt.Sprintf("%s: %s %s container %s", dir, w.Kind, w.Name, c.Name)
				if len(c.Ports) != 2 || c.Ports[0].ContainerPort != app.Port || c.Ports[0].Name != "http" ||
					c.Ports[1].ContainerPort != app.AdminPort || c.Ports[1].Name != "admin" {
					t.Errorf("%s: ports %+v, want http %d and admin %d (KEYGATE_ADMIN_ADDR)", where, c.Ports, app.Port, app.AdminPort)
					continue
				}
				probes := []struct {
					name string
					p    *corev1.Probe
					path string
				}{
					{"liveness", c.LivenessProbe, livenessPath},
					{"readiness", c.ReadinessProbe, readinessPath},
					{"startup", c.StartupProbe, livenessPath},
				}
				for _, pr := range probes {
					if pr.p == nil {
						if pr.name != "startup" {
							t.Errorf("%s: no %s probe", where, pr.name)
						}
						continue
					}
					g := pr.p.HTTPGet
					if g == nil {
						t.Errorf("%s: %s probe is not an HTTP GET", where, pr.name)
						continue
					}
					if g.Path != pr.path {
						t.Errorf("%s: %s probe path %q, want %q", where, pr.name, g.Path, pr.path)
					}
					if !portIs(g.Port, c.Ports[0]) {
						t.Errorf("%s: %s probe port %v, want %d", where, pr.name, g.Port.String(), app.Port)
					}
				}
				if len(c.Env) == 0 && len(c.EnvFrom) == 0 {
					t.Errorf("%s: no configuration at all", where)
				}
				if w.Labels["app.kubernetes.io/name"] != app.Name {
					t.Errorf("%s: pod label app.kubernetes.io/name=%q, want %q", where, w.Labels["app.kubernetes.io/name"], app.Name)
				}
			}
		}
		for _, a := range Apps {
			if deployed(dir, a) && !seen[a.Name] {
				t.Errorf("%s: no container runs %s", dir, a.Name)
			}
			if !deployed(dir, a) && seen[a.Name] {
				t.Errorf("%s: runs the demo service %s, which only the demos component deploys", dir, a.Name)
			}
		}
		// The Service of each app forwards its port to the container's.
		for _, a := range Apps {
			if !deployed(dir, a) {
				continue
			}
			svc := findService(b, a.Name)
			if svc == nil {
				t.Errorf("%s: no Service %s", dir, a.Name)
				continue
			}
			if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != a.Port || svc.Spec.Ports[0].TargetPort.String() != "http" {
				t.Errorf("%s: Service %s ports %+v, want %d -> the container port named http", dir, a.Name, svc.Spec.Ports, a.Port)
			}
		}
		for _, p := range adminPortsInServices(b, Apps) {
			t.Errorf("%s: %s", dir, p)
		}
	}
}

// adminPortsInServices returns a problem for each port of a Service of b that forwards to an
// admin listener (metrics, the detailed /ready) of apps, by the container port's name or
// number, or listens on one: Prometheus scrapes pods directly; a Service would put the port
// on the cluster network for anyone and, through an Ingress or a LoadBalancer, beyond.
func adminPortsInServices(b *Built, apps []App) []string {
	var problems []string
	admin := map[int32]bool{}
	for _, a := range apps {
		if a.AdminPort != 0 {
			admin[a.AdminPort] = true
		}
	}
	names := map[string]bool{}
	for _, w := range b.workloads() {
		for _, c := range w.Spec.Containers {
			for _, p := range c.Ports {
				if admin[p.ContainerPort] {
					names[p.Name] = true
				}
			}
		}
	}
	for _, svc := range b.Services {
		for _, p := range svc.Spec.Ports {
			tp := p.TargetPort
			if admin[p.Port] || (tp.Type == intstr.Int && admin[tp.IntVal]) || (tp.Type == intstr.String && names[tp.StrVal]) {
				problems = append(problems, fmt.Sprintf("Service %s exposes the admin listener (port %d -> %s): metrics and the detailed /ready must stay off every Service",
					svc.Name, p.Port, tp.String()))
			}
		}
	}
	return problems
}

// TestNoServiceExposesAnAdminPortCatchesOne: the check above fails a Service that targets the
// admin port by name.
func TestNoServiceExposesAnAdminPortCatchesOne(t *testing.T) {
	b := build(t, "deploy/k8s/overlays/dev")
	bad := *findService(b, "authd")
	bad.Spec.Ports = append(bad.Spec.Ports, corev1.ServicePort{Name: "metrics", Port: 80, TargetPort: intstr.FromString("admin")})
	b.Services = append(b.Services, &bad)
	if got := adminPortsInServices(b, Apps); len(got) != 1 || !strings.Contains(got[0], "Service authd exposes the admin listener") {
		t.Errorf("problems %q, want the Service forwarding to the container port named admin", got)
	}
}

func portIs(p intstr.IntOrString, cp corev1.ContainerPort) bool {
	if p.Type == intstr.String {
		return p.StrVal == cp.Name
	}
	return p.IntVal == cp.ContainerPort
}

func findService(b *Built, name string) *corev1.Service {
	for _, s := range b.Services {
		if s.Name == name {
			return s
		}
	}
	return nil
}

func TestManifestsSetOnlyDocumentedVariables(t *testing.T) {
	docs := parseDocs(t)
	for dir, b := range buildAll(t) {
		for _, w := range b.workloads() {
			for _, c := range slices.Concat(w.Spec.InitContainers, w.Spec.Containers) {
				app, ok := appOf(c.Image)
				if !ok {
					continue // an official image (redis, mysql, nginx) reads its own variables
				}
				where := fmt.Sprintf("%s: %s %s container %s (%s)", dir, w.Kind, w.Name, c.Name, app.Name)
				for _, e := range c.Env {
					if !docs.readsVar(app, e.Name) {
						t.Errorf("%s sets %s, which docs/configuration.md does not list for %s", where, e.Name, app.Name)
					}
					if ref := e.ValueFrom; ref != nil && ref.ConfigMapKeyRef != nil {
						cm, ok := b.configMap(ref.ConfigMapKeyRef.Name)
						if !ok {
							t.Errorf("%s: %s refers to a missing ConfigMap %s", where, e.Name, ref.ConfigMapKeyRef.Name)
						} else if _, ok := cm.Data[ref.ConfigMapKeyRef.Key]; !ok {
							t.Errorf("%s: %s refers to a missing key %s of ConfigMap %s", where, e.Name, ref.ConfigMapKeyRef.Key, cm.Name)
						}
					}
					if ref := e.ValueFrom; ref != nil && ref.SecretKeyRef != nil && ref.SecretKeyRef.Key != e.Name {
						t.Errorf("%s: %s comes from the Secret key %s; name the key after the variable (deploy/README.md creates them so)", where, e.Name, ref.SecretKeyRef.Key)
					}
				}
				for _, from := range c.EnvFrom {
					if from.SecretRef != nil {
						t.Errorf("%s: envFrom a Secret sets variables no test can see; use env with secretKeyRef", where)
						continue
					}
					if from.ConfigMapRef == nil {
						continue
					}
					cm, ok := b.configMap(from.ConfigMapRef.Name)
					if !ok {
						t.Errorf("%s: envFrom a missing ConfigMap %s", where, from.ConfigMapRef.Name)
						continue
					}
					for name := range cm.Data {
						if !docs.readsVar(app, name) {
							t.Errorf("%s: ConfigMap %s sets %s, which docs/configuration.md does not list for %s", where, cm.Name, name, app.Name)
						}
					}
				}
			}
		}
	}
}

func TestPodsPassTheRestrictedPodSecurityStandard(t *testing.T) {
	for dir, b := range buildAll(t) {
		for _, w := range b.workloads() {
			where := fmt.Sprintf("%s: %s %s", dir, w.Kind, w.Name)
			psc := w.Spec.SecurityContext
			if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
				t.Errorf("%s: pod lacks runAsNonRoot: true", where)
			}
			if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
				t.Errorf("%s: pod lacks seccompProfile RuntimeDefault", where)
			}
			if w.Spec.AutomountServiceAccountToken == nil || *w.Spec.AutomountServiceAccountToken {
				t.Errorf("%s: mounts a service-account token it never uses", where)
			}
			for _, c := range slices.Concat(w.Spec.InitContainers, w.Spec.Containers) {
				cw := where + " container " + c.Name
				sc := c.SecurityContext
				switch {
				case sc == nil:
					t.Errorf("%s: no securityContext", cw)
					continue
				case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
					t.Errorf("%s: allowPrivilegeEscalation is not false", cw)
				case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
					t.Errorf("%s: root file system is writable", cw)
				case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0:
					t.Errorf("%s: capabilities %+v, want drop ALL and add none", cw, sc.Capabilities)
				}
				if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() ||
					c.Resources.Limits.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
					t.Errorf("%s: requests and limits of CPU and memory must all be set: %+v", cw, c.Resources)
				}
			}
		}
		for _, ns := range b.Namespaces {
			if ns.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
				t.Errorf("%s: Namespace %s does not enforce the restricted standard", dir, ns.Name)
			}
		}
	}
}

// selects reports whether selector (matchLabels only, which is all these manifests use)
// selects labels.
func selects(selector map[string]string, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func TestSelectorsAndReferencesPointAtSomething(t *testing.T) {
	for dir, b := range buildAll(t) {
		workloads := b.workloads()
		matching := func(sel map[string]string) int {
			n := 0
			for _, w := range workloads {
				if selects(sel, w.Labels) {
					n++
				}
			}
			return n
		}
		for _, s := range b.Services {
			if matching(s.Spec.Selector) == 0 {
				t.Errorf("%s: Service %s selects no pod", dir, s.Name)
			}
		}
		for _, p := range b.PDBs {
			if p.Spec.Selector == nil || matching(p.Spec.Selector.MatchLabels) == 0 {
				t.Errorf("%s: PodDisruptionBudget %s selects no pod", dir, p.Name)
			}
		}
		for _, d := range b.Deployments {
			if !selects(d.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
				t.Errorf("%s: Deployment %s's selector does not select its own pods", dir, d.Name)
			}
		}
		for _, h := range b.HPAs {
			ref := h.Spec.ScaleTargetRef
			i := slices.IndexFunc(b.Deployments, func(d *appsv1.Deployment) bool { return ref.Kind == "Deployment" && d.Name == ref.Name })
			if i < 0 {
				t.Errorf("%s: HPA %s scales a missing %s %s", dir, h.Name, ref.Kind, ref.Name)
			} else if b.Deployments[i].Spec.Replicas != nil {
				t.Errorf("%s: Deployment %s sets replicas, which every apply would reset under its HPA", dir, ref.Name)
			}
			if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas > h.Spec.MaxReplicas {
				t.Errorf("%s: HPA %s min %v > max %d", dir, h.Name, h.Spec.MinReplicas, h.Spec.MaxReplicas)
			}
		}
		for _, np := range b.NetworkPolicies {
			if len(np.Spec.PodSelector.MatchLabels) > 0 && matching(np.Spec.PodSelector.MatchLabels) == 0 {
				t.Errorf("%s: NetworkPolicy %s applies to no pod", dir, np.Name)
			}
			peers := func(rules []networkingv1.NetworkPolicyPeer) {
				for _, p := range rules {
					if p.NamespaceSelector != nil || p.PodSelector == nil {
						continue // another namespace: not ours to check
					}
					if matching(p.PodSelector.MatchLabels) == 0 {
						t.Errorf("%s: NetworkPolicy %s names peers %v that no pod has", dir, np.Name, p.PodSelector.MatchLabels)
					}
				}
			}
			for _, r := range np.Spec.Ingress {
				peers(r.From)
			}
			for _, r := range np.Spec.Egress {
				peers(r.To)
			}
		}
		for _, w := range workloads {
			for _, v := range w.Spec.Volumes {
				if v.ConfigMap != nil {
					if _, ok := b.configMap(v.ConfigMap.Name); !ok {
						t.Errorf("%s: %s %s mounts a missing ConfigMap %s", dir, w.Kind, w.Name, v.ConfigMap.Name)
					}
				}
				if v.Secret != nil {
					t.Errorf("%s: %s %s mounts a Secret volume; these manifests take secrets as variables", dir, w.Kind, w.Name)
				}
			}
		}
	}
}

// allowed reports whether the network policies let a pod labelled from reach a pod labelled
// to on port: an egress rule of some policy of from, and an ingress rule of some policy of to.
func allowed(b *Built, from, to map[string]string, port int32) bool {
	portOK := func(ports []networkingv1.NetworkPolicyPort) bool {
		if len(ports) == 0 {
			return true
		}
		for _, p := range ports {
			if p.Port != nil && p.Port.IntVal == port {
				return true
			}
		}
		return false
	}
	peerOK := func(peers []networkingv1.NetworkPolicyPeer, labels map[string]string) bool {
		if len(peers) == 0 {
			return true
		}
		for _, p := range peers {
			if p.NamespaceSelector == nil && p.PodSelector != nil && selects(p.PodSelector.MatchLabels, labels) {
				return true
			}
		}
		return false
	}
	var egress, ingress bool
	for _, np := range b.NetworkPolicies {
		if selects(np.Spec.PodSelector.MatchLabels, from) {
			for _, r := range np.Spec.Egress {
				egress = egress || (peerOK(r.To, to) && portOK(r.Ports))
			}
		}
		if selects(np.Spec.PodSelector.MatchLabels, to) {
			for _, r := range np.Spec.Ingress {
				ingress = ingress || (peerOK(r.From, from) && portOK(r.Ports))
			}
		}
	}
	return egress && ingress
}

func TestNetworkPoliciesAllowWhatIsNeededAndNothingElse(t *testing.T) {
	name := func(n string) map[string]string { return map[string]string{"app.kubernetes.io/name": n} }
	tests := []struct {
		from, to string // to "db": the kustomization's database, on its port
		port     int32
		want     bool
	}{
		{"nginx", "authd", 8080, true},
		{"nginx", "ordersd", 8081, true},
		{"nginx", "paymentsd", 8082, true},
		{"ordersd", "authd", 8080, true},
		{"paymentsd", "authd", 8080, true},
		{"authd", "redis", 6379, true},
		{"authd", "redis", 26379, true},
		{"ordersd", "redis", 6379, true},
		{"paymentsd", "redis", 26379, true},
		{"redis", "redis", 6379, true},
		{"redis", "redis", 26379, true},
		{"authd", "db", 0, true},
		{"keygate-migrate", "db", 0, true},
		{"ordersd", "db", 0, false},
		{"paymentsd", "db", 0, false},
		{"nginx", "db", 0, false},
		{"nginx", "redis", 6379, false},
		{"ordersd", "paymentsd", 8082, false},
		{"authd", "ordersd", 8081, false},
		{"redis", "authd", 8080, false},
		{"keygate-migrate", "redis", 6379, false},
		{"keygate-backup", "db", 0, true},
		{"keygate-backup", "redis", 6379, false},
		{"keygate-backup", "authd", 8080, false},
	}
	for dir, b := range buildAll(t) {
		db, dbPort := database(dir)
		for _, tt := range tests {
			if !withDemos[dir] && (isDemo(tt.from) || isDemo(tt.to)) {
				continue // TestProdDeploysNoDemos checks no policy names them
			}
			if tt.to == "db" {
				tt.to, tt.port = db, dbPort
			}
			if got := allowed(b, name(tt.from), name(tt.to), tt.port); got != tt.want {
				t.Errorf("%s: %s -> %s:%d allowed = %v, want %v", dir, tt.from, tt.to, tt.port, got, tt.want)
			}
		}
		var denyAll bool
		for _, np := range b.NetworkPolicies {
			if len(np.Spec.PodSelector.MatchLabels) == 0 && len(np.Spec.Ingress) == 0 && len(np.Spec.Egress) == 0 &&
				slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) && slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
				denyAll = true
			}
		}
		if !denyAll {
			t.Errorf("%s: no default-deny policy", dir)
		}
	}
}

// TestAdminPortsOnlyFromMonitoring: an app's admin listener (metrics, the detailed /ready) is
// reachable from Prometheus in the "monitoring" namespace and from nothing else, and
// Prometheus gets that port only, not the API's.
func TestAdminPortsOnlyFromMonitoring(t *testing.T) {
	name := func(n string) map[string]string { return map[string]string{"app.kubernetes.io/name": n} }
	opens := func(ports []networkingv1.NetworkPolicyPort, port int32) bool {
		if len(ports) == 0 {
			return true
		}
		for _, p := range ports {
			if p.Port == nil || p.Port.IntVal == port {
				return true
			}
		}
		return false
	}
	monitoring := func(p networkingv1.NetworkPolicyPeer) bool {
		return p.NamespaceSelector != nil && p.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] == "monitoring" &&
			p.PodSelector != nil && p.PodSelector.MatchLabels["app.kubernetes.io/name"] == "prometheus"
	}
	pods := []string{"nginx", "authd", "ordersd", "paymentsd", "redis", "mysql", "keygate-migrate", "keygate-backup"}
	for dir, b := range buildAll(t) {
		for _, a := range Apps {
			if !deployed(dir, a) {
				continue
			}
			for _, from := range pods {
				if allowed(b, name(from), name(a.Name), a.AdminPort) {
					t.Errorf("%s: %s reaches %s's admin listener :%d", dir, from, a.Name, a.AdminPort)
				}
			}
			var scraped bool
			for _, np := range b.NetworkPolicies {
				if !selects(np.Spec.PodSelector.MatchLabels, name(a.Name)) {
					continue
				}
				for _, r := range np.Spec.Ingress {
					if opens(r.Ports, a.AdminPort) {
						if len(r.From) == 0 {
							t.Errorf("%s: policy %s opens %s's admin listener :%d to every peer", dir, np.Name, a.Name, a.AdminPort)
						}
						for _, p := range r.From {
							if !monitoring(p) {
								t.Errorf("%s: policy %s opens %s's admin listener :%d to %+v, not Prometheus in monitoring", dir, np.Name, a.Name, a.AdminPort, p)
							}
						}
						scraped = scraped || len(r.From) > 0
					}
					if slices.ContainsFunc(r.From, monitoring) && opens(r.Ports, a.Port) {
						t.Errorf("%s: policy %s lets Prometheus reach %s's API port :%d; it scrapes the admin listener only", dir, np.Name, a.Name, a.Port)
					}
				}
			}
			if !scraped {
				t.Errorf("%s: no policy lets Prometheus in monitoring reach %s's admin listener :%d", dir, a.Name, a.AdminPort)
			}
		}
	}
}

func TestRedisRunsWithSentinelAndAppsConnectThroughIt(t *testing.T) {
	for dir, b := range buildAll(t) {
		var redis *appsv1.StatefulSet
		for _, s := range b.StatefulSets {
			if s.Name == "redis" {
				redis = s
			}
		}
		if redis == nil {
			t.Fatalf("%s: no redis StatefulSet", dir)
		}
		if redis.Spec.Replicas == nil || *redis.Spec.Replicas != 3 {
			t.Errorf("%s: redis replicas %v, want 3 (sentinel quorum 2 of 3)", dir, redis.Spec.Replicas)
		}
		names := map[string]bool{}
		for _, c := range redis.Spec.Template.Spec.Containers {
			names[c.Name] = true
		}
		if !names["redis"] || !names["sentinel"] {
			t.Errorf("%s: redis pod containers %v, want redis and sentinel", dir, names)
		}
		if len(redis.Spec.VolumeClaimTemplates) == 0 {
			t.Errorf("%s: redis has no persistent volume", dir)
		}
		cm, ok := b.configMap(configMapOfVolume(redis.Spec.Template.Spec, "config"))
		if !ok || !strings.Contains(cm.Data["redis.conf"], "appendonly yes") || !strings.Contains(cm.Data["init.sh"], "sentinel monitor keygate") {
			t.Errorf("%s: redis config lacks appendonly or the sentinel monitor of master keygate", dir)
		}
		// Every app reaches the sentinels of this StatefulSet, by its master name.
		for _, w := range b.workloads() {
			app, ok := appOf(imageOf(w))
			if !ok || app.Port == 0 {
				continue
			}
			env := envOf(b, w.Spec.Containers[0])
			// appendfsync everysec on the pods: a revocation is durable when a replica holds
			// it, so authd must wait for one before its 204 (docs/revocation.md).
			if app.Name == "authd" && env["REDIS_REVOKE_REPLICAS"] != "1" {
				t.Errorf("%s: authd REDIS_REVOKE_REPLICAS=%q, want 1 (an acknowledged revocation must survive kill -9 of the master)", dir, env["REDIS_REVOKE_REPLICAS"])
			}
			if env["REDIS_MASTER_NAME"] != "keygate" {
				t.Errorf("%s: %s REDIS_MASTER_NAME=%q, want keygate", dir, w.Name, env["REDIS_MASTER_NAME"])
			}
			for i, addr := range strings.Split(env["REDIS_ADDR"], ",") {
				if want := fmt.Sprintf("redis-%d.redis:26379", i); addr != want {
					t.Errorf("%s: %s REDIS_ADDR[%d]=%q, want %q (a sentinel)", dir, w.Name, i, addr, want)
				}
			}
		}
	}
}

func imageOf(w Workload) string {
	if len(w.Spec.Containers) == 0 {
		return ""
	}
	return w.Spec.Containers[0].Image
}

func configMapOfVolume(spec corev1.PodSpec, volume string) string {
	for _, v := range spec.Volumes {
		if v.Name == volume && v.ConfigMap != nil {
			return v.ConfigMap.Name
		}
	}
	return ""
}

// envOf returns the literal variables a container gets from its ConfigMaps and env values.
func envOf(b *Built, c corev1.Container) map[string]string {
	env := map[string]string{}
	for _, from := range c.EnvFrom {
		if from.ConfigMapRef != nil {
			if cm, ok := b.configMap(from.ConfigMapRef.Name); ok {
				for k, v := range cm.Data {
					env[k] = v
				}
			}
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env[e.Name] = e.Value
		}
	}
	return env
}

func TestSecretsAreNeverCommitted(t *testing.T) {
	secretVars := []string{"KEYGATE_REFRESH_SECRET", "KEYGATE_KEK", "DB_PASSWORD", "REDIS_PASSWORD", "KEYGATE_ADMIN_PASSWORD"}
	for dir, b := range buildAll(t) {
		for _, w := range b.workloads() {
			for _, c := range slices.Concat(w.Spec.InitContainers, w.Spec.Containers) {
				for _, e := range c.Env {
					if slices.Contains(secretVars, e.Name) && (e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
						t.Errorf("%s: %s %s sets %s without a Secret", dir, w.Kind, w.Name, e.Name)
					}
				}
			}
		}
		for _, cm := range b.ConfigMaps {
			for _, v := range secretVars {
				if _, ok := cm.Data[v]; ok {
					t.Errorf("%s: ConfigMap %s holds %s", dir, cm.Name, v)
				}
			}
		}
	}
}

func TestOverlaysDiffer(t *testing.T) {
	built := buildAll(t)
	replicas := func(b *Built, name string) int32 {
		for _, h := range b.HPAs {
			if h.Name == name && h.Spec.MinReplicas != nil {
				return *h.Spec.MinReplicas
			}
		}
		return -1
	}
	if got := replicas(built["deploy/k8s/overlays/prod"], "authd"); got < 3 {
		t.Errorf("prod authd min replicas = %d, want >= 3", got)
	}
	if got := replicas(built["deploy/k8s/overlays/dev"], "authd"); got != 1 {
		t.Errorf("dev authd min replicas = %d, want 1", got)
	}
	for _, dir := range []string{"deploy/k8s/overlays/dev", "deploy/k8s/overlays/prod"} {
		b := built[dir]
		if len(b.Namespaces) != 1 {
			t.Errorf("%s: %d Namespaces, want 1", dir, len(b.Namespaces))
		}
		for _, d := range b.Deployments {
			if d.Namespace != b.Namespaces[0].Name {
				t.Errorf("%s: Deployment %s in namespace %q, want %q", dir, d.Name, d.Namespace, b.Namespaces[0].Name)
			}
		}
	}
}

// TestProdDeploysNoDemos checks that only the dev overlay deploys the demo services: no
// object of the base or prod names ordersd or paymentsd, and NGINX there routes /api/orders
// and /api/payments to a server marked down; in dev, NGINX routes them to the Services.
func TestProdDeploysNoDemos(t *testing.T) {
	for dir, b := range buildAll(t) {
		names := func(s string) bool { return strings.Contains(s, "ordersd") || strings.Contains(s, "paymentsd") }
		var demoObjects []string
		for _, d := range b.Deployments {
			if names(d.Name) {
				demoObjects = append(demoObjects, "Deployment "+d.Name)
			}
		}
		for _, s := range b.Services {
			if names(s.Name) {
				demoObjects = append(demoObjects, "Service "+s.Name)
			}
		}
		for _, c := range b.ConfigMaps {
			if names(c.Name) {
				demoObjects = append(demoObjects, "ConfigMap "+c.Name)
			}
		}
		for _, h := range b.HPAs {
			if names(h.Name) {
				demoObjects = append(demoObjects, "HorizontalPodAutoscaler "+h.Name)
			}
		}
		for _, p := range b.PDBs {
			if names(p.Name) {
				demoObjects = append(demoObjects, "PodDisruptionBudget "+p.Name)
			}
		}
		for _, np := range b.NetworkPolicies {
			y, _ := yaml.Marshal(np.Spec)
			if names(np.Name) || names(string(y)) {
				demoObjects = append(demoObjects, "NetworkPolicy "+np.Name)
			}
		}
		nginx := ""
		for _, c := range b.ConfigMaps {
			if strings.HasPrefix(c.Name, "keygate-nginx") {
				nginx = c.Data["ordersd.servers"] + c.Data["paymentsd.servers"]
			}
		}
		servers := serverLine.FindAllStringSubmatch(nginx, -1)
		if withDemos[dir] {
			if len(demoObjects) < 10 {
				t.Errorf("%s: only %v of the demos", dir, demoObjects)
			}
			if len(servers) == 0 || strings.Contains(nginx, "down;") {
				t.Errorf("%s: NGINX does not route to the demo Services:\n%s", dir, nginx)
			}
			continue
		}
		if len(demoObjects) > 0 {
			t.Errorf("%s deploys demo objects: %v", dir, demoObjects)
		}
		if len(servers) != 2 || !strings.Contains(nginx, "server 127.0.0.1:9 down;") {
			t.Errorf("%s: NGINX's demo routes name %v, want one server marked down each", dir, servers)
		}
	}
}

// imageTag returns the tag of the first container running app in b ("" if none).
func imageTag(b *Built, app string) string {
	for _, w := range b.workloads() {
		for _, c := range w.Spec.Containers {
			if a, ok := appOf(c.Image); ok && a.Name == app {
				if i := strings.LastIndex(c.Image, ":"); i > strings.LastIndex(c.Image, "/") {
					return c.Image[i+1:]
				}
			}
		}
	}
	return ""
}

// TestMigrationJobIsNamedPerRelease: a Job cannot be changed once created, so each overlay's
// migration Job carries the release (the keygatectl image's tag) in its name: applying the
// next release creates the next Job instead of failing on the old one.
func TestMigrationJobIsNamedPerRelease(t *testing.T) {
	built := buildAll(t)
	for _, dir := range []string{"deploy/k8s/overlays/dev", "deploy/k8s/overlays/prod"} {
		b := built[dir]
		tag := imageTag(b, "keygatectl")
		if tag == "" {
			t.Errorf("%s: keygatectl runs untagged", dir)
			continue
		}
		if len(b.Jobs) != 1 || b.Jobs[0].Name != "keygate-migrate-"+tag {
			t.Errorf("%s: migration Job %v, want one named keygate-migrate-%s (the keygatectl tag)", dir, jobNames(b), tag)
		}
		if tag != imageTag(b, "authd") {
			t.Errorf("%s: keygatectl %s and authd %s: one release", dir, tag, imageTag(b, "authd"))
		}
	}
}

func jobNames(b *Built) []string {
	var out []string
	for _, j := range b.Jobs {
		out = append(out, j.Name)
	}
	return out
}

// TestAuthdWaitsForTheSchemaWithinItsStartupProbe: authd waits KEYGATE_SCHEMA_WAIT for the
// release's migration; the startup probe must not kill it sooner.
func TestAuthdWaitsForTheSchemaWithinItsStartupProbe(t *testing.T) {
	for dir, b := range buildAll(t) {
		for _, d := range b.Deployments {
			c := d.Spec.Template.Spec.Containers[0]
			if app, ok := appOf(c.Image); !ok || app.Name != "authd" {
				continue
			}
			wait, err := time.ParseDuration(envOf(b, c)["KEYGATE_SCHEMA_WAIT"])
			if err != nil || wait <= 0 {
				t.Errorf("%s: authd KEYGATE_SCHEMA_WAIT=%q, want a duration: a start during a release must wait for the migration", dir, envOf(b, c)["KEYGATE_SCHEMA_WAIT"])
				continue
			}
			p := c.StartupProbe
			if p == nil {
				t.Errorf("%s: authd has no startup probe", dir)
				continue
			}
			window := time.Duration(p.PeriodSeconds*p.FailureThreshold) * time.Second
			if window < wait+30*time.Second {
				t.Errorf("%s: authd's startup probe gives up after %v, before KEYGATE_SCHEMA_WAIT=%v (+30 s to start)", dir, window, wait)
			}
		}
	}
}

// TestFirstAdminComesFromAnOptionalSecret: KEYGATE_ADMIN_* reach authd only from the Secret
// keygate-admin, which may be absent (it is deleted once the admin exists).
func TestFirstAdminComesFromAnOptionalSecret(t *testing.T) {
	for dir, b := range buildAll(t) {
		for _, w := range b.workloads() {
			for _, c := range w.Spec.Containers {
				app, _ := appOf(c.Image)
				got := map[string]bool{}
				for _, e := range c.Env {
					if !strings.HasPrefix(e.Name, "KEYGATE_ADMIN_") {
						continue
					}
					ref := e.ValueFrom
					if app.Name != "authd" || ref == nil || ref.SecretKeyRef == nil || ref.SecretKeyRef.Name != "keygate-admin" ||
						ref.SecretKeyRef.Optional == nil || !*ref.SecretKeyRef.Optional {
						t.Errorf("%s: %s %s sets %s other than from the optional Secret keygate-admin", dir, w.Kind, w.Name, e.Name)
					}
					got[e.Name] = true
				}
				if app.Name == "authd" && (!got["KEYGATE_ADMIN_EMAIL"] || !got["KEYGATE_ADMIN_PASSWORD"]) {
					t.Errorf("%s: authd reads %v of KEYGATE_ADMIN_EMAIL and KEYGATE_ADMIN_PASSWORD", dir, got)
				}
			}
		}
	}
}

// TestProdServesTLSThroughAnIngress: prod's edge is an Ingress for NGINX with a cert-manager
// certificate for the issuer's host, and NGINX there believes X-Forwarded-For only from the
// proxies realip.conf names; the other kustomizations have no Ingress and no realip.conf.
func TestProdServesTLSThroughAnIngress(t *testing.T) {
	for dir, b := range buildAll(t) {
		var realip string
		for _, c := range b.ConfigMaps {
			if strings.HasPrefix(c.Name, "keygate-nginx") {
				realip = c.Data["realip.conf"]
			}
		}
		if !prodLike[dir] {
			if len(b.Ingresses) != 0 || realip != "" {
				t.Errorf("%s: %d Ingresses, realip.conf %q; want none (NGINX is the edge)", dir, len(b.Ingresses), realip)
			}
			continue
		}
		if !strings.Contains(realip, "set_real_ip_from") || !strings.Contains(realip, "real_ip_header X-Forwarded-For;") {
			t.Errorf("%s: realip.conf %q does not trust the Ingress controller's X-Forwarded-For", dir, realip)
		}
		if len(b.Ingresses) != 1 {
			t.Fatalf("%s: %d Ingresses, want 1", dir, len(b.Ingresses))
		}
		ing := b.Ingresses[0]
		if ing.Annotations["cert-manager.io/cluster-issuer"] == "" && ing.Annotations["cert-manager.io/issuer"] == "" {
			t.Errorf("%s: Ingress %s has no cert-manager issuer annotation: %v", dir, ing.Name, ing.Annotations)
		}
		issuer := ""
		for _, d := range b.Deployments {
			if app, ok := appOf(imageOf(Workload{Spec: d.Spec.Template.Spec})); ok && app.Name == "authd" {
				issuer = envOf(b, d.Spec.Template.Spec.Containers[0])["KEYGATE_ISSUER"]
			}
		}
		u, err := url.Parse(issuer)
		if err != nil || u.Scheme != "https" {
			t.Fatalf("%s: authd's issuer %q is not an https URL", dir, issuer)
		}
		if len(ing.Spec.TLS) != 1 || !slices.Equal(ing.Spec.TLS[0].Hosts, []string{u.Host}) || ing.Spec.TLS[0].SecretName == "" {
			t.Errorf("%s: Ingress TLS %+v, want one certificate (a Secret) for the issuer's host %s", dir, ing.Spec.TLS, u.Host)
		}
		for _, r := range ing.Spec.Rules {
			if r.Host != u.Host || r.HTTP == nil {
				t.Errorf("%s: Ingress rule for %q, want only the issuer's host %s", dir, r.Host, u.Host)
				continue
			}
			for _, p := range r.HTTP.Paths {
				svc := p.Backend.Service
				if svc == nil || findService(b, svc.Name) == nil || svc.Name != "nginx" {
					t.Errorf("%s: Ingress path %s goes to %+v, want the nginx Service", dir, p.Path, svc)
					continue
				}
				named := false
				for _, sp := range findService(b, svc.Name).Spec.Ports {
					named = named || sp.Name == svc.Port.Name
				}
				if !named {
					t.Errorf("%s: Ingress names port %q, which Service nginx lacks", dir, svc.Port.Name)
				}
			}
		}
	}
}

// TestDatabaseIsBackedUpNightly: a CronJob dumps the deployed database to its own volume,
// never two at once, with the password from the Secret; the dump is written under a
// temporary name and renamed, so a failed run leaves no file that looks like a backup.
func TestDatabaseIsBackedUpNightly(t *testing.T) {
	for dir, b := range buildAll(t) {
		if len(b.CronJobs) != 1 {
			t.Errorf("%s: %d CronJobs, want the backup", dir, len(b.CronJobs))
			continue
		}
		cj := b.CronJobs[0]
		if cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent || len(strings.Fields(cj.Spec.Schedule)) != 5 {
			t.Errorf("%s: backup schedule %q, concurrency %q; want a cron schedule, Forbid", dir, cj.Spec.Schedule, cj.Spec.ConcurrencyPolicy)
		}
		spec := cj.Spec.JobTemplate.Spec.Template.Spec
		claims := map[string]bool{}
		for _, v := range spec.Volumes {
			if v.PersistentVolumeClaim != nil {
				claims[v.PersistentVolumeClaim.ClaimName] = true
			}
		}
		for name := range claims {
			if !slices.ContainsFunc(b.PVCs, func(p *corev1.PersistentVolumeClaim) bool { return p.Name == name }) {
				t.Errorf("%s: backup mounts a missing PersistentVolumeClaim %s", dir, name)
			}
		}
		if len(claims) != 1 {
			t.Errorf("%s: backup writes to %v, want one volume of its own", dir, claims)
		}
		c := spec.Containers[0]
		script := strings.Join(c.Args, " ")
		if !strings.Contains(script, "dump") || !strings.Contains(script, ".part") || !strings.Contains(script, "mv ") {
			t.Errorf("%s: backup script does not dump to a temporary file and rename it:\n%s", dir, script)
		}
		for _, e := range c.Env {
			if strings.Contains(e.Name, "PW") || strings.Contains(e.Name, "PASS") {
				if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Name != "keygate-db" {
					t.Errorf("%s: backup sets %s other than from the Secret keygate-db", dir, e.Name)
				}
			}
		}
	}
}
