package gitops

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Application is argoproj.io/v1alpha1 Application, the fields Bulwark sets.
type Application struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              ApplicationSpec `json:"spec"`
}

// ApplicationSpec mirrors Argo CD's spec.
type ApplicationSpec struct {
	Project     string                 `json:"project"`
	Source      ApplicationSource      `json:"source"`
	Destination ApplicationDestination `json:"destination"`
	SyncPolicy  *SyncPolicy            `json:"syncPolicy,omitempty"`
}

// ApplicationSource is an OCI source: repoURL oci://REG/REPO, a tag, digest or semver range.
type ApplicationSource struct {
	RepoURL        string `json:"repoURL"`
	TargetRevision string `json:"targetRevision"`
	Path           string `json:"path"`
}

// ApplicationDestination is the cluster the bundle is applied to.
type ApplicationDestination struct {
	Server    string `json:"server"`
	Namespace string `json:"namespace,omitempty"`
}

// SyncPolicy turns on automated sync with pruning and self-healing.
type SyncPolicy struct {
	Automated   *SyncPolicyAutomated `json:"automated,omitempty"`
	SyncOptions []string             `json:"syncOptions,omitempty"`
}

// SyncPolicyAutomated mirrors Argo CD's automated sync settings.
type SyncPolicyAutomated struct {
	Prune    bool `json:"prune"`
	SelfHeal bool `json:"selfHeal"`
}

// ArgoCD returns an Application that syncs the bundle from its OCI repository into the
// cluster Argo CD runs in. The bundle's single tar+gzip layer is a media type Argo CD
// accepts by default (reposerver.oci.layer.media.types), so no server setting is needed.
func ArgoCD(opts Options) (*Application, error) {
	src, err := parseRef(opts.Ref, opts.Semver)
	if err != nil {
		return nil, err
	}
	ns := opts.Namespace
	if ns == "" {
		ns = "argocd"
	}
	rev := src.tag
	switch {
	case src.digest != "":
		rev = src.digest
	case opts.Semver != "":
		rev = opts.Semver
	}
	return &Application{
		TypeMeta:   metav1.TypeMeta{APIVersion: "argoproj.io/v1alpha1", Kind: "Application"},
		ObjectMeta: metav1.ObjectMeta{Name: defaultName(src, opts.Name), Namespace: ns},
		Spec: ApplicationSpec{
			Project:     "default",
			Source:      ApplicationSource{RepoURL: src.url, TargetRevision: rev, Path: "."},
			Destination: ApplicationDestination{Server: "https://kubernetes.default.svc"},
			SyncPolicy: &SyncPolicy{
				Automated: &SyncPolicyAutomated{Prune: true, SelfHeal: true},
				// Server-side apply keeps large CRD-backed policies under the annotation limit.
				SyncOptions: []string{"ServerSideApply=true"},
			},
		},
	}, nil
}
