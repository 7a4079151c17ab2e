package deploy

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// TestMailComponent: prod with deploy/k8s/components/mail (test/deploy/testdata/mail, as the
// component's comment says to use it) gives authd every key of the Secret keygate-smtp as
// environment variables and lets it reach SMTP submission ports (587, 465) anywhere, and
// nothing else changes: prod as shipped has neither (mail off).
func TestMailComponent(t *testing.T) {
	prod, mail := build(t, "deploy/k8s/overlays/prod"), build(t, "test/deploy/testdata/mail")
	for _, tt := range []struct {
		name     string
		b        *Built
		wantMail bool
	}{{"prod", prod, false}, {"prod with the mail component", mail, true}} {
		d := named(t, tt.b.Deployments, "Deployment", "authd")
		var fromSecret, fromConfig bool
		for _, e := range d.Spec.Template.Spec.Containers[0].EnvFrom {
			if e.SecretRef != nil && e.SecretRef.Name == "keygate-smtp" {
				fromSecret = true
			}
			if e.ConfigMapRef != nil && strings.HasPrefix(e.ConfigMapRef.Name, "keygate-authd") { // kustomize appends a hash
				fromConfig = true
			}
		}
		if fromSecret != tt.wantMail || !fromConfig {
			t.Errorf("%s: authd's env from Secret keygate-smtp %v (want %v), from ConfigMap keygate-authd %v (want true)",
				tt.name, fromSecret, tt.wantMail, fromConfig)
		}
		var smtp []networkingv1.NetworkPolicyEgressRule
		for _, r := range named(t, tt.b.NetworkPolicies, "NetworkPolicy", "authd").Spec.Egress {
			if len(r.To) == 0 {
				smtp = append(smtp, r)
			}
		}
		switch {
		case !tt.wantMail && len(smtp) != 0:
			t.Errorf("%s: authd may reach %v anywhere, want no egress rule without a destination", tt.name, smtp)
		case tt.wantMail && (len(smtp) != 1 || !sameTCPPorts(smtp[0].Ports, 587, 465)):
			t.Errorf("%s: authd's egress rules to anywhere %v, want one: TCP 587 and 465", tt.name, smtp)
		}
	}
	if got, want := len(named(t, mail.NetworkPolicies, "NetworkPolicy", "authd").Spec.Egress), len(named(t, prod.NetworkPolicies, "NetworkPolicy", "authd").Spec.Egress)+1; got != want {
		t.Errorf("authd has %d egress rules with mail, want %d (prod's and the SMTP one)", got, want)
	}
	if len(mail.Deployments) != len(prod.Deployments) || len(mail.NetworkPolicies) != len(prod.NetworkPolicies) {
		t.Errorf("the mail component added or removed objects: %d/%d Deployments, %d/%d NetworkPolicies",
			len(mail.Deployments), len(prod.Deployments), len(mail.NetworkPolicies), len(prod.NetworkPolicies))
	}
}

func sameTCPPorts(ps []networkingv1.NetworkPolicyPort, want ...int) bool {
	var got []int
	for _, p := range ps {
		if p.Protocol == nil || *p.Protocol != corev1.ProtocolTCP || p.Port == nil || p.EndPort != nil {
			return false
		}
		got = append(got, p.Port.IntValue())
	}
	slices.Sort(got)
	slices.Sort(want)
	return slices.Equal(got, want)
}

// named returns the object called name among objs (of kind, for the failure), failing t if
// there is none.
func named[T interface{ GetName() string }](t *testing.T, objs []T, kind, name string) T {
	t.Helper()
	for _, o := range objs {
		if o.GetName() == name {
			return o
		}
	}
	t.Fatalf("no %s %s", kind, name)
	var none T
	return none
}
