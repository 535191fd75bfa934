package verify

import (
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	ociRepoGVK = schema.GroupVersionKind{Group: "source.toolkit.fluxcd.io", Version: "v1", Kind: "OCIRepository"}
	kustGVK    = schema.GroupVersionKind{Group: "kustomize.toolkit.fluxcd.io", Version: "v1", Kind: "Kustomization"}
	argoAppGVK = schema.GroupVersionKind{Group: "argoproj.io", Version: "v1alpha1", Kind: "Application"}
)

// gitopsControls are the controls whose evidence is that the policy plane changes only
// through the signed, versioned bundle the GitOps tool syncs.
var gitopsControls = []string{controlPolicyPlane}

// gitops checks that the GitOps tool reports the bundle's digest, applied and healthy.
// These are the only GETs verify makes: one named object each, not one per bundle object.
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

// get reads one GitOps object; a missing object or an uninstalled tool is a failing
// finding (nil object), other errors stop verification.
func (v *verifier) get(gvk schema.GroupVersionKind, n NamespacedName, tool string) (*unstructured.Unstructured, error) {
	obj := &ObjectRef{APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind, Namespace: n.Namespace, Name: n.Name}
	m, err := v.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		v.add(CheckGitOps, Fail, gitopsControls, obj, "the cluster does not serve %s %s: is %s installed?", gvk.Kind, gvk.GroupVersion(), tool)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("discovering %s: %w", gvk.GroupKind(), err)
	}
	live, err := v.dyn.Resource(m.Resource).Namespace(n.Namespace).Get(v.ctx, n.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		v.add(CheckGitOps, Fail, gitopsControls, obj, "%s %s does not exist", gvk.Kind, n)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("getting %s %s: %w", gvk.Kind, n, err)
	}
	return live, nil
}

// revisionDigest extracts the OCI digest from a Flux or Argo CD revision: Flux writes
// "<tag>@sha256:<hex>" (or the bare digest for a digest ref), Argo CD the bare digest.
func revisionDigest(revision string) string {
	if i := strings.LastIndex(revision, "@"); i >= 0 {
		return revision[i+1:]
	}
	return revision
}

// stale reports a controller that has not yet reconciled the object's latest spec, whose
// status therefore describes an older one.
func stale(obj *unstructured.Unstructured) (string, bool) {
	observed, found, _ := unstructured.NestedInt64(obj.Object, "status", "observedGeneration")
	if !found || observed == obj.GetGeneration() {
		return "", false
	}
	return fmt.Sprintf("generation %d is not reconciled yet (status describes generation %d)", obj.GetGeneration(), observed), true
}

func (v *verifier) flux(n NamespacedName) error {
	repo, err := v.get(ociRepoGVK, n, "Flux")
	if err != nil {
		return err
	}
	if repo != nil {
		v.fluxSource(n, repo)
	}
	kust, err := v.get(kustGVK, n, "Flux")
	if err != nil {
		return err
	}
	if kust != nil {
		v.fluxKustomization(n, kust)
	}
	return nil
}

// fluxSource checks the OCIRepository. status.artifact.digest is the digest of the tarball
// source-controller stored, not the OCI manifest digest: the bundle digest is in the
// revision.
func (v *verifier) fluxSource(n NamespacedName, repo *unstructured.Unstructured) {
	obj := refOf(repo)
	revision, _, _ := unstructured.NestedString(repo.Object, "status", "artifact", "revision")
	v.report.GitOps = append(v.report.GitOps, GitOpsRevision{Object: *obj, Revision: revision})
	ready, reason, msg := condition(repo, "Ready")
	_, verifies, _ := unstructured.NestedMap(repo.Object, "spec", "verify")
	verified, _, vmsg := condition(repo, "SourceVerified")
	staleMsg, isStale := stale(repo)
	switch {
	case revision == "":
		v.add(CheckGitOps, Fail, gitopsControls, obj, "OCIRepository %s has no artifact yet (Ready %s: %s)", n, orUnknown(ready, "unknown"), orUnknown(msg, reason))
	case v.opts.Digest != "" && revisionDigest(revision) != v.opts.Digest:
		v.add(CheckGitOps, Fail, gitopsControls, obj, "OCIRepository %s serves revision %s, not the bundle's %s%s", n, revision, v.opts.Digest, v.digestNote())
	case ready != "True":
		v.add(CheckGitOps, Fail, gitopsControls, obj, "OCIRepository %s is not Ready (%s): %s", n, orUnknown(reason, ready), msg)
	case verifies && verified != "True":
		v.add(CheckGitOps, Fail, gitopsControls, obj, "OCIRepository %s verifies signatures but SourceVerified is %s: %s", n, orUnknown(verified, "unknown"), vmsg)
	case isStale:
		v.add(CheckGitOps, Fail, gitopsControls, obj, "OCIRepository %s: %s", n, staleMsg)
	case v.opts.Digest == "":
		v.add(CheckGitOps, Warn, gitopsControls, obj, "OCIRepository %s serves %s and is Ready; the bundle's digest is unknown, so the revision was not compared", n, revision)
	default:
		v.add(CheckGitOps, Pass, gitopsControls, obj, "OCIRepository %s serves %s and is Ready", n, revision)
	}
}

func (v *verifier) fluxKustomization(n NamespacedName, kust *unstructured.Unstructured) {
	obj := refOf(kust)
	applied, _, _ := unstructured.NestedString(kust.Object, "status", "lastAppliedRevision")
	v.report.GitOps = append(v.report.GitOps, GitOpsRevision{Object: *obj, Revision: applied})
	ready, reason, msg := condition(kust, "Ready")
	staleMsg, isStale := stale(kust)
	switch {
	case v.opts.Digest != "" && revisionDigest(applied) != v.opts.Digest:
		v.add(CheckGitOps, Fail, gitopsControls, obj, "Kustomization %s last applied revision %s, not the bundle's %s%s", n, orUnknown(applied, "nothing"), v.opts.Digest, v.digestNote())
	case ready != "True":
		v.add(CheckGitOps, Fail, gitopsControls, obj, "Kustomization %s is not Ready (%s): %s", n, orUnknown(reason, orUnknown(ready, "no Ready condition")), msg)
	case isStale:
		v.add(CheckGitOps, Fail, gitopsControls, obj, "Kustomization %s: %s", n, staleMsg)
	default:
		v.add(CheckGitOps, Pass, gitopsControls, obj, "Kustomization %s applied %s and is Ready", n, applied)
	}
}

func (v *verifier) argocd(n NamespacedName) error {
	app, err := v.get(argoAppGVK, n, "Argo CD")
	if err != nil || app == nil {
		return err
	}
	obj := refOf(app)
	sync, _, _ := unstructured.NestedString(app.Object, "status", "sync", "status")
	revision, _, _ := unstructured.NestedString(app.Object, "status", "sync", "revision")
	v.report.GitOps = append(v.report.GitOps, GitOpsRevision{Object: *obj, Revision: revision})
	health, _, _ := unstructured.NestedString(app.Object, "status", "health", "status")
	switch {
	case v.opts.Digest != "" && revisionDigest(revision) != v.opts.Digest:
		v.add(CheckGitOps, Fail, gitopsControls, obj, "Application %s is at revision %s, not the bundle's %s%s", n, orUnknown(revision, "none"), v.opts.Digest, v.digestNote())
	case sync != "Synced":
		v.add(CheckGitOps, Fail, gitopsControls, obj, "Application %s is %s, not Synced", n, orUnknown(sync, "of unknown sync status"))
	case health != "Healthy":
		v.add(CheckGitOps, Fail, gitopsControls, obj, "Application %s is %s, not Healthy", n, orUnknown(health, "of unknown health"))
	default:
		v.add(CheckGitOps, Pass, gitopsControls, obj, "Application %s is Synced and Healthy at %s", n, revision)
	}
	return nil
}

// digestNote explains a revision mismatch against a digest verify computed itself.
func (v *verifier) digestNote() string {
	if !v.opts.DigestFromDirectory {
		return ""
	}
	return " (computed from the bundle directory as it packs without push-time annotations: a bundle pushed with --source, --revision or SOURCE_DATE_EPOCH has another digest; pass --digest with the pushed one)"
}
