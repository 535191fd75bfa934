package generators

import (
	"encoding/json"
	"reflect"
	"testing"

	yaml3 "go.yaml.in/yaml/v3"
	"sigs.k8s.io/yaml"

	"bulwark.dev/bulwark/generators/generated"
)

// TestEveryFileReadsBackAsItsObject holds the bundle's YAML form to what consumers parse:
// every file of every example bundle (objects, index, kustomization), read by yaml.v2 as
// Kyverno, Flux and kubectl do and by yaml.v3 as kustomize does, is exactly the JSON of the
// typed object it was written from (status and the null creationTimestamp left out).
func TestEveryFileReadsBackAsItsObject(t *testing.T) {
	for _, name := range []string{"saas-starter", "payments", "brownfield-audit"} {
		p, cat := loadExample(t, name)
		objs, err := Objects(p, cat, "1.4.0")
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			raw, err := json.Marshal(o.Object)
			if err != nil {
				t.Fatal(err)
			}
			var want map[string]any
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatal(err)
			}
			delete(want, "status")
			if md, ok := want["metadata"].(map[string]any); ok && md["creationTimestamp"] == nil {
				delete(md, "creationTimestamp")
			}
			data, err := generated.Marshal(o.Object)
			if err != nil {
				t.Fatal(err)
			}
			checkReadsBack(t, name+" "+o.Object.GetName(), data, want)
		}
		b, err := Build(p, cat, "1.4.0")
		if err != nil {
			t.Fatal(err)
		}
		for f, v := range map[string]any{
			"bulwark.yaml":       b.Index,
			"kustomization.yaml": map[string]any{"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": b.ManifestPaths()},
		} {
			raw, _ := json.Marshal(v)
			var want map[string]any
			_ = json.Unmarshal(raw, &want)
			checkReadsBack(t, name+" "+f, b.Files[f], want)
		}
	}
}

func checkReadsBack(t *testing.T, what string, data []byte, want map[string]any) {
	t.Helper()
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		t.Fatalf("%s: yaml.v2: %v", what, err)
	}
	var v2 map[string]any
	if err := json.Unmarshal(js, &v2); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(v2, want) {
		t.Errorf("%s: yaml.v2 reads\n%s\nas %v, want %v", what, data, v2, want)
	}
	var v3 map[string]any
	if err := yaml3.Unmarshal(data, &v3); err != nil {
		t.Fatalf("%s: yaml.v3: %v", what, err)
	}
	// Through JSON, so that yaml.v3's ints compare with encoding/json's float64s.
	js3, err := json.Marshal(v3)
	if err != nil {
		t.Fatal(err)
	}
	var n3 map[string]any
	_ = json.Unmarshal(js3, &n3)
	if !reflect.DeepEqual(n3, want) {
		t.Errorf("%s: yaml.v3 reads\n%s\nas %v, want %v", what, data, n3, want)
	}
}
