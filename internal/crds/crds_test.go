package crds

import (
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestFilesHoldTheKindsTestsInstall checks each group still carries the CRDs other
// packages' tests rely on after a sync, and that every file is one CustomResourceDefinition
// of its group's API groups.
func TestFilesHoldTheKindsTestsInstall(t *testing.T) {
	tests := []struct {
		group     string
		apiGroups []string
		want      []string
	}{
		{"kyverno", []string{"policies.kyverno.io"}, []string{"validatingpolicies.policies.kyverno.io", "mutatingpolicies.policies.kyverno.io", "generatingpolicies.policies.kyverno.io", "imagevalidatingpolicies.policies.kyverno.io", "policyexceptions.policies.kyverno.io"}},
		{"istio", []string{"security.istio.io"}, []string{"peerauthentications.security.istio.io", "authorizationpolicies.security.istio.io", "requestauthentications.security.istio.io"}},
		{"certmanager", []string{"cert-manager.io"}, []string{"certificates.cert-manager.io", "certificaterequests.cert-manager.io", "clusterissuers.cert-manager.io", "issuers.cert-manager.io"}},
		{"flux", []string{"source.toolkit.fluxcd.io", "kustomize.toolkit.fluxcd.io"}, []string{"ocirepositories.source.toolkit.fluxcd.io", "gitrepositories.source.toolkit.fluxcd.io", "buckets.source.toolkit.fluxcd.io", "helmrepositories.source.toolkit.fluxcd.io", "helmcharts.source.toolkit.fluxcd.io", "kustomizations.kustomize.toolkit.fluxcd.io"}},
		{"argocd", []string{"argoproj.io"}, []string{"applications.argoproj.io"}},
	}
	for _, tt := range tests {
		t.Run(tt.group, func(t *testing.T) {
			files, err := Files(tt.group)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]bool{}
			for name, data := range files {
				if !strings.HasPrefix(name, tt.group+"/") {
					t.Errorf("%s returned from group %s", name, tt.group)
				}
				var crd struct {
					Kind     string `json:"kind"`
					Metadata struct {
						Name string `json:"name"`
					} `json:"metadata"`
					Spec struct {
						Group string `json:"group"`
					} `json:"spec"`
				}
				if err := yaml.Unmarshal(data, &crd); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if crd.Kind != "CustomResourceDefinition" || !slices.Contains(tt.apiGroups, crd.Spec.Group) {
					t.Errorf("%s: kind %q group %q, want a CustomResourceDefinition of %v", name, crd.Kind, crd.Spec.Group, tt.apiGroups)
				}
				got[crd.Metadata.Name] = true
			}
			for _, w := range tt.want {
				if !got[w] {
					t.Errorf("group %s lacks %s", tt.group, w)
				}
			}
		})
	}
}

func TestFilesRefusesUnknownGroup(t *testing.T) {
	if _, err := Files("kyverno", "kyvreno"); err == nil {
		t.Fatal("a misspelt group was accepted")
	}
	all, err := Files()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	for _, g := range Groups {
		files, _ := Files(g)
		n += len(files)
	}
	if len(all) != n {
		t.Fatalf("Files() returned %d files, the groups hold %d", len(all), n)
	}
}
