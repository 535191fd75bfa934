package golden

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"bulwark.dev/bulwark/catalogue"
	"bulwark.dev/bulwark/generators/generated"
	"bulwark.dev/bulwark/profile"
)

var update = flag.Bool("update", false, "rewrite golden files")

// Examples loads the shipped example profiles by name, validated against known controls.
func Examples(t *testing.T, known map[string]bool) map[string]*profile.Profile {
	t.Helper()
	out := map[string]*profile.Profile{}
	for _, name := range []string{"saas-starter", "payments", "brownfield-audit"} {
		p, err := profile.Load(filepath.Join("..", "..", "examples", name+".yaml"), profile.LoadOptions{KnownControls: known})
		if err != nil {
			t.Fatalf("loading example %s: %v", name, err)
		}
		out[name] = p
	}
	return out
}

// Check renders objs as one YAML stream in a stable order and compares it with
// testdata/NAME.golden.yaml.
func Check(t *testing.T, name string, objs []generated.Object) {
	t.Helper()
	type doc struct {
		key  string
		data []byte
	}
	var docs []doc
	for _, o := range objs {
		data, err := generated.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		gvk := o.Object.GetObjectKind().GroupVersionKind()
		docs = append(docs, doc{gvk.Kind + "/" + o.Object.GetNamespace() + "/" + o.Object.GetName(), data})
	}
	sort.Slice(docs, func(i, j int) bool { return docs[i].key < docs[j].key })
	var buf bytes.Buffer
	for i, d := range docs {
		if i > 0 {
			buf.WriteString("---\n")
		}
		buf.Write(d.data)
	}
	path := filepath.Join("testdata", name+".golden.yaml")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(want, buf.Bytes()) {
		t.Errorf("%s differs from the generated objects; review the change and run go test -update", path)
	}
}

// Run checks a generator's output for every shipped example against its golden file.
func Run(t *testing.T, generate func(*profile.Profile, *catalogue.Catalogue) ([]generated.Object, error)) {
	t.Helper()
	cat, err := catalogue.Load()
	if err != nil {
		t.Fatal(err)
	}
	for name, p := range Examples(t, cat.IDSet()) {
		t.Run(name, func(t *testing.T) {
			objs, err := generate(p, cat)
			if err != nil {
				t.Fatal(err)
			}
			Check(t, name, objs)
		})
	}
}
