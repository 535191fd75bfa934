package argocdcompat

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"bulwark.dev/bulwark/pipeline"
)

// TestKustomizeRendersEveryExample: the kustomize CLI Argo CD runs (v5.8.3) — and `kubectl
// apply -k`, which embeds the same kustomize — renders every shipped example's bundle as
// exactly the bundle's objects: the kustomization.yaml Bulwark writes names every manifest
// and nothing else (not the bulwark.yaml index).
func TestKustomizeRendersEveryExample(t *testing.T) {
	kustomizeOnPath(t)
	for _, example := range []string{"payments", "saas-starter", "brownfield-audit"} {
		t.Run(example, func(t *testing.T) {
			b, err := pipeline.BuildFile(filepath.Join("..", "..", "examples", example+".yaml"), nil, "1.0.0")
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(t.TempDir(), "bundle")
			if err := b.WriteDir(dir, false); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("kustomize", "build", dir).Output()
			if err != nil {
				msg := ""
				if ee, ok := err.(*exec.ExitError); ok {
					msg = string(ee.Stderr)
				}
				t.Fatalf("kustomize build: %v\n%s", err, msg)
			}
			var rendered []map[string]any
			for i, doc := range strings.Split(string(out), "\n---\n") {
				j, err := yaml.YAMLToJSON([]byte(doc))
				if err != nil {
					t.Fatalf("document %d: %v", i, err)
				}
				var o map[string]any
				if err := json.Unmarshal(j, &o); err != nil {
					t.Fatalf("document %d: %v", i, err)
				}
				if o != nil {
					rendered = append(rendered, o)
				}
			}
			want := bundleObjects(t, b)
			sameObjects(t, "kustomize", rendered, want)
			t.Logf("kustomize rendered %d objects, the bundle's %d", len(rendered), len(want))
		})
	}
}
