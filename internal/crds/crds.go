package crds

//go:generate ../../tools/crds/sync.sh

import (
	"embed"
	"fmt"
	"io/fs"
	"slices"
)

//go:embed kyverno/*.yaml istio/*.yaml certmanager/*.yaml flux/*.yaml argocd/*.yaml
var files embed.FS

// Groups are the CRD sets, one directory each: kyverno (policies.kyverno.io), istio
// (security.istio.io), certmanager (cert-manager.io), flux (source.toolkit.fluxcd.io and
// kustomize.toolkit.fluxcd.io) and argocd (argoproj.io Application).
var Groups = []string{"kyverno", "istio", "certmanager", "flux", "argocd"}

// Files returns the CRD files of the named groups (every group when none is named), keyed
// by "group/file.yaml". An unknown group is an error rather than an empty set, so a typo
// cannot leave a test running without the kinds it meant to install.
func Files(groups ...string) (map[string][]byte, error) {
	if len(groups) == 0 {
		groups = Groups
	}
	out := map[string][]byte{}
	for _, g := range groups {
		if !slices.Contains(Groups, g) {
			return nil, fmt.Errorf("unknown CRD group %q (known: %v)", g, Groups)
		}
		names, err := fs.Glob(files, g+"/*.yaml")
		if err != nil {
			return nil, fmt.Errorf("listing CRD group %s: %w", g, err)
		}
		for _, n := range names {
			data, err := files.ReadFile(n)
			if err != nil {
				return nil, fmt.Errorf("reading CRD file %s: %w", n, err)
			}
			out[n] = data
		}
	}
	return out, nil
}
