package profile

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Group, Version and Kind identify the profile document.
const (
	Group      = "bulwark.dev"
	Version    = "v1alpha1"
	APIVersion = Group + "/" + Version
	Kind       = "Profile"
)

// Profile is one compliance scope: a framework, the namespaces it covers, and how each
// control is realised there.
type Profile struct {
	// APIVersion must be bulwark.dev/v1alpha1.
	APIVersion string `json:"apiVersion"`
	// Kind must be Profile.
	Kind string `json:"kind"`
	// Metadata names the profile; the name labels every generated object.
	Metadata ObjectMeta `json:"metadata"`
	// Spec is the desired compliance posture.
	Spec Spec `json:"spec"`

	// Source is the file the profile was read from, for error messages. Not serialised.
	Source string `json:"-"`
}

// ObjectMeta is the subset of Kubernetes object metadata a profile carries.
type ObjectMeta struct {
	// Name is a DNS-1123 label; it becomes the bulwark.dev/profile label value.
	Name string `json:"name"`
	// Labels are copied to nothing; they exist so profiles can be organised like other objects.
	Labels map[string]string `json:"labels,omitempty"`
	// Annotations are free-form notes (owner, audit period, ...).
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Spec is the body of a profile.
type Spec struct {
	// Framework is the compliance framework; only "soc2" exists today.
	Framework string `json:"framework"`
	// Enforcement is the default action of admission controls: Enforce denies, Audit reports.
	// Defaults to Enforce.
	Enforcement Enforcement `json:"enforcement,omitempty"`
	// Namespaces says which namespaces are in scope, and which are in the sensitive tier.
	Namespaces Namespaces `json:"namespaces"`
	// Images constrains where workload images come from and who signed them.
	Images Images `json:"images,omitempty"`
	// Network configures default-deny NetworkPolicies and their allowances.
	Network Network `json:"network,omitempty"`
	// Mesh configures service-mesh mTLS.
	Mesh Mesh `json:"mesh,omitempty"`
	// TLS configures encryption in transit at the edge and certificate issuance.
	TLS TLS `json:"tls,omitempty"`
	// Controls disables controls or sets their parameters.
	Controls Controls `json:"controls,omitempty"`
	// Exceptions are time-bound waivers of controls for named namespaces.
	Exceptions []Exception `json:"exceptions,omitempty"`
}

// Enforcement is Enforce or Audit.
type Enforcement string

// Enforcement values.
const (
	Enforce Enforcement = "Enforce"
	Audit   Enforcement = "Audit"
)

// Namespaces selects the namespaces a profile governs.
type Namespaces struct {
	// Selector matches namespaces by label, now and in the future (realised by generating policies).
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
	// Include names namespaces explicitly; they get static objects in the bundle.
	Include []string `json:"include,omitempty"`
	// Exclude names namespaces that are never in scope (system and platform namespaces).
	// Defaults to DefaultExclude when unset.
	Exclude []string `json:"exclude,omitempty"`
	// Sensitive selects, among in-scope namespaces, those in the stricter tier.
	Sensitive *metav1.LabelSelector `json:"sensitive,omitempty"`
	// SensitiveInclude names in-scope namespaces that are in the sensitive tier regardless of labels.
	SensitiveInclude []string `json:"sensitiveInclude,omitempty"`
}

// DefaultExclude are the platform namespaces excluded when a profile names none.
var DefaultExclude = []string{
	"argocd", "cert-manager", "flux-system", "istio-system", "kube-node-lease",
	"kube-public", "kube-system", "kyverno",
}

// Images constrains workload images.
type Images struct {
	// AllowedRegistries are image reference prefixes, e.g. "ghcr.io/acme/".
	AllowedRegistries []string `json:"allowedRegistries,omitempty"`
	// SignatureKeys are cosign public keys; images must be signed by one of them.
	SignatureKeys []SignatureKey `json:"signatureKeys,omitempty"`
}

// SignatureKey is a named PEM public key.
type SignatureKey struct {
	// Name identifies the key in messages and attestor names.
	Name string `json:"name"`
	// PublicKey is a PEM "PUBLIC KEY" block.
	PublicKey string `json:"publicKey"`
}

// Network configures NetworkPolicies.
type Network struct {
	// DefaultDeny lists the policy types denied by default: Ingress, Egress. Defaults to both.
	DefaultDeny []PolicyType `json:"defaultDeny,omitempty"`
	// AllowDNS allows egress to kube-dns on port 53. Defaults to true.
	AllowDNS *bool `json:"allowDNS,omitempty"`
	// IngressNamespaces are namespaces of ingress controllers allowed to reach workloads.
	IngressNamespaces []string `json:"ingressNamespaces,omitempty"`
	// DNSNamespace is where cluster DNS runs. Defaults to kube-system.
	DNSNamespace string `json:"dnsNamespace,omitempty"`
}

// PolicyType is Ingress or Egress.
type PolicyType string

// Policy types.
const (
	Ingress PolicyType = "Ingress"
	Egress  PolicyType = "Egress"
)

// Mesh configures service-mesh mTLS.
type Mesh struct {
	// Provider is "istio" or "none". Defaults to none (no mesh controls are generated).
	Provider string `json:"provider,omitempty"`
	// MTLS is the mesh-wide mode; only STRICT satisfies TLS-01. Defaults to STRICT when a provider is set.
	MTLS string `json:"mtls,omitempty"`
	// RootNamespace is the mesh's root namespace. Defaults to istio-system.
	RootNamespace string `json:"rootNamespace,omitempty"`
}

// TLS configures encryption in transit.
type TLS struct {
	// RequireIngressTLS requires every Ingress to declare TLS for all its hosts.
	RequireIngressTLS *bool `json:"requireIngressTLS,omitempty"`
	// Issuers are the cert-manager ClusterIssuers the bundle emits; Certificates must use one.
	Issuers []Issuer `json:"issuers,omitempty"`
}

// Issuer is one cert-manager ClusterIssuer; exactly one of ACME, CA, Vault, SelfSigned is set.
type Issuer struct {
	// Name of the ClusterIssuer.
	Name string `json:"name"`
	// ACME issues from an ACME server with HTTP-01 challenges.
	ACME *ACMEIssuer `json:"acme,omitempty"`
	// CA signs with a CA key pair stored in a Secret.
	CA *CAIssuer `json:"ca,omitempty"`
	// Vault signs with HashiCorp Vault's PKI engine.
	Vault *VaultIssuer `json:"vault,omitempty"`
	// SelfSigned bootstraps a CA; used only to sign a CA certificate.
	SelfSigned *SelfSignedIssuer `json:"selfSigned,omitempty"`
}

// ACMEIssuer configures an ACME ClusterIssuer.
type ACMEIssuer struct {
	// Server is the https URL of the ACME directory.
	Server string `json:"server"`
	// Email is the ACME account contact.
	Email string `json:"email"`
	// HTTP01IngressClass is the ingress class solving HTTP-01 challenges.
	HTTP01IngressClass string `json:"http01IngressClass,omitempty"`
	// PrivateKeySecretName holds the ACME account key. Defaults to <issuer>-account-key.
	PrivateKeySecretName string `json:"privateKeySecretName,omitempty"`
}

// CAIssuer configures a CA ClusterIssuer.
type CAIssuer struct {
	// SecretName is the Secret (in cert-manager's namespace) holding tls.crt and tls.key.
	SecretName string `json:"secretName"`
}

// VaultIssuer configures a Vault ClusterIssuer using Kubernetes auth.
type VaultIssuer struct {
	// Server is the https URL of Vault.
	Server string `json:"server"`
	// Path is the PKI sign path, e.g. pki_int/sign/example-dot-com.
	Path string `json:"path"`
	// Role is the Vault Kubernetes-auth role.
	Role string `json:"role"`
	// MountPath is the Kubernetes auth mount. Defaults to /v1/auth/kubernetes.
	MountPath string `json:"mountPath,omitempty"`
	// ServiceAccount is the service account, in cert-manager's namespace, whose token
	// authenticates to Vault. The bundle grants cert-manager's controller create on that one
	// account's serviceaccounts/token (a Role and RoleBinding in cert-manager's namespace).
	ServiceAccount string `json:"serviceAccount"`
	// CABundleSecretName optionally names a Secret with the CA that signed Vault's certificate.
	CABundleSecretName string `json:"caBundleSecretName,omitempty"`
}

// SelfSignedIssuer configures a self-signed bootstrap chain: a SelfSigned ClusterIssuer, a CA
// Certificate it signs, and a CA ClusterIssuer using that certificate.
type SelfSignedIssuer struct {
	// CommonName of the bootstrap CA certificate. Defaults to the issuer name.
	CommonName string `json:"commonName,omitempty"`
}

// Controls disables controls or sets their parameters.
type Controls struct {
	// Disable lists control ids that are not generated.
	Disable []string `json:"disable,omitempty"`
	// Enforcement overrides spec.enforcement per control id.
	Enforcement map[string]Enforcement `json:"enforcement,omitempty"`
	// Params sets control parameters by control id, then parameter name.
	Params map[string]map[string]any `json:"params,omitempty"`
}

// Exception waives controls for namespaces until a date.
type Exception struct {
	// Name identifies the exception; defaults to the ticket, lower-cased.
	Name string `json:"name,omitempty"`
	// Controls are the waived control ids.
	Controls []string `json:"controls"`
	// Namespaces are the namespaces the waiver applies to.
	Namespaces []string `json:"namespaces"`
	// Reason says why, for the auditor.
	Reason string `json:"reason"`
	// Ticket is the tracking reference of the approval.
	Ticket string `json:"ticket,omitempty"`
	// Expires is the last day the exception holds (YYYY-MM-DD, UTC).
	Expires Date `json:"expires"`
}

// Date is a calendar day, written YYYY-MM-DD.
type Date struct{ time.Time }
