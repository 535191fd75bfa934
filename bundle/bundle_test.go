package bundle_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"bulwark.dev/bulwark/bundle"
	"bulwark.dev/bulwark/bundle/internal/bundletest"
	"bulwark.dev/bulwark/internal/exitcode"
)

// TestRoundTrip: what Assemble writes, ReadDir reads back file for file, index and all.
func TestRoundTrip(t *testing.T) {
	b := bundletest.Bundle(t, "1.2.0", bundletest.DemoFiles(4, "x"))
	dir := filepath.Join(t.TempDir(), "out")
	if err := b.WriteDir(dir, false); err != nil {
		t.Fatal(err)
	}
	got, err := bundle.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Files) != len(b.Files) {
		t.Fatalf("read %d files, wrote %d", len(got.Files), len(b.Files))
	}
	for p, data := range b.Files {
		if !bytes.Equal(got.Files[p], data) {
			t.Errorf("%s changed in the round trip", p)
		}
	}
	if got.Index.Spec.Version != "1.2.0" || len(got.Index.Spec.Objects) != 4 {
		t.Errorf("index read back as %+v", got.Index.Spec)
	}
	want, _ := bundle.Kustomization(b.ManifestPaths())
	if !bytes.Equal(got.Files[bundle.KustomizeFile], want) {
		t.Errorf("kustomization.yaml is not the one the index implies:\n%s", got.Files[bundle.KustomizeFile])
	}
}

// TestKustomizationIsPartOfTheFormat: a kustomization that says more than the index (a
// patch turning every policy to Audit, another resource) or is missing is refused.
func TestKustomizationIsPartOfTheFormat(t *testing.T) {
	b := bundletest.Bundle(t, "1.0.0", bundletest.DemoFiles(2, "x"))
	orig := string(b.Files[bundle.KustomizeFile])
	cases := map[string]func(files map[string][]byte){
		"a patch appended": func(f map[string][]byte) {
			f[bundle.KustomizeFile] = []byte(orig + "patches:\n- patch: '[{\"op\":\"replace\",\"path\":\"/spec/validationActions\",\"value\":[\"Audit\"]}]'\n  target: {kind: ValidatingPolicy}\n")
		},
		"an extra resource": func(f map[string][]byte) {
			f[bundle.KustomizeFile] = []byte(strings.Replace(orig, "resources:\n", "resources:\n- https://example.com/more.yaml\n", 1))
		},
		"a resource dropped": func(f map[string][]byte) {
			f[bundle.KustomizeFile] = []byte(orig[:strings.LastIndex(strings.TrimRight(orig, "\n"), "\n")+1])
		},
		"missing": func(f map[string][]byte) { delete(f, bundle.KustomizeFile) },
	}
	for name, edit := range cases {
		t.Run(name, func(t *testing.T) {
			files := map[string][]byte{}
			for p, d := range b.Files {
				files[p] = d
			}
			edit(files)
			if _, err := bundle.FromFiles(files); err == nil || !strings.Contains(err.Error(), bundle.KustomizeFile) {
				t.Errorf("FromFiles = %v, want a refusal naming %s", err, bundle.KustomizeFile)
			}
		})
	}
	if _, err := bundle.FromFiles(b.Files); err != nil {
		t.Errorf("the unedited bundle is refused: %v", err)
	}
}

func TestAssembleRefusesBadPaths(t *testing.T) {
	for _, p := range []string{"../escape.yaml", "/abs.yaml", bundle.IndexFile, bundle.KustomizeFile, "a//b.yaml"} {
		if _, err := bundle.Assemble(bundle.Header{Profile: "p", Version: "1.0.0"}, []bundle.Object{{Path: p, Data: []byte("x: 1\n"), Kind: "ConfigMap", Name: "x"}}); err == nil {
			t.Errorf("Assemble accepted path %q", p)
		}
	}
	two := []bundle.Object{{Path: "a/x.yaml", Data: []byte("a: 1\n")}, {Path: "a/x.yaml", Data: []byte("a: 2\n")}}
	if _, err := bundle.Assemble(bundle.Header{Profile: "p", Version: "1.0.0"}, two); err == nil {
		t.Error("Assemble accepted two objects at one path")
	}
}

// TestIndexClaimsWhatItsObjectsRealise: a bundle whose object realises a control the index's
// controls omit, or whose index lists a control as both realised and not, is refused when
// assembled and when read.
func TestIndexClaimsWhatItsObjectsRealise(t *testing.T) {
	obj := []bundle.Object{{Path: "network/a/networkpolicy-x.yaml", Data: []byte("kind: NetworkPolicy\n"), Kind: "NetworkPolicy", Name: "x", Controls: []string{"NET-01"}}}
	if _, err := bundle.Assemble(bundle.Header{Profile: "p", Version: "1.0.0"}, obj); err == nil || !strings.Contains(err.Error(), "NET-01") {
		t.Errorf("Assemble accepted an object realising an unlisted control: %v", err)
	}
	both := bundle.Header{Profile: "p", Version: "1.0.0", Controls: []bundle.IndexControl{{ID: "NET-01"}},
		NotRealised: []bundle.NotRealisedControl{{ID: "NET-01", Reason: "r"}}}
	if _, err := bundle.Assemble(both, obj); err == nil {
		t.Error("Assemble accepted a control both realised and not")
	}
	ok := bundle.Header{Profile: "p", Version: "1.0.0", Controls: []bundle.IndexControl{{ID: "NET-01"}}}
	b, err := bundle.Assemble(ok, obj)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for k, v := range b.Files {
		files[k] = v
	}
	files[bundle.IndexFile] = []byte(strings.Replace(string(files[bundle.IndexFile]), "  - id: NET-01\n", "  - id: POD-03\n", 1))
	if _, err := bundle.FromFiles(files); err == nil || !strings.Contains(err.Error(), "NET-01") {
		t.Errorf("a read index omitting a realised control was accepted: %v\n%s", err, files[bundle.IndexFile])
	}
}

// TestReadDirRefuses: a tree that is not exactly what its index lists is refused, with the
// reason, whichever file is wrong and however the index is decoded (canonical or not).
func TestReadDirRefuses(t *testing.T) {
	b := bundletest.Bundle(t, "1.0.0", bundletest.DemoFiles(3, "x"))
	var victim string
	for _, p := range b.ManifestPaths() {
		victim = p
		break
	}
	cases := []struct {
		name string
		edit func(t *testing.T, dir string)
		want string
	}{
		{"no index", func(t *testing.T, dir string) { rm(t, dir, bundle.IndexFile) }, "not a bulwark bundle"},
		{"a listed file missing", func(t *testing.T, dir string) { rm(t, dir, victim) }, "which is missing"},
		{"a file changed", func(t *testing.T, dir string) { write(t, dir, victim, "kind: ConfigMap\n") }, "does not match the index"},
		{"a file slipped in", func(t *testing.T, dir string) { write(t, dir, "extra.yaml", "kind: ConfigMap\n") }, "extra.yaml is not listed"},
		{"an unknown index field", func(t *testing.T, dir string) {
			write(t, dir, bundle.IndexFile, strings.Replace(string(b.Files[bundle.IndexFile]), "spec:\n", "spec:\n  extra: 1\n", 1))
		}, `unknown field "extra"`},
		{"an index in another YAML form", func(t *testing.T, dir string) {
			write(t, dir, bundle.IndexFile, strings.Replace(string(b.Files[bundle.IndexFile]), "kind: BundleIndex", `kind: "OtherIndex"`, 1))
		}, "apiVersion/kind is bulwark.dev/v1alpha1/OtherIndex"},
		{"a symlink", func(t *testing.T, dir string) {
			if err := os.Symlink(bundle.KustomizeFile, filepath.Join(dir, "link.yaml")); err != nil {
				t.Fatal(err)
			}
		}, "only regular files"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out")
			if err := b.WriteDir(dir, false); err != nil {
				t.Fatal(err)
			}
			tc.edit(t, dir)
			_, err := bundle.ReadDir(dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ReadDir: %v, want an error saying %q", err, tc.want)
			}
			if exitcode.Of(err, 0) != exitcode.BadInput {
				t.Errorf("exit code %d, want %d (bad input)", exitcode.Of(err, 0), exitcode.BadInput)
			}
		})
	}
}

func rm(t *testing.T, dir, rel string) {
	t.Helper()
	if err := os.Remove(filepath.Join(dir, filepath.FromSlash(rel))); err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, dir, rel, data string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(rel)), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestFromFilesIndexChecksWhatItHolds: an index decoded in the background from other bytes
// than the files' own index is not trusted: the files' index is decoded and checked.
func TestFromFilesIndexChecksWhatItHolds(t *testing.T) {
	b := bundletest.Bundle(t, "1.0.0", bundletest.DemoFiles(2, "x"))
	other := bundletest.Bundle(t, "2.0.0", bundletest.DemoFiles(2, "y"))
	files := map[string][]byte{}
	for p, d := range b.Files {
		files[p] = d
	}
	got, err := bundle.FromFilesIndex(files, bundle.DecodeIndexAsync(other.Files[bundle.IndexFile]))
	if err != nil || got.Index.Spec.Version != "1.0.0" {
		t.Fatalf("FromFilesIndex: version %v, %v; want the files' own index (1.0.0)", got, err)
	}
	files[bundle.IndexFile] = other.Files[bundle.IndexFile]
	if _, err := bundle.FromFilesIndex(files, bundle.DecodeIndexAsync(other.Files[bundle.IndexFile])); err == nil || !strings.Contains(err.Error(), "does not match the index") {
		t.Fatalf("files under another bundle's index: %v, want a digest mismatch", err)
	}
}
