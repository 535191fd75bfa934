// Package crds embeds the pinned upstream CustomResourceDefinitions that tests install into
// a real kube-apiserver: Kyverno's policies.kyverno.io, Istio's PeerAuthentication,
// cert-manager's issuers and certificates, Flux's OCIRepository and Kustomization, and
// Argo CD's Application. tools/crds/sync.sh copies them from the upstream
// modules.
package crds

//go:generate ../../tools/crds/sync.sh

import (
	"embed"
	"io/fs"
	"sort"
)

//go:embed kyverno/*.yaml istio/*.yaml certmanager/*.yaml flux/*.yaml argocd/*.yaml
var files embed.FS

// Groups are the CRD sets by directory.
var Groups = []string{"kyverno", "istio", "certmanager", "flux", "argocd"}

// Files returns the CRD files of the named groups (all when none is named), sorted.
func Files(groups ...string) (map[string][]byte, error) {
	if len(groups) == 0 {
		groups = Groups
	}
	out := map[string][]byte{}
	for _, g := range groups {
		names, err := fs.Glob(files, g+"/*.yaml")
		if err != nil {
			return nil, err
		}
		sort.Strings(names)
		for _, n := range names {
			data, err := files.ReadFile(n)
			if err != nil {
				return nil, err
			}
			out[n] = data
		}
	}
	return out, nil
}
