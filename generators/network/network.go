package network

import (
	"encoding/json"
	"fmt"
	"strings"

	kyvernov1 "github.com/kyverno/api/api/policies.kyverno.io/v1"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"bulwark.dev/bulwark/api"
	"bulwark.dev/bulwark/catalogue"
	"bulwark.dev/bulwark/generators/generated"
	"bulwark.dev/bulwark/profile"
	"bulwark.dev/bulwark/scope"
)

// Names of the per-namespace policies; verify looks for their content, not their names.
const (
	DefaultDenyName  = "bulwark-default-deny"
	AllowDNSName     = "bulwark-allow-dns"
	AllowIngressName = "bulwark-allow-ingress"
	AllowMeshName    = "bulwark-allow-mesh"
)

// nameLabel is set by the API server on every namespace (since Kubernetes 1.22), so it
// selects a namespace by name without relying on labels users maintain.
const nameLabel = "kubernetes.io/metadata.name"

// Istio's ports and labels, as its charts install them.
const (
	// istiodXDSPort serves sidecars their configuration and workload certificates over
	// mTLS. istiod's other ports are not for pods: 15017 is the injection and validation
	// webhook, called by the API server; 15010 is plaintext XDS, off by default; 15014 is
	// monitoring.
	istiodXDSPort = 15012
	// meshGatewayLabel is the label Istio's gateway chart selects gateway pods by; its value
	// is the gateway's name without the "istio-" prefix.
	meshGatewayLabel = "istio"
)

// meshGateways are the gateways in the mesh root namespace whose job is forwarding traffic
// into workloads: north-south (ingressgateway) and, in multi-cluster meshes, east-west.
// The egress gateway and istiod (istio=pilot) never open connections to workloads.
var meshGateways = []string{"eastwestgateway", "ingressgateway"}

// Policy is one per-namespace NetworkPolicy and the control it realises.
type Policy struct {
	// Policy is the typed object; its namespace is the one PoliciesFor was given.
	Policy *networkingv1.NetworkPolicy
	// Control is the control id the policy realises.
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

func port(proto corev1.Protocol, n int32) networkingv1.NetworkPolicyPort {
	p := intstr.FromInt32(n)
	return networkingv1.NetworkPolicyPort{Protocol: &proto, Port: &p}
}

// PoliciesFor returns the NetworkPolicies one in-scope namespace needs under the profile,
// in a fixed order: the default deny first, then its allowances.
//
// Allowances exist only beside the deny they relax. A NetworkPolicy that selects every pod
// and names a policy type isolates those pods for that type by itself, so an "allow DNS"
// policy without NET-01 would silently impose an egress deny the profile turned off.
func PoliciesFor(p *profile.Profile, namespace string) []Policy {
	if !p.ControlEnabled(controlDefaultDeny) {
		return nil
	}
	s := p.Spec
	np := func(name string, spec networkingv1.NetworkPolicySpec) *networkingv1.NetworkPolicy {
		return &networkingv1.NetworkPolicy{
			TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
			Spec:       spec,
		}
	}
	denyIngress, denyEgress := has(s.Network.DefaultDeny, profile.Ingress), has(s.Network.DefaultDeny, profile.Egress)
	var types []networkingv1.PolicyType
	if denyIngress {
		types = append(types, networkingv1.PolicyTypeIngress)
	}
	if denyEgress {
		types = append(types, networkingv1.PolicyTypeEgress)
	}
	if len(types) == 0 {
		// An empty policyTypes would let the API server infer Ingress: never deny what the
		// profile did not ask for.
		return nil
	}
	// An empty pod selector with no rules denies every pod all traffic of these types.
	out := []Policy{{np(DefaultDenyName, networkingv1.NetworkPolicySpec{PolicyTypes: types}), controlDefaultDeny}}

	// Without egress denied, DNS is already reachable and an allowance would only isolate.
	if p.ControlEnabled(controlDNS) && denyEgress && (s.Network.AllowDNS == nil || *s.Network.AllowDNS) {
		out = append(out, Policy{np(AllowDNSName, networkingv1.NetworkPolicySpec{
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			Egress: []networkingv1.NetworkPolicyEgressRule{{
				// Both selectors in one peer: the DNS pods of the DNS namespace, not every pod
				// there, nor DNS-labelled pods elsewhere.
				To: []networkingv1.NetworkPolicyPeer{{
					NamespaceSelector: byName(s.Network.DNSNamespace),
					PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{api.LabelDNSPods: api.DNSPodsValue}},
				}},
				// TCP too: responses over 512 bytes, and DNSSEC, fall back to it.
				Ports: []networkingv1.NetworkPolicyPort{port(corev1.ProtocolUDP, 53), port(corev1.ProtocolTCP, 53)},
			}},
		}), controlDNS})
	}

	mesh := s.Mesh.Provider == profile.MeshIstio
	if p.ControlEnabled(controlIngress) && denyIngress {
		var from []networkingv1.NetworkPolicyPeer
		rootListed := false
		for _, ns := range s.Network.IngressNamespaces {
			// The whole namespace: an ingress controller's pods carry whatever labels its
			// chart gives them, and the namespace is the unit the profile declares.
			from = append(from, networkingv1.NetworkPolicyPeer{NamespaceSelector: byName(ns)})
			rootListed = rootListed || ns == s.Mesh.RootNamespace
		}
		if mesh && !rootListed {
			// Mesh gateways in the root namespace forward external (and cross-cluster)
			// traffic to workloads; istiod and everything else there has no business
			// opening connections into the namespace. Gateways labelled otherwise are
			// reached by listing the root namespace in spec.network.ingressNamespaces.
			from = append(from, networkingv1.NetworkPolicyPeer{
				NamespaceSelector: byName(s.Mesh.RootNamespace),
				PodSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
					Key: meshGatewayLabel, Operator: metav1.LabelSelectorOpIn, Values: append([]string(nil), meshGateways...),
				}}},
			})
		}
		if len(from) > 0 {
			out = append(out, Policy{np(AllowIngressName, networkingv1.NetworkPolicySpec{
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
				Ingress:     []networkingv1.NetworkPolicyIngressRule{{From: from}},
			}), controlIngress})
		}
	}
	if p.ControlEnabled(controlIngress) && mesh && denyEgress {
		// With egress denied, sidecars could not fetch their configuration and workload
		// certificates from istiod, and STRICT mTLS (TLS-01) would fail closed. One port to
		// the istiod pods only.
		out = append(out, Policy{np(AllowMeshName, networkingv1.NetworkPolicySpec{
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			Egress: []networkingv1.NetworkPolicyEgressRule{{
				To: []networkingv1.NetworkPolicyPeer{{
					NamespaceSelector: byName(s.Mesh.RootNamespace),
					PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app": "istiod"}},
				}},
				Ports: []networkingv1.NetworkPolicyPort{port(corev1.ProtocolTCP, istiodXDSPort)},
			}},
		}), controlIngress})
	}
	return out
}

// Generate emits static NetworkPolicies for named namespaces and a GeneratingPolicy for
// namespaces selected by label.
func Generate(p *profile.Profile, cat *catalogue.Catalogue) ([]generated.Object, error) {
	var out []generated.Object
	for _, ns := range p.Spec.Namespaces.Include {
		for _, pol := range PoliciesFor(p, ns) {
			out = append(out, generated.Object{Dir: api.DirNetwork, Object: pol.Policy, Controls: []string{pol.Control}})
		}
	}
	if p.Spec.Namespaces.Selector != nil {
		gp, controls, err := generatingPolicy(p, cat)
		if err != nil {
			return nil, fmt.Errorf("NetworkPolicy GeneratingPolicy: %w", err)
		}
		if gp != nil {
			out = append(out, generated.Object{Dir: api.DirNetwork, Object: gp, Controls: controls})
		}
	}
	return out, nil
}

// generatingPolicy creates the per-namespace set in every selected namespace. The objects
// are CEL literals built from the same typed NetworkPolicies the static path emits, so both
// paths produce identical policies. It returns nil when the profile needs no policy.
func generatingPolicy(p *profile.Profile, cat *catalogue.Catalogue) (*kyvernov1.GeneratingPolicy, []string, error) {
	policies := PoliciesFor(p, "")
	if len(policies) == 0 {
		return nil, nil, nil
	}
	var vars []admissionv1.Variable
	var refs []string
	var controls []string
	for _, pol := range policies {
		lit, err := CELObject(forGeneration(p, cat, pol))
		if err != nil {
			return nil, nil, fmt.Errorf("NetworkPolicy %s: %w", pol.Policy.Name, err)
		}
		name := varName(pol.Policy.Name)
		vars = append(vars, admissionv1.Variable{Name: name, Expression: lit})
		refs = append(refs, "variables."+name)
		if len(controls) == 0 || controls[len(controls)-1] != pol.Control {
			controls = append(controls, pol.Control)
		}
	}
	t := true
	return &kyvernov1.GeneratingPolicy{
		TypeMeta: metav1.TypeMeta{APIVersion: "policies.kyverno.io/v1", Kind: "GeneratingPolicy"},
		// Named after the first control it realises: NET-01, which every allowance needs.
		ObjectMeta: metav1.ObjectMeta{Name: generated.PolicyName(p, controls[0])},
		Spec: kyvernov1.GeneratingPolicySpec{
			// UPDATE too: a namespace labelled into scope after creation gets the set then.
			MatchConstraints: &admissionv1.MatchResources{ResourceRules: []admissionv1.NamedRuleWithOperations{{RuleWithOperations: admissionv1.RuleWithOperations{
				Operations: []admissionv1.OperationType{admissionv1.Create, admissionv1.Update},
				Rule:       admissionv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"namespaces"}},
			}}}},
			// Excluded namespaces never; named namespaces already get these objects
			// statically from the bundle, and two owners would fight over them.
			MatchConditions: []admissionv1.MatchCondition{{Name: "in-scope", Expression: scope.New(p.Spec.Namespaces).InScopeCEL("object", true)}},
			Variables:       vars,
			// The trigger is the namespace itself: its name is where the objects go.
			Generation: []kyvernov1.Generation{{Expression: "generator.Apply(object.metadata.name, [" + strings.Join(refs, ", ") + "])"}},
			EvaluationConfiguration: &kyvernov1.GeneratingPolicyEvaluationConfiguration{
				// Namespaces that exist when the bundle lands are covered too, not only
				// ones created afterwards.
				GenerateExistingConfiguration: &kyvernov1.GenerateExistingConfiguration{Enabled: &t},
				// Kyverno restores a generated policy someone edits or deletes, and updates
				// them all when a new bundle changes the policy.
				SynchronizationConfiguration: &kyvernov1.SynchronizationConfiguration{Enabled: &t},
			},
		},
	}, controls, nil
}

// forGeneration is the object the GeneratingPolicy creates for pol: the static object without
// a namespace, carrying the trace the bundle stamps on static objects (the version label is
// left out: synchronisation rewrites every generated object when the policy changes, so
// the policy's own version label dates them).
func forGeneration(p *profile.Profile, cat *catalogue.Catalogue, pol Policy) *networkingv1.NetworkPolicy {
	obj := pol.Policy.DeepCopy()
	obj.Namespace = ""
	obj.Labels = map[string]string{api.LabelManagedBy: api.ManagedByValue, api.LabelProfile: p.Metadata.Name}
	obj.Annotations = map[string]string{api.AnnotationControls: pol.Control}
	if cat != nil {
		if c, ok := cat.Get(pol.Control); ok && len(c.TSC) > 0 {
			obj.Annotations[api.AnnotationTSC] = strings.Join(c.TSC, ",")
		}
	}
	return obj
}

// varName turns a policy name into a CEL identifier: bulwark-allow-dns becomes allowDns.
func varName(policyName string) string {
	parts := strings.Split(strings.TrimPrefix(policyName, "bulwark-"), "-")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}

// CELObject renders a typed API object as a CEL map literal through its JSON form, the
// form the API server stores: empty and server-set fields (status, a null
// creationTimestamp) are left out, and keys are sorted so the literal is deterministic.
func CELObject(obj any) (string, error) {
	raw, err := json.Marshal(obj)
	if err != nil {
		return "", fmt.Errorf("encoding %T: %w", obj, err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return "", fmt.Errorf("decoding %T: %w", obj, err)
	}
	delete(m, "status")
	if md, ok := m["metadata"].(map[string]any); ok {
		if ts, set := md["creationTimestamp"]; set && ts == nil {
			delete(md, "creationTimestamp")
		}
	}
	lit, err := catalogue.CELLiteral(m)
	if err != nil {
		return "", fmt.Errorf("rendering %T as CEL: %w", obj, err)
	}
	return lit, nil
}

// The controls this generator realises, named once: NET-01's default deny, NET-02's DNS
// allowance beside it, NET-03's ingress (and mesh control-plane) allowances.
const (
	controlDefaultDeny = "NET-01"
	controlDNS         = "NET-02"
	controlIngress     = "NET-03"
)

// Realised lists the controls this generator realises; a catalogue test holds it to the
// catalogue's realisedBy.
func Realised() []string { return []string{controlDefaultDeny, controlDNS, controlIngress} }

// NotRealised returns, for every enabled control of this generator that the profile gives
// nothing to act on, the reason; the conditions are PoliciesFor's.
func NotRealised(p *profile.Profile) map[string]string {
	out := map[string]string{}
	s := p.Spec
	skip := func(id, reason string) {
		if p.ControlEnabled(id) {
			out[id] = reason
		}
	}
	if len(s.Namespaces.Include) == 0 && s.Namespaces.Selector == nil {
		for _, id := range Realised() {
			skip(id, "no namespaces: spec.namespaces names none in include and sets no selector")
		}
		return out
	}
	emitted := map[string]bool{}
	for _, pol := range PoliciesFor(p, "") {
		emitted[pol.Control] = true
	}
	denyIngress, denyEgress := has(s.Network.DefaultDeny, profile.Ingress), has(s.Network.DefaultDeny, profile.Egress)
	mesh := s.Mesh.Provider == profile.MeshIstio
	if !emitted[controlDefaultDeny] {
		if !p.ControlEnabled(controlDefaultDeny) {
			for _, id := range []string{controlDNS, controlIngress} {
				skip(id, "NET-01 is disabled: allowances exist only beside the default deny they relax")
			}
			return out
		}
		skip(controlDefaultDeny, "spec.network.defaultDeny names neither Ingress nor Egress")
	}
	if !emitted[controlDNS] {
		switch {
		case !denyEgress:
			skip(controlDNS, "egress is not denied (spec.network.defaultDeny has no Egress): DNS is reachable without an allowance")
		default:
			skip(controlDNS, "spec.network.allowDNS is false")
		}
	}
	if !emitted[controlIngress] {
		switch {
		case mesh:
			skip(controlIngress, "spec.network.defaultDeny denies neither Ingress nor Egress: nothing to allow")
		case !denyIngress:
			skip(controlIngress, "ingress is not denied (spec.network.defaultDeny has no Ingress) and there is no mesh: nothing to allow")
		default:
			skip(controlIngress, "no namespaces in spec.network.ingressNamespaces and no mesh gateways: nothing to allow in")
		}
	}
	return out
}

// When says what a profile must give a control for this generator to realise it (the
// conditions of PoliciesFor), or nil for a control it does not realise.
func When(id string) []string {
	switch id {
	case controlDefaultDeny:
		return []string{"spec.network.defaultDeny names Ingress or Egress (the default is both)"}
	case controlDNS:
		return []string{"NET-01 is enabled, spec.network.defaultDeny includes Egress and spec.network.allowDNS is not false"}
	case controlIngress:
		return []string{"NET-01 is enabled, and Ingress is denied with spec.network.ingressNamespaces naming a namespace or an istio mesh, or Egress is denied with an istio mesh"}
	}
	return nil
}
