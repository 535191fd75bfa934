package verify

import (
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// policyExceptionGVK is the PolicyException of Kyverno's CEL policies, the kind that can
// exempt resources from the bundle's ValidatingPolicies, ImageValidatingPolicies and the rest.
var policyExceptionGVK = schema.GroupVersionKind{Group: "policies.kyverno.io", Version: "v1", Kind: "PolicyException"}

// legacyExceptionGVK is the PolicyException of Kyverno's older ClusterPolicy and Policy
// kinds. Kyverno v1.19.1 consults it only for their rules (pkg/engine's
// GetPolicyExceptions, by spec.exceptions[].policyName and ruleNames: api/kyverno/v2
// Exception.Contains), so it exempts nothing from the bundle's CEL policies today; one that
// names a bundle policy is still a waiver written outside the profile, and is reported.
// A cluster that does not serve the kind is simply not asked about it.
var legacyExceptionGVK = schema.GroupVersionKind{Group: "kyverno.io", Version: "v2", Kind: "PolicyException"}

// kyvernoPolicies reports whether the bundle ships policies a PolicyException could name.
func (v *verifier) kyvernoPolicies() bool {
	for _, o := range v.b.Index.Spec.Objects {
		if schema.FromAPIVersionAndKind(o.APIVersion, o.Kind).Group == policyExceptionGVK.Group && o.Kind != policyExceptionGVK.Kind {
			return true
		}
	}
	return false
}

// foreignExceptions fails every PolicyException the bundle does not ship that exempts
// anything from one of the bundle's policies: a waiver must come through the profile's
// spec.exceptions (reviewed, ticketed, time-bound, in the bundle), or the controls it
// switches off only look in force. Kyverno matches an exception to a policy by exact kind
// and name and ignores an expired one (pkg/cel/engine/exception.go, v1.19.1); so does this.
func (v *verifier) foreignExceptions() {
	if !v.kyvernoPolicies() {
		return
	}
	type policyKey struct{ kind, name string }
	policies := map[policyKey][]string{} // bundle policy -> its controls
	shipped := map[string]bool{}
	for _, o := range v.b.Index.Spec.Objects {
		gvk := schema.FromAPIVersionAndKind(o.APIVersion, o.Kind)
		switch {
		case gvk.GroupKind() == policyExceptionGVK.GroupKind():
			shipped[objKey(gvk.GroupKind(), o.Namespace, o.Name)] = true
		case gvk.Group == policyExceptionGVK.Group:
			policies[policyKey{o.Kind, o.Name}] = o.Controls
		}
	}
	live := v.live[policyExceptionGVK.GroupKind()]
	for i := range live {
		l := &live[i]
		if shipped[objKey(policyExceptionGVK.GroupKind(), l.GetNamespace(), l.GetName())] || expiredException(l, v.opts.Now) {
			continue
		}
		refs, _, _ := unstructured.NestedSlice(l.Object, "spec", "policyRefs")
		seen := map[string]bool{}
		var exempted, controls []string
		for _, r := range refs {
			m, _ := r.(map[string]any)
			kind, _ := m["kind"].(string)
			name, _ := m["name"].(string)
			ctl, ok := policies[policyKey{kind, name}]
			if !ok {
				continue
			}
			exempted = append(exempted, kind+" "+name)
			for _, c := range ctl {
				if !seen[c] {
					seen[c] = true
					controls = append(controls, c)
				}
			}
		}
		if len(exempted) == 0 {
			continue
		}
		if !seen[controlPolicyPlane] && v.enabled(controlPolicyPlane) {
			controls = append(controls, controlPolicyPlane)
		}
		sort.Strings(controls)
		v.add(CheckForeign, Fail, controls, refOf(l),
			"PolicyException %s is not in the bundle and exempts resources from %s: waive through the profile's spec.exceptions, or delete it",
			nameOf(l), strings.Join(exempted, ", "))
	}
}

// foreignLegacyExceptions fails every kyverno.io/v2 PolicyException that names one of the
// bundle's policies (by name, as it names a ClusterPolicy; or NAMESPACE/NAME).
func (v *verifier) foreignLegacyExceptions() {
	live := v.live[legacyExceptionGVK.GroupKind()]
	if len(live) == 0 {
		return
	}
	policies := map[string][]string{} // bundle policy name -> its controls
	kinds := map[string]string{}
	for _, o := range v.b.Index.Spec.Objects {
		gvk := schema.FromAPIVersionAndKind(o.APIVersion, o.Kind)
		if gvk.Group == policyExceptionGVK.Group && gvk.Kind != policyExceptionGVK.Kind {
			policies[o.Name] = o.Controls
			kinds[o.Name] = o.Kind
		}
	}
	for i := range live {
		l := &live[i]
		rules, _, _ := unstructured.NestedSlice(l.Object, "spec", "exceptions")
		seen := map[string]bool{}
		var named, controls []string
		for _, r := range rules {
			m, _ := r.(map[string]any)
			name, _ := m["policyName"].(string)
			if _, after, ok := strings.Cut(name, "/"); ok {
				name = after
			}
			ctl, ok := policies[name]
			if !ok || seen["policy "+name] {
				continue
			}
			seen["policy "+name] = true
			named = append(named, kinds[name]+" "+name)
			for _, c := range ctl {
				if !seen[c] {
					seen[c] = true
					controls = append(controls, c)
				}
			}
		}
		if len(named) == 0 {
			continue
		}
		if !seen[controlPolicyPlane] && v.enabled(controlPolicyPlane) {
			controls = append(controls, controlPolicyPlane)
		}
		sort.Strings(controls)
		v.add(CheckForeign, Fail, controls, refOf(l),
			"kyverno.io/v2 PolicyException %s is not in the bundle and names %s: Kyverno applies this kind to ClusterPolicies and Policies only, so it exempts nothing from the bundle's CEL policies today, but it is a waiver outside the profile: waive through spec.exceptions, or delete it",
			nameOf(l), strings.Join(named, ", "))
	}
}

// expiredException reports whether Kyverno no longer honours the exception.
func expiredException(l *unstructured.Unstructured, now time.Time) bool {
	s, _, _ := unstructured.NestedString(l.Object, "spec", "expiresAt")
	if s == "" {
		return false
	}
	t, err := time.Parse(time.RFC3339, s)
	return err == nil && !now.Before(t)
}
