package api

import (
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

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
	// AnnotationPodSecurity, on POD-00's MutatingPolicy, records as PodSecurity JSON the
	// Pod Security Admission labels the policy gives each in-scope namespace, so verify
	// expects exactly them from the bundle alone.
	AnnotationPodSecurity = "bulwark.dev/pod-security"
)

// The Pod Security Admission namespace labels: a level and a version per mode.
const (
	LabelPSAEnforce        = "pod-security.kubernetes.io/enforce"
	LabelPSAEnforceVersion = "pod-security.kubernetes.io/enforce-version"
	LabelPSAWarn           = "pod-security.kubernetes.io/warn"
	LabelPSAWarnVersion    = "pod-security.kubernetes.io/warn-version"
	LabelPSAAudit          = "pod-security.kubernetes.io/audit"
	LabelPSAAuditVersion   = "pod-security.kubernetes.io/audit-version"
)

// The label cluster DNS pods carry (CoreDNS and kube-dns alike, in kubeadm and most
// distributions): the bundle's DNS allowance names them by it, and verify judges by it.
const (
	LabelDNSPods = "k8s-app"
	DNSPodsValue = "kube-dns"
)

// The Pod Security Standards levels, least strict first.
const (
	PSSPrivileged = "privileged"
	PSSBaseline   = "baseline"
	PSSRestricted = "restricted"
)

// PSSLevels are the Pod Security Standards levels, least strict first.
var PSSLevels = []string{PSSPrivileged, PSSBaseline, PSSRestricted}

// PSSRank orders the levels: privileged 0, baseline 1, restricted 2; -1 for anything else.
func PSSRank(level string) int { return slices.Index(PSSLevels, level) }

// PodSecurity is the value of AnnotationPodSecurity: the Pod Security Admission labels of
// every in-scope namespace.
type PodSecurity struct {
	// Version is every mode's version label (e.g. v1.37): the Kubernetes version whose
	// Pod Security Standards the catalogue's POD controls implement.
	Version string `json:"version"`
	// Enforce is the enforce level outside the sensitive tier, EnforceSensitive inside it:
	// the strictest level all of whose POD controls are in force in Enforce mode.
	Enforce          string `json:"enforce"`
	EnforceSensitive string `json:"enforceSensitive"`
	// Warn and Audit are the warn and audit levels; they never deny.
	Warn  string `json:"warn"`
	Audit string `json:"audit"`
	// Exceptions lower the enforce level of their namespaces while they hold.
	Exceptions []PodSecurityException `json:"exceptions,omitempty"`
}

// PodSecurityException is a profile exception for POD controls, as Pod Security Admission
// sees it.
type PodSecurityException struct {
	// Name is the profile exception's name.
	Name string `json:"name"`
	// Namespaces are the namespaces it holds in.
	Namespaces []string `json:"namespaces"`
	// Enforce is the most those namespaces enforce while it holds: privileged when it
	// waives a baseline control, baseline when it waives only restricted ones.
	Enforce string `json:"enforce"`
	// Until is the instant it stops holding, its PolicyException's expiresAt.
	Until time.Time `json:"until"`
}

// EnforceFor is the enforce level of an in-scope namespace at now.
func (ps *PodSecurity) EnforceFor(namespace string, sensitive bool, now time.Time) string {
	level := ps.Enforce
	if sensitive {
		level = ps.EnforceSensitive
	}
	for _, e := range ps.Exceptions {
		if now.Before(e.Until) && slices.Contains(e.Namespaces, namespace) && PSSRank(e.Enforce) < PSSRank(level) {
			level = e.Enforce
		}
	}
	return level
}

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
