package gitops

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// OCIRepository is source.toolkit.fluxcd.io/v1 OCIRepository, the fields Bulwark sets.
type OCIRepository struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              OCIRepositorySpec `json:"spec"`
}

// OCIRepositorySpec mirrors Flux's spec.
type OCIRepositorySpec struct {
	URL           string           `json:"url"`
	Ref           *OCIRef          `json:"ref,omitempty"`
	LayerSelector *LayerSelector   `json:"layerSelector,omitempty"`
	Provider      string           `json:"provider,omitempty"`
	SecretRef     *LocalObjectRef  `json:"secretRef,omitempty"`
	Verify        *Verification    `json:"verify,omitempty"`
	Interval      metav1.Duration  `json:"interval"`
	Timeout       *metav1.Duration `json:"timeout,omitempty"`
	Insecure      bool             `json:"insecure,omitempty"`
}

// OCIRef picks the artifact: digest beats semver beats tag.
type OCIRef struct {
	Digest string `json:"digest,omitempty"`
	SemVer string `json:"semver,omitempty"`
	Tag    string `json:"tag,omitempty"`
}

// LayerSelector picks the content layer by media type.
type LayerSelector struct {
	MediaType string `json:"mediaType,omitempty"`
	Operation string `json:"operation,omitempty"`
}

// Verification is Flux's signature verification setting.
type Verification struct {
	Provider  string          `json:"provider"`
	SecretRef *LocalObjectRef `json:"secretRef,omitempty"`
}

// LocalObjectRef names an object in the same namespace.
type LocalObjectRef struct {
	Name string `json:"name"`
}

// Kustomization is kustomize.toolkit.fluxcd.io/v1 Kustomization, the fields Bulwark sets.
type Kustomization struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              KustomizationSpec `json:"spec"`
}

// KustomizationSpec mirrors Flux's spec.
type KustomizationSpec struct {
	SourceRef     CrossNamespaceSourceRef `json:"sourceRef"`
	Path          string                  `json:"path,omitempty"`
	Interval      metav1.Duration         `json:"interval"`
	RetryInterval *metav1.Duration        `json:"retryInterval,omitempty"`
	Timeout       *metav1.Duration        `json:"timeout,omitempty"`
	Prune         bool                    `json:"prune"`
	Wait          bool                    `json:"wait,omitempty"`
	HealthChecks  []ObjectRef             `json:"healthChecks,omitempty"`
}

// CrossNamespaceSourceRef names the source.
type CrossNamespaceSourceRef struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	Namespace  string `json:"namespace,omitempty"`
}

// VerifyKeySecret is the Secret Flux's cosign verification reads the public key from.
func VerifyKeySecret(opts Options) *corev1.Secret {
	if opts.VerifySecret == "" || len(opts.VerifyKey) == 0 {
		return nil
	}
	ns := opts.Namespace
	if ns == "" {
		ns = "flux-system"
	}
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: opts.VerifySecret, Namespace: ns},
		Type:       corev1.SecretTypeOpaque,
		StringData: map[string]string{"cosign.pub": string(opts.VerifyKey)},
	}
}

// Flux returns the OCIRepository and Kustomization that sync the bundle with prune on, so
// objects a new version drops are removed, and wait on, so Ready means applied and healthy.
func Flux(opts Options) (*OCIRepository, *Kustomization, error) {
	src, err := parseRef(opts.Ref, opts.Semver)
	if err != nil {
		return nil, nil, err
	}
	ns := opts.Namespace
	if ns == "" {
		ns = "flux-system"
	}
	n := defaultName(src, opts.Name)
	repo := &OCIRepository{
		TypeMeta:   metav1.TypeMeta{APIVersion: "source.toolkit.fluxcd.io/v1", Kind: "OCIRepository"},
		ObjectMeta: metav1.ObjectMeta{Name: n, Namespace: ns},
		Spec: OCIRepositorySpec{
			URL:           src.url,
			Ref:           &OCIRef{Digest: src.digest, SemVer: opts.Semver, Tag: src.tag},
			LayerSelector: &LayerSelector{MediaType: LayerMediaType, Operation: "extract"},
			Interval:      duration(opts.Interval, 5*time.Minute),
			Insecure:      opts.Insecure,
		},
	}
	if src.digest != "" {
		repo.Spec.Ref.Tag = ""
	}
	if opts.PullSecret != "" {
		repo.Spec.SecretRef = &LocalObjectRef{Name: opts.PullSecret}
	}
	if opts.VerifySecret != "" {
		repo.Spec.Verify = &Verification{Provider: "cosign", SecretRef: &LocalObjectRef{Name: opts.VerifySecret}}
	}
	retry := metav1.Duration{Duration: time.Minute}
	timeout := metav1.Duration{Duration: 3 * time.Minute}
	kust := &Kustomization{
		TypeMeta:   metav1.TypeMeta{APIVersion: "kustomize.toolkit.fluxcd.io/v1", Kind: "Kustomization"},
		ObjectMeta: metav1.ObjectMeta{Name: n, Namespace: ns},
		Spec: KustomizationSpec{
			SourceRef:     CrossNamespaceSourceRef{Kind: "OCIRepository", Name: n},
			Path:          "./",
			Interval:      duration(opts.Interval, 5*time.Minute),
			RetryInterval: &retry,
			Timeout:       &timeout,
			Prune:         true,
			Wait:          len(opts.HealthChecks) == 0,
			HealthChecks:  opts.HealthChecks,
		},
	}
	return repo, kust, nil
}
