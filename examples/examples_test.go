package examples

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"bulwark.dev/bulwark/internal/testenv"
)

// TestGitOpsManifestsAreAccepted creates the Flux and Argo CD examples, with strict field
// validation, in a real kube-apiserver holding the upstream Flux and Argo CD CRDs.
func TestGitOpsManifestsAreAccepted(t *testing.T) {
	c := testenv.StartCluster(t)
	testenv.InstallCRDs(t, c.Config, "flux", "argocd")
	client := testenv.NewClient(c.Config)
	client.Namespaces(t, "flux-system", "argocd", "bulwark-system")
	files, _ := filepath.Glob(filepath.Join("gitops", "*.yaml"))
	if len(files) < 2 {
		t.Fatalf("found %d GitOps examples", len(files))
	}
	kinds := map[string]bool{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		objs, err := testenv.DecodeYAML(data)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			if err := client.CreateStrict(context.Background(), o); err != nil {
				t.Errorf("%s: %s %s refused: %v", f, o.GetKind(), o.GetName(), err)
			}
			kinds[o.GetKind()] = true
		}
	}
	for _, k := range []string{"OCIRepository", "Kustomization", "Application", "CronJob"} {
		if !kinds[k] {
			t.Errorf("no %s example", k)
		}
	}
}
