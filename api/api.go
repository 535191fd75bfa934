package api

import "k8s.io/apimachinery/pkg/runtime/schema"

// Labels every generated object carries.
const (
	// LabelManagedBy marks Bulwark's objects, with the value ManagedByValue.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedByValue is LabelManagedBy's value on Bulwark's objects.
	ManagedByValue = "bulwark"
	// LabelProfile is the profile name.
	LabelProfile = "bulwark.dev/profile"
	// LabelVersion is the bundle version. Objects Kyverno generates from a bundle's
	// GeneratingPolicy carry the profile label but not this one.
	LabelVersion = "bulwark.dev/version"
)

// Annotations generated objects carry.
const (
	// AnnotationControls lists the control ids an object realises, comma-separated, sorted.
	AnnotationControls = "bulwark.dev/controls"
	// AnnotationTSC lists the Trust Services Criteria those controls serve.
	AnnotationTSC = "bulwark.dev/tsc"
	// AnnotationReason, AnnotationTicket and AnnotationExpires record why an exception
	// exists, its approval and its end.
	AnnotationReason  = "bulwark.dev/reason"
	AnnotationTicket  = "bulwark.dev/ticket"
	AnnotationExpires = "bulwark.dev/expires"
)

// Bundle directories, one per target.
const (
	DirKyverno = "kyverno"
	DirNetwork = "network"
	DirMesh    = "mesh"
	DirTLS     = "tls"
)

// GeneratedKinds are every kind a Bulwark generator can emit, sorted by group and kind.
// Verify lists each of them even when a bundle holds none, so that an object of a kind a
// later bundle version dropped is still found as drift; a test holds the generators to it.
var GeneratedKinds = []schema.GroupKind{
	{Group: "cert-manager.io", Kind: "Certificate"},
	{Group: "cert-manager.io", Kind: "ClusterIssuer"},
	{Group: "networking.k8s.io", Kind: "NetworkPolicy"},
	{Group: "policies.kyverno.io", Kind: "GeneratingPolicy"},
	{Group: "policies.kyverno.io", Kind: "ImageValidatingPolicy"},
	{Group: "policies.kyverno.io", Kind: "MutatingPolicy"},
	{Group: "policies.kyverno.io", Kind: "PolicyException"},
	{Group: "policies.kyverno.io", Kind: "ValidatingPolicy"},
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"},
	{Group: "security.istio.io", Kind: "PeerAuthentication"},
}
