// Package network realises NET-01..03: default-deny NetworkPolicies with the narrow
// allowances real clusters need. Namespaces named in the profile get static objects; for
// namespaces selected by label, a Kyverno GeneratingPolicy creates the same set in every
// matching namespace, now and later, and keeps it in sync.
package network

import (
	"encoding/json"
	"fmt"

	kyvernov1 "github.com/kyverno/api/api/policies.kyverno.io/v1"
	"github.com/kyverno/api/api/policies.kyverno.io/v1alpha1"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"bulwark.dev/bulwark/generators/meta"
	"bulwark.dev/bulwark/profile"
	"bulwark.dev/bulwark/templates"
)

// Names of the per-namespace policies; verify looks for their content, not their names.
const (
	DefaultDenyName  = "bulwark-default-deny"
	AllowDNSName     = "bulwark-allow-dns"
	AllowIngressName = "bulwark-allow-ingress"
	AllowMeshName    = "bulwark-allow-mesh"
)

const nameLabel = "kubernetes.io/metadata.name"

// Policy is one per-namespace NetworkPolicy and the control it realises.
type Policy struct {
	Policy  *networkingv1.NetworkPolicy
	Control string
}

func has(types []profile.PolicyType, t profile.PolicyType) bool {
	for _, x := range types {
		if x == t {
			return true
		}
	}
	return false
}

func byName(ns string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{nameLabel: ns}}
}

func port(proto corev1.Protocol, n int) networkingv1.NetworkPolicyPort {
	p := intstr.FromInt32(int32(n))
	return networkingv1.NetworkPolicyPort{Protocol: &proto, Port: &p}
}

// PoliciesFor returns the NetworkPolicies one in-scope namespace needs under the profile.
func PoliciesFor(p *profile.Profile, namespace string) []Policy {
	s := p.Spec
	np := func(name string, spec networkingv1.NetworkPolicySpec) *networkingv1.NetworkPolicy {
		return &networkingv1.NetworkPolicy{
			TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
			Spec:       spec,
		}
	}
	var out []Policy
	denyIngress, denyEgress := has(s.Network.DefaultDeny, profile.Ingress), has(s.Network.DefaultDeny, profile.Egress)
	if p.ControlEnabled("NET-01") {
		var types []networkingv1.PolicyType
		if denyIngress {
			types = append(types, networkingv1.PolicyTypeIngress)
		}
		if denyEgress {
			types = append(types, networkingv1.PolicyTypeEgress)
		}
		// An empty pod selector with no rules denies every pod all traffic of these types.
		out = append(out, Policy{np(DefaultDenyName, networkingv1.NetworkPolicySpec{PolicyTypes: types}), "NET-01"})
	}
	if p.ControlEnabled("NET-02") && denyEgress && (s.Network.AllowDNS == nil || *s.Network.AllowDNS) {
		out = append(out, Policy{np(AllowDNSName, networkingv1.NetworkPolicySpec{
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			Egress: []networkingv1.NetworkPolicyEgressRule{{
				To: []networkingv1.NetworkPolicyPeer{{
					NamespaceSelector: byName(s.Network.DNSNamespace),
					PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"k8s-app": "kube-dns"}},
				}},
				Ports: []networkingv1.NetworkPolicyPort{port(corev1.ProtocolUDP, 53), port(corev1.ProtocolTCP, 53)},
			}},
		}), "NET-02"})
	}
	mesh := s.Mesh.Provider == profile.MeshIstio
	if p.ControlEnabled("NET-03") && denyIngress {
		var from []networkingv1.NetworkPolicyPeer
		for _, ns := range s.Network.IngressNamespaces {
			from = append(from, networkingv1.NetworkPolicyPeer{NamespaceSelector: byName(ns)})
		}
		if mesh {
			// Mesh gateways in the root namespace forward external traffic to workloads.
			from = append(from, networkingv1.NetworkPolicyPeer{NamespaceSelector: byName(s.Mesh.RootNamespace)})
		}
		if len(from) > 0 {
			out = append(out, Policy{np(AllowIngressName, networkingv1.NetworkPolicySpec{
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
				Ingress:     []networkingv1.NetworkPolicyIngressRule{{From: from}},
			}), "NET-03"})
		}
	}
	if p.ControlEnabled("NET-03") && mesh && denyEgress {
		// Sidecars fetch configuration and certificates from istiod (15012) and its
		// injection webhook is called by the API server, not by pods.
		out = append(out, Policy{np(AllowMeshName, networkingv1.NetworkPolicySpec{
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			Egress: []networkingv1.NetworkPolicyEgressRule{{
				To: []networkingv1.NetworkPolicyPeer{{
					NamespaceSelector: byName(s.Mesh.RootNamespace),
					PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app": "istiod"}},
				}},
				Ports: []networkingv1.NetworkPolicyPort{port(corev1.ProtocolTCP, 15012)},
			}},
		}), "NET-03"})
	}
	return out
}

// Generate emits static NetworkPolicies for named namespaces and a GeneratingPolicy for
// namespaces selected by label.
func Generate(p *profile.Profile, _ *templates.Catalogue) ([]meta.Object, error) {
	var out []meta.Object
	for _, ns := range p.Spec.Namespaces.Include {
		for _, pol := range PoliciesFor(p, ns) {
			out = append(out, meta.Object{Dir: meta.DirNetwork, Object: pol.Policy, Controls: []string{pol.Control}})
		}
	}
	if p.Spec.Namespaces.Selector != nil {
		gp, controls, err := generatingPolicy(p)
		if err != nil {
			return nil, err
		}
		if gp != nil {
			out = append(out, meta.Object{Dir: meta.DirNetwork, Object: gp, Controls: controls})
		}
	}
	return out, nil
}

// generatingPolicy creates the per-namespace set in every selected namespace. The objects
// are CEL literals built from the same typed NetworkPolicies the static path emits, so both
// paths produce identical policies.
func generatingPolicy(p *profile.Profile) (*kyvernov1.GeneratingPolicy, []string, error) {
	policies := PoliciesFor(p, "")
	if len(policies) == 0 {
		return nil, nil, nil
	}
	var vars []admissionv1.Variable
	var refs []string
	seen := map[string]bool{}
	var controls []string
	for i, pol := range policies {
		lit, err := objectLiteral(pol.Policy)
		if err != nil {
			return nil, nil, fmt.Errorf("NetworkPolicy %s: %w", pol.Policy.Name, err)
		}
		name := fmt.Sprintf("policy%d", i)
		vars = append(vars, admissionv1.Variable{Name: name, Expression: lit})
		refs = append(refs, "variables."+name)
		if !seen[pol.Control] {
			seen[pol.Control] = true
			controls = append(controls, pol.Control)
		}
	}
	expr := "generator.Apply(object.metadata.name, ["
	for i, r := range refs {
		if i > 0 {
			expr += ", "
		}
		expr += r
	}
	expr += "])"
	t := true
	return &kyvernov1.GeneratingPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "policies.kyverno.io/v1", Kind: "GeneratingPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: meta.PolicyName(p, "NET-01")},
		Spec: kyvernov1.GeneratingPolicySpec{
			MatchConstraints: &admissionv1.MatchResources{ResourceRules: []admissionv1.NamedRuleWithOperations{{RuleWithOperations: admissionv1.RuleWithOperations{
				Operations: []admissionv1.OperationType{admissionv1.Create, admissionv1.Update},
				Rule:       admissionv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"namespaces"}},
			}}}},
			// Named namespaces already get these objects statically from the bundle.
			MatchConditions: []admissionv1.MatchCondition{{Name: "in-scope", Expression: meta.InScopeCEL("object", p, true)}},
			Variables:       vars,
			Generation:      []v1alpha1.Generation{{Expression: expr}},
			EvaluationConfiguration: &v1alpha1.GeneratingPolicyEvaluationConfiguration{
				GenerateExistingConfiguration: &v1alpha1.GenerateExistingConfiguration{Enabled: &t},
				SynchronizationConfiguration:  &v1alpha1.SynchronizationConfiguration{Enabled: &t},
			},
		},
	}, controls, nil
}

// objectLiteral renders a typed object as a CEL map literal, without namespace (the
// generator sets it) and without server-set or empty fields.
func objectLiteral(obj *networkingv1.NetworkPolicy) (string, error) {
	raw, err := json.Marshal(obj)
	if err != nil {
		return "", err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return "", err
	}
	md, _ := m["metadata"].(map[string]any)
	delete(md, "namespace")
	delete(md, "creationTimestamp")
	md["labels"] = map[string]any{meta.LabelManagedBy: meta.ManagedByValue}
	return meta.CELLiteral(m)
}
