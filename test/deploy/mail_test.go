package deploy

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
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
		d := deployment(t, tt.b, "authd")
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
		for _, r := range policy(t, tt.b, "authd").Spec.Egress {
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
	if got, want := len(policy(t, mail, "authd").Spec.Egress), len(policy(t, prod, "authd").Spec.Egress)+1; got != want {
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

// deployment returns the Deployment name of b, failing t if there is none.
func deployment(t *testing.T, b *Built, name string) *appsv1.Deployment {
	t.Helper()
	for _, d := range b.Deployments {
		if d.Name == name {
			return d
		}
	}
	t.Fatalf("no Deployment %s", name)
	return nil
}

// policy returns the NetworkPolicy name of b, failing t if there is none.
func policy(t *testing.T, b *Built, name string) *networkingv1.NetworkPolicy {
	t.Helper()
	for _, p := range b.NetworkPolicies {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("no NetworkPolicy %s", name)
	return nil
}
