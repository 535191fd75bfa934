package gitops

import (
	"fmt"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"bulwark.dev/bulwark/bundle/oci"
)

// LayerMediaType is the media type of the bundle's single content layer.
const LayerMediaType = "application/vnd.oci.image.layer.v1.tar+gzip"

// Options say how a cluster should sync a bundle.
type Options struct {
	// Ref is the bundle reference: oci://REG/REPO:TAG, REG/REPO@sha256:..., or a repository
	// with Semver set.
	Ref string
	// Name of the generated objects. Defaults to the repository's last path element.
	Name string
	// Namespace of the GitOps objects. Defaults to flux-system / argocd.
	Namespace string
	// Semver is a semver range (e.g. ">=1.0.0 <2.0.0") to follow instead of a fixed tag.
	Semver string
	// Interval is how often Flux checks the registry. Defaults to 5m.
	Interval time.Duration
	// VerifySecret names a Secret holding cosign public keys (keys ending .pub); when set,
	// Flux refuses artifacts not signed by one of them.
	VerifySecret string
	// VerifyKey is a PEM public key; with it, Flux renders that Secret too.
	VerifyKey []byte
	// PullSecret names a docker-registry Secret for private registries.
	PullSecret string
	// Insecure allows plain HTTP registries.
	Insecure bool
	// HealthChecks lets Kustomization wait for the policy engine to accept the policies.
	HealthChecks []ObjectRef
}

// ObjectRef names an object for health checks.
type ObjectRef struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	Namespace  string `json:"namespace,omitempty"`
}

// source is the parsed reference.
type source struct {
	url, tag, digest string // url is oci://REG/REPO
	repoName         string
}

func parseRef(ref, semver string) (source, error) {
	var s source
	if err := oci.CheckReference(ref); err != nil {
		return s, err
	}
	r := strings.TrimPrefix(ref, "oci://")
	if semver != "" {
		repo, err := name.NewRepository(r)
		if err != nil {
			return s, fmt.Errorf("bundle repository %q: %w", ref, err)
		}
		s.url = "oci://" + repo.Name()
		s.repoName = repo.RepositoryStr()
		return s, nil
	}
	parsed, err := name.ParseReference(r)
	if err != nil {
		return s, fmt.Errorf("bundle reference %q: %w", ref, err)
	}
	repo := parsed.Context()
	s.url = "oci://" + repo.Name()
	s.repoName = repo.RepositoryStr()
	switch v := parsed.(type) {
	case name.Digest:
		s.digest = v.DigestStr()
	case name.Tag:
		if !strings.Contains(r, ":"+v.TagStr()) {
			return s, fmt.Errorf("bundle reference %q names no tag or digest: pin a version (REPO:1.4.0), a digest, or use --semver", ref)
		}
		s.tag = v.TagStr()
	}
	return s, nil
}

func defaultName(s source, n string) string {
	if n != "" {
		return n
	}
	parts := strings.Split(s.repoName, "/")
	return parts[len(parts)-1]
}

func duration(d, def time.Duration) metav1.Duration {
	if d == 0 {
		d = def
	}
	return metav1.Duration{Duration: d}
}
