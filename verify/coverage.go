package verify

import (
	"fmt"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"bulwark.dev/bulwark/api"
	"bulwark.dev/bulwark/profile"
)

var (
	namespaceGVK = schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}
	netpolGVK    = schema.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicy"}
	peerAuthGVK  = schema.GroupVersionKind{Group: "security.istio.io", Version: "v1", Kind: "PeerAuthentication"}
)

// Namespace labels coverage reads.
const (
	labelPSAEnforce = "pod-security.kubernetes.io/enforce"
	labelInjection  = "istio-injection"
	labelRevision   = "istio.io/rev"
	labelDataplane  = "istio.io/dataplane-mode"
)

func (v *verifier) mesh() bool {
	return v.b.Index.Spec.Scope.Mesh.Provider == profile.MeshIstio
}

// coverageKinds are the kinds coverage judges whoever created the objects, so they are
// listed whole rather than by the bundle's labels.
func (v *verifier) coverageKinds() []schema.GroupVersionKind {
	kinds := []schema.GroupVersionKind{namespaceGVK}
	if v.enabled(controlDefaultDeny) || v.enabled(controlDNS) || v.enabled(controlIngress) {
		kinds = append(kinds, netpolGVK)
	}
	if v.mesh() && v.enabled(controlMeshMTLS) {
		kinds = append(kinds, peerAuthGVK)
	}
	if v.kyvernoPolicies() {
		kinds = append(kinds, policyExceptionGVK, legacyExceptionGVK)
		kinds = append(kinds, reportGVKs...)
	}
	return kinds
}

// coverage checks every namespace in scope at verify time (not at build time), however
// its objects got there: statically from the bundle, by Kyverno, or by hand.
func (v *verifier) coverage() error {
	sc := v.b.Index.Spec.Scope
	s := v.in.scope
	nss := v.live[namespaceGVK.GroupKind()]
	var inScope []*unstructured.Unstructured
	present := map[string]bool{}
	for i := range nss {
		ns := &nss[i]
		present[ns.GetName()] = true
		// A Terminating namespace admits no new pods: nothing there needs guarding.
		if ns.GetDeletionTimestamp() == nil && s.InScope(ns.GetName(), ns.GetLabels()) {
			inScope = append(inScope, ns)
		}
	}
	sort.Slice(inScope, func(i, j int) bool { return inScope[i].GetName() < inScope[j].GetName() })
	v.report.Stats.Namespaces = len(inScope)
	v.inScope = v.inScope[:0]
	for _, ns := range inScope {
		v.inScope = append(v.inScope, nsInScope{name: ns.GetName(), sensitive: s.Sensitive(ns.GetName(), ns.GetLabels())})
	}

	var perNS []string
	for _, c := range namespaceControls {
		if v.enabled(c) && (v.mesh() || !strings.HasPrefix(c, "TLS-")) {
			perNS = append(perNS, c)
		}
	}
	for _, name := range sc.Namespaces.Include {
		if !present[name] && !s.Excluded(name) && len(perNS) > 0 {
			f := v.add(CheckCoverage, Fail, perNS, nsRef(name), "namespace %s is named in the profile but does not exist", name)
			f.Command = "kubectl get namespace " + name
		}
	}

	netpols := map[string][]*unstructured.Unstructured{}
	for i := range v.live[netpolGVK.GroupKind()] {
		np := &v.live[netpolGVK.GroupKind()][i]
		netpols[np.GetNamespace()] = append(netpols[np.GetNamespace()], np)
	}
	dns := dnsTarget{namespace: sc.Network.DNSNamespace, pods: labels.Set{api.LabelDNSPods: api.DNSPodsValue}}
	if dns.namespace == "" {
		dns.namespace = "kube-system" // the profile's default; the index carries the defaulted spec
	}
	// The API server gives every namespace kubernetes.io/metadata.name (its name, immutable).
	dns.nsLabels = labels.Set{"kubernetes.io/metadata.name": dns.namespace}
	nsLabels := map[string]labels.Set{}
	for i := range nss {
		nsLabels[nss[i].GetName()] = nss[i].GetLabels()
		if nss[i].GetName() == dns.namespace {
			for k, v := range nss[i].GetLabels() {
				dns.nsLabels[k] = v
			}
		}
	}
	named := map[string]bool{}
	for _, n := range sc.Namespaces.Include {
		named[n] = true
	}
	root := sc.Mesh.RootNamespace
	var meshWidePAs []*unstructured.Unstructured
	peerAuths := map[string][]*unstructured.Unstructured{}
	for i := range v.live[peerAuthGVK.GroupKind()] {
		pa := &v.live[peerAuthGVK.GroupKind()][i]
		if pa.GetNamespace() == root && !hasSelector(pa) {
			meshWidePAs = append(meshWidePAs, pa)
		}
		peerAuths[pa.GetNamespace()] = append(peerAuths[pa.GetNamespace()], pa)
	}
	meshWide := false
	if v.mesh() && v.enabled(controlMeshMTLS) {
		meshWide = v.meshWideMode(meshWidePAs, root, len(inScope))
	}

	failures := map[string]int{}
	fail := func(control, ns, command, format string, args ...any) {
		failures[control]++
		f := v.add(CheckCoverage, Fail, []string{control}, nsRef(ns), format, args...)
		f.Command = command
	}
	deny := sc.Network.DefaultDeny
	if len(deny) == 0 {
		deny = []profile.PolicyType{profile.Ingress, profile.Egress}
	}
	for _, ns := range inScope {
		name := ns.GetName()
		netpolCmd := "kubectl get networkpolicies -n " + name + " -o yaml"
		labelCmd := "kubectl get namespace " + name + " --show-labels"
		if v.enabled(controlDefaultDeny) && !hasDefaultDeny(netpols[name], deny) {
			fail(controlDefaultDeny, name, netpolCmd, "namespace %s is in scope but no NetworkPolicy denies %s to every pod by default", name, joinTypes(deny))
		}
		v.checkGenerated(name, netpolGVK.GroupKind(), netpols[name])
		if v.enabled(controlDefaultDeny) {
			for _, np := range netpols[name] {
				if open := opensToEveryone(np); len(open) > 0 {
					failures[controlDefaultDeny]++
					v.add(CheckCoverage, Fail, []string{controlDefaultDeny}, refOf(np),
						"NetworkPolicy %s/%s allows %s: NetworkPolicies add up, so it voids the default deny for the pods it selects",
						name, np.GetName(), strings.Join(open, " and "))
				}
			}
		}
		for c, n := range v.networkUnion(name, named[name], netpols[name], nsLabels) {
			failures[c] += n
		}
		if v.enabled(controlDNS) && allowsDNS(sc.Network) && !hasDNSEgress(netpols[name], dns) {
			fail(controlDNS, name, netpolCmd, "namespace %s denies egress but no NetworkPolicy lets every pod reach DNS (UDP port 53)", name)
		}
		if v.enabled(controlPSA) && v.in.psa != nil {
			if msg := checkPSA(v.in.psa, name, s.Sensitive(name, ns.GetLabels()), ns.GetLabels(), v.opts.Now); msg != "" {
				fail(controlPSA, name, labelCmd, "%s", msg)
			}
		} else if v.enabled(controlPSA) {
			// A bundle that predates the recorded levels set baseline (restricted in the
			// sensitive tier), and a stricter level satisfied it.
			want := "baseline"
			if s.Sensitive(name, ns.GetLabels()) {
				want = "restricted"
			}
			got := ns.GetLabels()[labelPSAEnforce]
			if got != want && !(want == "baseline" && got == "restricted") {
				fail(controlPSA, name, labelCmd, "namespace %s enforces Pod Security %s, want %s=%s", name, orUnknown(got, "nothing"), labelPSAEnforce, want)
			}
		}
		if v.mesh() && v.enabled(controlMeshMTLS) {
			strict := meshWide
			for _, pa := range peerAuths[name] {
				if !hasSelector(pa) && paMode(pa) == "STRICT" {
					strict = true
				}
			}
			for _, pa := range peerAuths[name] {
				weak := weakModes(pa)
				switch {
				case len(weak) == 0:
				case v.waived(controlMeshMTLS, name) != "":
					v.add(CheckCoverage, Warn, []string{controlMeshMTLS}, refOf(pa), "PeerAuthentication %s/%s weakens mTLS in namespace %s to %s, as exception %s allows",
						name, pa.GetName(), name, strings.Join(weak, ", "), v.waived(controlMeshMTLS, name))
				default:
					failures[controlMeshMTLS]++
					v.add(CheckCoverage, Fail, []string{controlMeshMTLS}, refOf(pa), "PeerAuthentication %s/%s weakens mTLS in namespace %s to %s",
						name, pa.GetName(), name, strings.Join(weak, ", "))
				}
			}
			if !strict {
				fail(controlMeshMTLS, name, "kubectl get peerauthentications.security.istio.io -n "+root+" -o yaml",
					"namespace %s has no STRICT mTLS: no mesh-wide STRICT PeerAuthentication in %s and none in the namespace", name, root)
			}
		}
		if v.mesh() && v.enabled(controlMeshEnrolled) && !enrolled(ns.GetLabels()) {
			fail(controlMeshEnrolled, name, labelCmd, "namespace %s is not enrolled in the mesh (%s=enabled)", name, labelInjection)
		}
	}
	for _, c := range perNS {
		if failures[c] == 0 {
			v.add(CheckCoverage, Pass, []string{c}, nil, "all %d namespaces in scope are covered", len(inScope))
		}
	}
	return nil
}

func nsRef(name string) *ObjectRef {
	return &ObjectRef{APIVersion: "v1", Kind: "Namespace", Name: name}
}

func joinTypes(types []profile.PolicyType) string {
	s := make([]string, len(types))
	for i, t := range types {
		s[i] = string(t)
	}
	return strings.Join(s, " and ")
}

func allowsDNS(n profile.Network) bool {
	denyEgress := len(n.DefaultDeny) == 0 // defaulted to both
	for _, t := range n.DefaultDeny {
		if t == profile.Egress {
			denyEgress = true
		}
	}
	return denyEgress && (n.AllowDNS == nil || *n.AllowDNS)
}

// selectsAllPods reports whether a NetworkPolicy's podSelector is empty.
func selectsAllPods(np *unstructured.Unstructured) bool {
	sel, _, _ := unstructured.NestedMap(np.Object, "spec", "podSelector")
	return len(sel) == 0
}

// hasDefaultDeny finds a policy that selects every pod and, for each denied type, lists
// the type and allows nothing of it.
func hasDefaultDeny(nps []*unstructured.Unstructured, deny []profile.PolicyType) bool {
	for _, np := range nps {
		if !selectsAllPods(np) {
			continue
		}
		types, _, _ := unstructured.NestedStringSlice(np.Object, "spec", "policyTypes")
		ok := true
		for _, t := range deny {
			rules, _, _ := unstructured.NestedSlice(np.Object, "spec", strings.ToLower(string(t)))
			if !contains(types, string(t)) || len(rules) > 0 {
				ok = false
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// hasDNSEgress finds a policy that lets every pod send to UDP port 53 (DNS's transport;
// a TCP-only allowance leaves lookups failing) of the cluster DNS pods: a rule without ports
// allows every port, and its peers must reach the DNS namespace's DNS pods (or everything);
// an allowance to the namespace's own pods, or to another namespace, lets no lookup out.
func hasDNSEgress(nps []*unstructured.Unstructured, dns dnsTarget) bool {
	for _, np := range nps {
		if !selectsAllPods(np) {
			continue
		}
		rules, _, _ := unstructured.NestedSlice(np.Object, "spec", "egress")
		for _, r := range rules {
			m, _ := r.(map[string]any)
			if !dns.reachedBy(np.GetNamespace(), m["to"]) {
				continue
			}
			ports, _ := m["ports"].([]any)
			if len(ports) == 0 {
				return true
			}
			for _, p := range ports {
				if pm, _ := p.(map[string]any); allowsUDP53(pm) {
					return true
				}
			}
		}
	}
	return false
}

// dnsTarget is where cluster DNS runs: its namespace (with the labels it has now) and the
// label its pods carry, as the bundle's DNS allowance names them.
type dnsTarget struct {
	namespace string
	nsLabels  labels.Set
	pods      labels.Set
}

// reachedBy reports whether egress peers (a rule's "to") include the DNS pods.
func (d dnsTarget) reachedBy(from string, to any) bool {
	peers, _ := to.([]any)
	if len(peers) == 0 {
		return true // no "to": every destination
	}
	for _, p := range peers {
		m, _ := p.(map[string]any)
		if ip, ok := m["ipBlock"].(map[string]any); ok {
			if everyAddress(ip) {
				return true
			}
			continue
		}
		nsSel, hasNS := m["namespaceSelector"]
		switch {
		case !hasNS && from != d.namespace:
			continue // a podSelector alone stays in the policy's own namespace
		case hasNS && !selectorMatches(nsSel, d.nsLabels):
			continue
		}
		if podSel, ok := m["podSelector"]; ok && !selectorMatches(podSel, d.pods) {
			continue
		}
		return true
	}
	return false
}

// selectorMatches evaluates a LabelSelector given as unstructured data against a label set;
// one that does not parse matches nothing.
func selectorMatches(sel any, set labels.Set) bool {
	m, ok := sel.(map[string]any)
	if !ok {
		return false
	}
	var ls metav1.LabelSelector
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, &ls); err != nil {
		return false
	}
	s, err := metav1.LabelSelectorAsSelector(&ls)
	return err == nil && s.Matches(set)
}

func allowsUDP53(p map[string]any) bool {
	if proto, _ := p["protocol"].(string); proto != "UDP" {
		return false // the API defaults an absent protocol to TCP
	}
	port, ok := p["port"]
	if !ok || port == nil {
		return true // every port of the protocol
	}
	lo, ok := number(port)
	if !ok {
		if s, isStr := port.(string); isStr {
			return s == "53" || s == "dns" || s == "domain"
		}
		return false
	}
	hi := lo
	if end, ok := number(p["endPort"]); ok {
		hi = end
	}
	return lo <= 53 && 53 <= hi
}

func hasSelector(pa *unstructured.Unstructured) bool {
	sel, found, _ := unstructured.NestedMap(pa.Object, "spec", "selector")
	return found && len(sel) > 0
}

func paMode(pa *unstructured.Unstructured) string {
	mode, _, _ := unstructured.NestedString(pa.Object, "spec", "mtls", "mode")
	return mode
}

// weakModes lists where a PeerAuthentication lets plaintext in: its mode, or a port's.
func weakModes(pa *unstructured.Unstructured) []string {
	var out []string
	if m := paMode(pa); m == "PERMISSIVE" || m == "DISABLE" {
		out = append(out, m)
	}
	ports, _, _ := unstructured.NestedMap(pa.Object, "spec", "portLevelMtls")
	keys := make([]string, 0, len(ports))
	for k := range ports {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		pm, _ := ports[k].(map[string]any)
		if m, _ := pm["mode"].(string); m == "PERMISSIVE" || m == "DISABLE" {
			out = append(out, fmt.Sprintf("%s on port %s", m, k))
		}
	}
	return out
}

// enrolled reports whether a namespace's pods get the mesh: sidecar injection (the
// istio-injection label wins over a revision label, as in Istio) or ambient mode.
func enrolled(l map[string]string) bool {
	if v, ok := l[labelInjection]; ok {
		return v == "enabled"
	}
	return l[labelRevision] != "" || l[labelDataplane] == "ambient"
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// meshWideMode reports whether the mesh-wide mTLS mode in effect is STRICT. Istio applies the
// oldest selector-less PeerAuthentication of the root namespace when there are several
// (ties broken by name), so a second, older PERMISSIVE one beside the bundle's STRICT one
// weakens the whole mesh; a newer weaker one is inert until the older ones go, and is warned
// about.
func (v *verifier) meshWideMode(pas []*unstructured.Unstructured, root string, inScope int) bool {
	if len(pas) == 0 {
		return false
	}
	sort.SliceStable(pas, func(i, j int) bool {
		ti, tj := pas[i].GetCreationTimestamp(), pas[j].GetCreationTimestamp()
		if !ti.Equal(&tj) {
			return ti.Before(&tj)
		}
		return pas[i].GetName() < pas[j].GetName()
	})
	effective := pas[0]
	strict := paMode(effective) == "STRICT"
	if !strict && inScope > 0 {
		v.add(CheckCoverage, Fail, []string{controlMeshMTLS}, refOf(effective),
			"PeerAuthentication %s/%s is the oldest mesh-wide one in %s, so Istio applies its mode %s to the whole mesh, not STRICT",
			root, effective.GetName(), root, orUnknown(paMode(effective), "UNSET"))
	}
	for _, pa := range pas[1:] {
		if paMode(pa) != "STRICT" {
			v.add(CheckCoverage, Warn, []string{controlMeshMTLS}, refOf(pa),
				"PeerAuthentication %s/%s is a second mesh-wide policy (mode %s); Istio ignores it while the older %s exists",
				root, pa.GetName(), orUnknown(paMode(pa), "UNSET"), effective.GetName())
		}
	}
	return strict
}

// opensToEveryone lists the directions in which a NetworkPolicy allows every peer on every
// port: a rule without from/to or ports, or whose peers include every address (an ipBlock of
// 0.0.0.0/0 or ::/0 without exceptions) or every pod of every namespace (an empty
// namespaceSelector without a podSelector, or with an empty one). Beside a default deny such
// a policy switches it off for the pods it selects, whoever created it. Narrower allowances
// (to named pods, namespaces or ports) are the applications' to add and are not judged here.
func opensToEveryone(np *unstructured.Unstructured) []string {
	var out []string
	for _, dir := range []struct{ field, peers, what string }{{"ingress", "from", "ingress from anywhere"}, {"egress", "to", "egress to anywhere"}} {
		rules, _, _ := unstructured.NestedSlice(np.Object, "spec", dir.field)
		for _, r := range rules {
			m, _ := r.(map[string]any)
			if ports, _ := m["ports"].([]any); len(ports) > 0 {
				continue
			}
			peers, _ := m[dir.peers].([]any)
			open := len(peers) == 0
			for _, p := range peers {
				open = open || everyPeer(p)
			}
			if open {
				out = append(out, dir.what+" on every port")
				break
			}
		}
	}
	return out
}

func everyPeer(p any) bool {
	m, _ := p.(map[string]any)
	if ip, ok := m["ipBlock"].(map[string]any); ok {
		return everyAddress(ip)
	}
	ns, hasNS := m["namespaceSelector"].(map[string]any)
	pods, hasPods := m["podSelector"].(map[string]any)
	return hasNS && len(ns) == 0 && (!hasPods || len(pods) == 0)
}

// waived names the profile exception that waives the control in the namespace now, or "".
func (v *verifier) waived(control, namespace string) string {
	for _, e := range v.b.Index.Spec.Scope.Exceptions {
		if !e.Expired(v.opts.Now) && contains(e.Controls, control) && contains(e.Namespaces, namespace) {
			return e.Name
		}
	}
	return ""
}

// everyAddress reports whether an ipBlock peer is every IPv4 or IPv6 address.
func everyAddress(ip map[string]any) bool {
	cidr, _ := ip["cidr"].(string)
	except, _ := ip["except"].([]any)
	return (cidr == "0.0.0.0/0" || cidr == "::/0") && len(except) == 0
}
