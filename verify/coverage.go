package verify

import (
	"fmt"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"bulwark.dev/bulwark/profile"
)

var (
	namespaceGVK = schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}
	netpolGVK    = schema.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicy"}
	peerAuthGVK  = schema.GroupVersionKind{Group: "security.istio.io", Version: "v1", Kind: "PeerAuthentication"}
)

// scope decides, from the bundle index alone, which namespaces are in scope now.
type scope struct {
	include, exclude, sensitiveInclude map[string]bool
	selector, sensitive                labels.Selector
}

func set(items []string) map[string]bool {
	m := map[string]bool{}
	for _, s := range items {
		m[s] = true
	}
	return m
}

func newScope(n profile.Namespaces) (*scope, error) {
	s := &scope{include: set(n.Include), exclude: set(n.Exclude), sensitiveInclude: set(n.SensitiveInclude),
		selector: labels.Nothing(), sensitive: labels.Nothing()}
	var err error
	if n.Selector != nil {
		if s.selector, err = metav1.LabelSelectorAsSelector(n.Selector); err != nil {
			return nil, fmt.Errorf("bundle scope selector: %w", err)
		}
	}
	if n.Sensitive != nil {
		if s.sensitive, err = metav1.LabelSelectorAsSelector(n.Sensitive); err != nil {
			return nil, fmt.Errorf("bundle sensitive selector: %w", err)
		}
	}
	return s, nil
}

func (s *scope) inScope(name string, l map[string]string) bool {
	if s.exclude[name] {
		return false
	}
	return s.include[name] || s.selector.Matches(labels.Set(l))
}

func (s *scope) isSensitive(name string, l map[string]string) bool {
	return s.sensitiveInclude[name] || s.sensitive.Matches(labels.Set(l))
}

// coverage checks every namespace in scope at verify time, however its objects got there.
func (v *verifier) coverage() error {
	sc := v.b.Index.Spec.Scope
	s, err := newScope(sc.Namespaces)
	if err != nil {
		return err
	}
	nss, err := v.list(namespaceGVK, "")
	if err != nil {
		return err
	}
	var inScope []unstructured.Unstructured
	for _, ns := range nss {
		if ns.GetDeletionTimestamp() == nil && s.inScope(ns.GetName(), ns.GetLabels()) {
			inScope = append(inScope, ns)
		}
	}
	sort.Slice(inScope, func(i, j int) bool { return inScope[i].GetName() < inScope[j].GetName() })
	v.report.Stats.Namespaces = len(inScope)
	present := map[string]bool{}
	for _, ns := range nss {
		present[ns.GetName()] = true
	}
	for _, name := range sc.Namespaces.Include {
		if !present[name] {
			v.add(CheckCoverage, Fail, []string{"NET-01"}, &ObjectRef{APIVersion: "v1", Kind: "Namespace", Name: name},
				"namespace %s is named in the profile but does not exist", name)
		}
	}

	byNS := map[string][]unstructured.Unstructured{}
	if v.enabled("NET-01") || v.enabled("NET-02") {
		nps, err := v.list(netpolGVK, "")
		if err != nil {
			return err
		}
		for _, np := range nps {
			byNS[np.GetNamespace()] = append(byNS[np.GetNamespace()], np)
		}
	}
	mesh := sc.Mesh.Provider == profile.MeshIstio
	meshWide := false
	paByNS := map[string][]unstructured.Unstructured{}
	if mesh && v.enabled("TLS-01") {
		pas, err := v.list(peerAuthGVK, "")
		if err != nil {
			if _, notServed := err.(errNotServed); !notServed {
				return err
			}
		}
		for _, pa := range pas {
			if pa.GetNamespace() == sc.Mesh.RootNamespace && !hasSelector(pa) && paMode(pa) == "STRICT" {
				meshWide = true
			}
			paByNS[pa.GetNamespace()] = append(paByNS[pa.GetNamespace()], pa)
		}
	}

	failures := map[string]int{}
	fail := func(control, ns, format string, args ...any) {
		failures[control]++
		v.add(CheckCoverage, Fail, []string{control}, &ObjectRef{APIVersion: "v1", Kind: "Namespace", Name: ns}, format, args...)
	}
	deny := sc.Network.DefaultDeny
	for _, ns := range inScope {
		name := ns.GetName()
		if v.enabled("NET-01") && !hasDefaultDeny(byNS[name], deny) {
			fail("NET-01", name, "namespace %s is in scope but has no default-deny NetworkPolicy for %v", name, deny)
		}
		if v.enabled("NET-02") && allowsDNS(sc.Network) && !hasDNSEgress(byNS[name]) {
			fail("NET-02", name, "namespace %s denies egress but has no NetworkPolicy allowing DNS (port 53)", name)
		}
		if v.enabled("POD-00") {
			want := "baseline"
			if s.isSensitive(name, ns.GetLabels()) {
				want = "restricted"
			}
			got := ns.GetLabels()["pod-security.kubernetes.io/enforce"]
			if got != want && !(want == "baseline" && got == "restricted") {
				fail("POD-00", name, "namespace %s enforces Pod Security %q, want %q", name, got, want)
			}
		}
		if mesh && v.enabled("TLS-01") {
			ok := meshWide
			for _, pa := range paByNS[name] {
				switch mode := paMode(pa); {
				case !hasSelector(pa) && mode == "STRICT":
					ok = true
				case mode == "PERMISSIVE" || mode == "DISABLE":
					fail("TLS-01", name, "PeerAuthentication %s/%s sets mTLS %s", name, pa.GetName(), mode)
				}
			}
			if !ok {
				fail("TLS-01", name, "namespace %s has no STRICT mTLS: no mesh-wide STRICT PeerAuthentication in %s and none in the namespace", name, sc.Mesh.RootNamespace)
			}
		}
		if mesh && v.enabled("TLS-02") && ns.GetLabels()["istio-injection"] != "enabled" {
			fail("TLS-02", name, "namespace %s is not enrolled in the mesh (label istio-injection=enabled)", name)
		}
	}
	for _, c := range []string{"NET-01", "NET-02", "POD-00", "TLS-01", "TLS-02"} {
		if v.enabled(c) && failures[c] == 0 && (mesh || !strings.HasPrefix(c, "TLS")) {
			v.add(CheckCoverage, Pass, []string{c}, nil, "all %d namespaces in scope are covered", len(inScope))
		}
	}
	return nil
}

func allowsDNS(n profile.Network) bool {
	denyEgress := false
	for _, t := range n.DefaultDeny {
		if t == profile.Egress {
			denyEgress = true
		}
	}
	return denyEgress && (n.AllowDNS == nil || *n.AllowDNS)
}

// hasDefaultDeny finds a policy selecting every pod that denies each type with no rule.
func hasDefaultDeny(nps []unstructured.Unstructured, deny []profile.PolicyType) bool {
	for _, np := range nps {
		sel, _, _ := unstructured.NestedMap(np.Object, "spec", "podSelector")
		if len(sel) != 0 {
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

func hasDNSEgress(nps []unstructured.Unstructured) bool {
	for _, np := range nps {
		rules, _, _ := unstructured.NestedSlice(np.Object, "spec", "egress")
		for _, r := range rules {
			m, _ := r.(map[string]any)
			ports, _ := m["ports"].([]any)
			for _, p := range ports {
				pm, _ := p.(map[string]any)
				if fmt.Sprint(pm["port"]) == "53" {
					return true
				}
			}
		}
	}
	return false
}

func hasSelector(pa unstructured.Unstructured) bool {
	sel, found, _ := unstructured.NestedMap(pa.Object, "spec", "selector")
	return found && len(sel) > 0
}

func paMode(pa unstructured.Unstructured) string {
	mode, _, _ := unstructured.NestedString(pa.Object, "spec", "mtls", "mode")
	return mode
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
