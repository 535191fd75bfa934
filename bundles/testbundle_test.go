package bundles

import (
	"fmt"
	"sort"
	"testing"

	"sigs.k8s.io/yaml"
)

// testBundle builds a small bundle by hand, so these tests need no generator.
func testBundle(t testing.TB, version string, files map[string]string) *Bundle {
	t.Helper()
	b := &Bundle{Files: map[string][]byte{}}
	idx := Index{APIVersion: IndexAPIVersion, Kind: IndexKind, Metadata: IndexMeta{Name: "demo"}, Spec: IndexSpec{
		Profile: "demo", Version: version, Framework: "soc2", Catalogue: "1.0.0",
		Controls: []IndexControl{{ID: "NET-01", TSC: []string{"CC6.6"}}, {ID: "POD-03", TSC: []string{"CC6.1"}}},
	}}
	var paths []string
	for p, data := range files {
		b.Files[p] = []byte(data)
		paths = append(paths, p)
	}
	for p, data := range b.Files {
		idx.Spec.Objects = append(idx.Spec.Objects, IndexObject{File: p, APIVersion: "v1", Kind: "ConfigMap", Name: p, Controls: []string{"NET-01"}, TSC: []string{"CC6.6"}, SHA256: SHA256(data)})
	}
	sort.Slice(idx.Spec.Objects, func(i, j int) bool { return idx.Spec.Objects[i].File < idx.Spec.Objects[j].File })
	sort.Strings(paths)
	b.Index = idx
	raw, err := yaml.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	b.Files[IndexFile] = raw
	b.Files[KustomizeFile] = []byte(fmt.Sprintf("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: %q\n", paths))
	return b
}

func demoFiles(n int, extra string) map[string]string {
	files := map[string]string{}
	for i := 0; i < n; i++ {
		files[fmt.Sprintf("network/ns-%02d/networkpolicy-deny.yaml", i)] = fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%d\n  labels:\n    bulwark.dev/version: 1.0.0\ndata: {x: %q}\n", i, extra)
	}
	return files
}
