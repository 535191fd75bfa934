package verify

import (
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	ociRepoGVR = schema.GroupVersionResource{Group: "source.toolkit.fluxcd.io", Version: "v1", Resource: "ocirepositories"}
	kustGVR    = schema.GroupVersionResource{Group: "kustomize.toolkit.fluxcd.io", Version: "v1", Resource: "kustomizations"}
	argoGVR    = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "applications"}
)

// gitopsControls are the controls whose evidence is that changes arrive through GitOps.
var gitopsControls = []string{"CHG-02"}

// gitops checks that the GitOps tool reports the bundle's digest, applied and healthy.
func (v *verifier) gitops() error {
	if v.opts.Flux != nil {
		if err := v.flux(*v.opts.Flux); err != nil {
			return err
		}
	}
	if v.opts.ArgoCD != nil {
		if err := v.argocd(*v.opts.ArgoCD); err != nil {
			return err
		}
	}
	return nil
}

func (v *verifier) get(gvr schema.GroupVersionResource, kind string, n NamespacedName) (*unstructured.Unstructured, error) {
	obj, err := v.dyn.Resource(gvr).Namespace(n.Namespace).Get(v.ctx, n.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		v.add(CheckGitOps, Fail, gitopsControls, &ObjectRef{APIVersion: gvr.GroupVersion().String(), Kind: kind, Namespace: n.Namespace, Name: n.Name},
			"%s %s/%s does not exist", kind, n.Namespace, n.Name)
		return nil, nil
	}
	return obj, err
}

func (v *verifier) flux(n NamespacedName) error {
	repo, err := v.get(ociRepoGVR, "OCIRepository", n)
	if err != nil || repo == nil {
		return err
	}
	ref := refOf(repo)
	digest, _, _ := unstructured.NestedString(repo.Object, "status", "artifact", "digest")
	revision, _, _ := unstructured.NestedString(repo.Object, "status", "artifact", "revision")
	ready, msg := condition(repo, "Ready")
	switch {
	case v.opts.Digest == "":
		v.add(CheckGitOps, Warn, gitopsControls, ref, "OCIRepository %s/%s serves %s; the bundle's digest is unknown (verify a bundle from a registry to compare)", n.Namespace, n.Name, revision)
	case !revisionHas(revision, digest, v.opts.Digest):
		v.add(CheckGitOps, Fail, gitopsControls, ref, "OCIRepository %s/%s serves revision %q, not the bundle's %s", n.Namespace, n.Name, revision, v.opts.Digest)
	case ready != "True":
		v.add(CheckGitOps, Fail, gitopsControls, ref, "OCIRepository %s/%s is not Ready: %s", n.Namespace, n.Name, msg)
	default:
		v.add(CheckGitOps, Pass, gitopsControls, ref, "OCIRepository %s/%s serves %s and is Ready", n.Namespace, n.Name, revision)
	}
	kust, err := v.get(kustGVR, "Kustomization", n)
	if err != nil || kust == nil {
		return err
	}
	applied, _, _ := unstructured.NestedString(kust.Object, "status", "lastAppliedRevision")
	kready, kmsg := condition(kust, "Ready")
	kref := refOf(kust)
	switch {
	case v.opts.Digest != "" && !revisionHas(applied, "", v.opts.Digest):
		v.add(CheckGitOps, Fail, gitopsControls, kref, "Kustomization %s/%s last applied %q, not the bundle's %s", n.Namespace, n.Name, applied, v.opts.Digest)
	case kready != "True":
		v.add(CheckGitOps, Fail, gitopsControls, kref, "Kustomization %s/%s is not Ready: %s", n.Namespace, n.Name, kmsg)
	default:
		v.add(CheckGitOps, Pass, gitopsControls, kref, "Kustomization %s/%s applied %s and is Ready", n.Namespace, n.Name, applied)
	}
	return nil
}

func (v *verifier) argocd(n NamespacedName) error {
	app, err := v.get(argoGVR, "Application", n)
	if err != nil || app == nil {
		return err
	}
	ref := refOf(app)
	sync, _, _ := unstructured.NestedString(app.Object, "status", "sync", "status")
	revision, _, _ := unstructured.NestedString(app.Object, "status", "sync", "revision")
	health, _, _ := unstructured.NestedString(app.Object, "status", "health", "status")
	switch {
	case v.opts.Digest != "" && !revisionHas(revision, "", v.opts.Digest):
		v.add(CheckGitOps, Fail, gitopsControls, ref, "Application %s/%s is at revision %q, not the bundle's %s", n.Namespace, n.Name, revision, v.opts.Digest)
	case sync != "Synced":
		v.add(CheckGitOps, Fail, gitopsControls, ref, "Application %s/%s is %s, not Synced", n.Namespace, n.Name, orUnknown2(sync))
	case health != "Healthy":
		v.add(CheckGitOps, Fail, gitopsControls, ref, "Application %s/%s is %s, not Healthy", n.Namespace, n.Name, orUnknown2(health))
	default:
		v.add(CheckGitOps, Pass, gitopsControls, ref, "Application %s/%s is Synced and Healthy at %s", n.Namespace, n.Name, revision)
	}
	return nil
}

func orUnknown2(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// revisionHas reports whether a Flux or Argo CD revision ("1.4.0@sha256:…", "sha256:…")
// or an explicit digest field names the bundle digest.
func revisionHas(revision, digest, want string) bool {
	return digest == want || revision == want || strings.HasSuffix(revision, "@"+want)
}
