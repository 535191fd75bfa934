package verify

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"bulwark.dev/bulwark/bundle"
)

// exactKinds are the kinds verify holds to the bundle both ways, with the fields compared:
// the API server adds nothing to them beyond what Bulwark always sets itself
// (NetworkPolicy's policyTypes and port protocols; RBAC objects and Istio's
// PeerAuthentication have no server defaults), so anything the cluster has there beyond the
// bundle was added by someone — an endPort widening DNS, an extra rule, a subject — and is a
// difference. The other kinds (Kyverno's and cert-manager's CRDs) carry schema defaults and
// are compared both ways against the bundle's object with their CRD's schema defaults
// (prepare computes them from the pinned CRDs).
var exactKinds = map[schema.GroupKind][]string{
	{Group: "networking.k8s.io", Kind: "NetworkPolicy"}:              {"spec"},
	{Group: "security.istio.io", Kind: "PeerAuthentication"}:         {"spec"},
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}:        {"rules", "aggregationRule"},
	{Group: "rbac.authorization.k8s.io", Kind: "Role"}:               {"rules"},
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding"}: {"subjects", "roleRef"},
	{Group: "rbac.authorization.k8s.io", Kind: "RoleBinding"}:        {"subjects", "roleRef"},
}

// matching checks desired ⊆ live, and for exactKinds live ⊆ desired too.
func (v *verifier) matching(o bundle.IndexObject, live *unstructured.Unstructured) {
	want := v.in.desired[o.File]
	if d, ok := subset(desired(want), live.Object); !ok {
		v.add(CheckMatching, Fail, o.Controls, ref(o), "%s %s differs from the bundle at %s: bundle has %s, cluster has %s",
			o.Kind, name(o), d.path, short(d.want), short(d.got))
		return
	}
	gvk := schema.FromAPIVersionAndKind(o.APIVersion, o.Kind)
	if defaulted, ok := v.in.defaulted[o.File]; ok {
		// A custom resource: the bundle's object with its CRD's schema defaults is exactly
		// what the API server stores; anything else in the live spec was added by someone.
		if d, ok := subsetAt(live.Object["spec"], defaulted["spec"], ".spec"); !ok {
			v.add(CheckMatching, Fail, o.Controls, ref(o), "%s %s differs from the bundle at %s: the cluster has %s where the bundle (with its CRD's defaults) has %s",
				o.Kind, name(o), d.path, short(d.want), short(d.got))
			return
		}
	}
	for _, f := range exactKinds[gvk.GroupKind()] {
		if f == "rules" && want["aggregationRule"] != nil {
			continue // the clusterrole-aggregation controller writes an aggregated role's rules
		}
		if d, ok := subsetAt(live.Object[f], want[f], "."+f); !ok {
			v.add(CheckMatching, Fail, o.Controls, ref(o), "%s %s differs from the bundle at %s: the cluster has %s where the bundle has %s",
				o.Kind, name(o), d.path, short(d.want), short(d.got))
			return
		}
	}
	v.add(CheckPresent, Pass, o.Controls, ref(o), "%s %s is present and matches the bundle", o.Kind, name(o))
}
