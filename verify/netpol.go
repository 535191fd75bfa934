package verify

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
)

// NetworkPolicies add up: a pod selected by several policies may send or receive whatever
// any of them allows. So a namespace's effective posture is the union of every
// NetworkPolicy in it, and the bundle's default deny means what it says only if that union
// allows nothing beyond the bundle's own allowances (DNS, the declared ingress namespaces,
// the mesh control plane). This file holds that union to the bundle, one (peer, port) pair
// at a time, and checks the other way round that each of the bundle's NET-03 allowances is
// in effect.
//
// Containment is decided syntactically and conservatively: a peer is inside an allowance
// when its selectors carry at least the allowance's requirements (more requirements select
// fewer), a port when its protocol matches and its range lies inside. Anything verify cannot
// prove inside is reported, never assumed.

// netRule is one rule of a NetworkPolicy in one direction: peers nil means every peer,
// ports nil every port.
type netRule struct {
	peers []map[string]any
	ports []map[string]any
}

// netAllowances are the rules of a set of NetworkPolicies by direction ("ingress",
// "egress"), counting only policies that select every pod of the namespace when allPods.
func netAllowances(specs []map[string]any, allPods bool) map[string][]netRule {
	out := map[string][]netRule{}
	for _, spec := range specs {
		if sel, _ := spec["podSelector"].(map[string]any); allPods && len(sel) > 0 {
			continue
		}
		for dir, peersKey := range map[string]string{"ingress": "from", "egress": "to"} {
			if !appliesTo(spec, dir) {
				continue // Kubernetes ignores rules of a direction the policy does not list
			}
			rules, _ := spec[dir].([]any)
			for _, r := range rules {
				m, _ := r.(map[string]any)
				out[dir] = append(out[dir], netRule{peers: maps(m[peersKey]), ports: maps(m["ports"])})
			}
		}
	}
	return out
}

func maps(v any) []map[string]any {
	list, _ := v.([]any)
	if len(list) == 0 {
		return nil
	}
	out := make([]map[string]any, 0, len(list))
	for _, x := range list {
		m, _ := x.(map[string]any)
		if m == nil {
			m = map[string]any{}
		}
		out = append(out, m)
	}
	return out
}

// netScope is what peer containment needs to know about the cluster: the namespace the
// policies live in and every namespace's labels now.
type netScope struct {
	ns       string
	nsLabels map[string]labels.Set
}

// covers reports whether the allowances allow (peer, port) in direction dir; peer and
// port nil stand for every peer and every port.
func (s netScope) covers(allowed map[string][]netRule, dir string, peer, port map[string]any) bool {
	for _, a := range allowed[dir] {
		if s.peerIn(peer, a.peers) && portIn(port, a.ports) {
			return true
		}
	}
	return false
}

func (s netScope) peerIn(peer map[string]any, within []map[string]any) bool {
	if within == nil {
		return true // the allowance reaches every peer
	}
	if peer == nil {
		return false
	}
	for _, w := range within {
		if s.peerInside(peer, w) {
			return true
		}
	}
	return false
}

// peerInside reports whether every pod or address peer p reaches, w reaches too.
func (s netScope) peerInside(p, w map[string]any) bool {
	pip, pIsIP := p["ipBlock"].(map[string]any)
	wip, wIsIP := w["ipBlock"].(map[string]any)
	switch {
	case pIsIP && wIsIP:
		return cidrInside(pip, wip)
	case pIsIP || wIsIP:
		return false
	}
	if !s.namespacesInside(p, w) {
		return false
	}
	wPods, _ := w["podSelector"].(map[string]any)
	if len(wPods) == 0 {
		return true
	}
	pPods, _ := p["podSelector"].(map[string]any)
	return requirementsInclude(pPods, wPods)
}

// namespacesInside reports whether the namespaces peer p reaches are among those of w. A
// peer without a namespaceSelector stays in the policy's own namespace.
func (s netScope) namespacesInside(p, w map[string]any) bool {
	pSel, pHas := p["namespaceSelector"].(map[string]any)
	wSel, wHas := w["namespaceSelector"].(map[string]any)
	if !wHas {
		if !pHas {
			return true
		}
		name, pinned := pinnedName(pSel)
		return pinned && name == s.ns
	}
	if !pHas {
		return selectorMatches(wSel, s.labelsOf(s.ns))
	}
	if name, pinned := pinnedName(pSel); pinned {
		// The name label is the API server's and immutable: p reaches that one namespace.
		return selectorMatches(wSel, s.labelsOf(name))
	}
	return requirementsInclude(pSel, wSel)
}

func (s netScope) labelsOf(ns string) labels.Set {
	l := labels.Set{"kubernetes.io/metadata.name": ns}
	for k, v := range s.nsLabels[ns] {
		l[k] = v
	}
	return l
}

// pinnedName reports the one namespace a selector can match by its immutable name label.
func pinnedName(sel map[string]any) (string, bool) {
	ls, ok := labelSelector(sel)
	if !ok {
		return "", false
	}
	if n, ok := ls.MatchLabels["kubernetes.io/metadata.name"]; ok {
		return n, true
	}
	for _, r := range ls.MatchExpressions {
		if r.Key == "kubernetes.io/metadata.name" && r.Operator == metav1.LabelSelectorOpIn && len(r.Values) == 1 {
			return r.Values[0], true
		}
	}
	return "", false
}

// requirementsInclude reports whether selector p carries every requirement of w, so that
// it selects a subset of what w selects.
func requirementsInclude(p, w map[string]any) bool {
	wSel, ok := asSelector(w)
	if !ok {
		return false
	}
	pSel, ok := asSelector(p)
	if !ok {
		return false
	}
	wReqs, _ := wSel.Requirements()
	pReqs, _ := pSel.Requirements()
	have := map[string]bool{}
	for _, r := range pReqs {
		have[r.String()] = true
	}
	for _, r := range wReqs {
		if !have[r.String()] {
			return false
		}
	}
	return true
}

func labelSelector(m map[string]any) (*metav1.LabelSelector, bool) {
	var ls metav1.LabelSelector
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, &ls); err != nil {
		return nil, false
	}
	return &ls, true
}

func asSelector(m map[string]any) (labels.Selector, bool) {
	ls, ok := labelSelector(m)
	if !ok {
		return nil, false
	}
	s, err := metav1.LabelSelectorAsSelector(ls)
	return s, err == nil
}

// cidrInside reports whether ipBlock p lies inside ipBlock w and none of it in w's
// exceptions; an exception of p only narrows it.
func cidrInside(p, w map[string]any) bool {
	pc, _ := p["cidr"].(string)
	wc, _ := w["cidr"].(string)
	pp, err1 := netip.ParsePrefix(pc)
	wp, err2 := netip.ParsePrefix(wc)
	if err1 != nil || err2 != nil || pp.Bits() < wp.Bits() || !wp.Contains(pp.Addr()) {
		return false
	}
	except, _ := w["except"].([]any)
	for _, e := range except {
		s, _ := e.(string)
		ep, err := netip.ParsePrefix(s)
		if err != nil || ep.Overlaps(pp) {
			return false
		}
	}
	return true
}

// portIn reports whether port (nil: every port) lies inside one of within (nil: every port).
func portIn(port map[string]any, within []map[string]any) bool {
	if within == nil {
		return true
	}
	if port == nil {
		return false
	}
	for _, w := range within {
		if portInside(port, w) {
			return true
		}
	}
	return false
}

func portInside(p, w map[string]any) bool {
	if protocol(p) != protocol(w) {
		return false
	}
	wPort, wHas := w["port"]
	if !wHas || wPort == nil {
		return true // every port of the protocol
	}
	pPort, pHas := p["port"]
	if !pHas || pPort == nil {
		return false
	}
	if ws, named := wPort.(string); named {
		ps, _ := pPort.(string)
		return ps == ws
	}
	plo, ok1 := number(pPort)
	wlo, ok2 := number(wPort)
	if !ok1 || !ok2 {
		return false
	}
	phi, whi := plo, wlo
	if e, ok := number(p["endPort"]); ok {
		phi = e
	}
	if e, ok := number(w["endPort"]); ok {
		whi = e
	}
	return wlo <= plo && phi <= whi
}

// protocol is a port's protocol; the API server defaults an absent one to TCP.
func protocol(p map[string]any) string {
	if s, _ := p["protocol"].(string); s != "" {
		return s
	}
	return "TCP"
}

// beyond lists what NetworkPolicy spec allows that the allowances do not, as
// "ingress from <peer> on <port>" phrases.
func (s netScope) beyond(spec map[string]any, allowed map[string][]netRule) []string {
	var out []string
	for _, dir := range []string{"ingress", "egress"} {
		word := map[string]string{"ingress": "from", "egress": "to"}[dir]
		for _, r := range netAllowances([]map[string]any{spec}, false)[dir] {
			peers, ports := r.peers, r.ports
			if peers == nil {
				peers = []map[string]any{nil}
			}
			if ports == nil {
				ports = []map[string]any{nil}
			}
			for _, p := range peers {
				for _, q := range ports {
					if !s.covers(allowed, dir, p, q) {
						out = append(out, fmt.Sprintf("%s %s %s on %s", dir, word, describePeer(p), describePort(q)))
					}
				}
			}
		}
	}
	return out
}

func describePeer(p map[string]any) string {
	if p == nil {
		return "anywhere"
	}
	data, err := json.Marshal(p)
	if err != nil {
		return fmt.Sprint(p)
	}
	return string(data)
}

func describePort(p map[string]any) string {
	if p == nil {
		return "every port"
	}
	port, ok := p["port"]
	if !ok || port == nil {
		return "every " + protocol(p) + " port"
	}
	s := fmt.Sprintf("%s %v", protocol(p), port)
	if end, ok := p["endPort"]; ok && end != nil {
		s += fmt.Sprintf("-%v", end)
	}
	return s
}

// bundleNetpols are the NetworkPolicy specs the bundle puts in namespace ns: its static
// objects there, and, in a namespace the profile selects by label, what its
// GeneratingPolicies generate, with the controls each realises.
func (v *verifier) bundleNetpols(ns string, named bool) ([]map[string]any, [][]string) {
	var specs []map[string]any
	var controls [][]string
	for _, o := range v.b.Index.Spec.Objects {
		if o.Kind != netpolGVK.Kind || o.APIVersion != netpolGVK.GroupVersion().String() || o.Namespace != ns {
			continue
		}
		if spec, _ := v.in.desired[o.File]["spec"].(map[string]any); spec != nil {
			specs = append(specs, spec)
			controls = append(controls, o.Controls)
		}
	}
	if !named {
		keys := make([]string, 0, len(v.in.generated))
		for k := range v.in.generated {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if g := v.in.generated[k]; g.kind == netpolGVK.Kind {
				specs = append(specs, g.spec)
				controls = append(controls, g.controls)
			}
		}
	}
	return specs, controls
}

// bundleOwned reports whether a live NetworkPolicy is one the bundle ships there or
// generates there: those are held to the bundle exactly by matching and checkGenerated.
func (v *verifier) bundleOwned(np *unstructured.Unstructured, named bool) bool {
	if v.in.static[objKey(netpolGVK.GroupKind(), np.GetNamespace(), np.GetName())] {
		return true
	}
	_, generated := v.in.generated[netpolGVK.Kind+"/"+np.GetName()]
	return !named && generated
}

// networkUnion judges namespace ns's NetworkPolicies as one: every foreign one must allow
// nothing beyond the bundle's allowances (NET-01), and each of the bundle's NET-03
// allowances must be in effect for every pod. It returns the number of failures by control.
func (v *verifier) networkUnion(ns string, named bool, live []*unstructured.Unstructured, nsLabels map[string]labels.Set) map[string]int {
	failed := map[string]int{}
	specs, controls := v.bundleNetpols(ns, named)
	if len(specs) == 0 {
		// A bundle without NetworkPolicies for the namespace (one that predates them, or
		// built without NET-01) gives no allowances to hold the namespace to.
		return failed
	}
	s := netScope{ns: ns, nsLabels: nsLabels}
	allowed := netAllowances(specs, false)
	if v.enabled(controlDefaultDeny) {
		for _, np := range live {
			if v.bundleOwned(np, named) || len(opensToEveryone(np)) > 0 {
				continue // judged exactly, or already reported as opening everything
			}
			spec, _ := np.Object["spec"].(map[string]any)
			extra := s.beyond(spec, allowed)
			if len(extra) == 0 {
				continue
			}
			if e := v.waived(controlDefaultDeny, ns); e != "" {
				v.add(CheckCoverage, Warn, []string{controlDefaultDeny}, refOf(np), "NetworkPolicy %s/%s allows %s beyond the bundle's allowances, as exception %s allows",
					ns, np.GetName(), strings.Join(extra, "; "), e)
				continue
			}
			failed[controlDefaultDeny]++
			v.add(CheckCoverage, Fail, []string{controlDefaultDeny}, refOf(np),
				"NetworkPolicy %s/%s allows %s beyond the bundle's allowances: NetworkPolicies add up, so the namespace's default deny no longer holds for the pods it selects",
				ns, np.GetName(), strings.Join(extra, "; "))
		}
	}
	if v.enabled(controlIngress) {
		var liveSpecs []map[string]any
		for _, np := range live {
			if spec, _ := np.Object["spec"].(map[string]any); spec != nil {
				liveSpecs = append(liveSpecs, spec)
			}
		}
		inEffect := netAllowances(liveSpecs, true)
		for i, spec := range specs {
			if !contains(controls[i], controlIngress) {
				continue
			}
			for _, missing := range s.beyond(spec, inEffect) {
				failed[controlIngress]++
				f := v.add(CheckCoverage, Fail, []string{controlIngress}, nsRef(ns),
					"namespace %s: no NetworkPolicy selecting every pod allows %s, as the bundle's NET-03 allowance does", ns, missing)
				f.Command = "kubectl get networkpolicies -n " + ns + " -o yaml"
			}
		}
	}
	return failed
}

// appliesTo reports whether a NetworkPolicy's rules of a direction take effect: the
// directions its policyTypes list, or, without policyTypes, ingress and (when it has egress
// rules) egress, as the API server defaults them.
func appliesTo(spec map[string]any, dir string) bool {
	types, _ := spec["policyTypes"].([]any)
	if len(types) == 0 {
		if dir == "egress" {
			rules, _ := spec["egress"].([]any)
			return len(rules) > 0
		}
		return true
	}
	for _, t := range types {
		if s, _ := t.(string); strings.EqualFold(s, dir) {
			return true
		}
	}
	return false
}
