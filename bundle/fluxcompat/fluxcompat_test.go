// Package fluxcompat checks Bulwark's artifacts with Flux's own OCI client.
package fluxcompat

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	fluxoci "github.com/fluxcd/pkg/oci"

	"bulwark.dev/bulwark/bundle/oci"
	"bulwark.dev/bulwark/internal/testenv"
	"bulwark.dev/bulwark/pipeline"
)

// TestFluxPullsTheSameTree pushes the payments bundle to a real registry and pulls it with
// github.com/fluxcd/pkg/oci, the library Flux's CLI and source-controller use: the files
// Flux extracts must be byte-for-byte the bundle's.
func TestFluxPullsTheSameTree(t *testing.T) {
	b, err := pipeline.BuildFile(filepath.Join("..", "..", "examples", "payments.yaml"), nil, "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	reg := testenv.StartRegistry(t, testenv.RegistryOptions{})
	ref := reg.Ref("policies/payments:1.0.0")
	pushed, err := registryClient(t).Push(context.Background(), b, ref, oci.PushOptions{})
	if err != nil {
		t.Fatal(err)
	}

	out := t.TempDir()
	c := fluxoci.NewClient(fluxoci.DefaultOptions())
	meta, err := c.Pull(context.Background(), ref, out)
	if err != nil {
		t.Fatalf("Flux's client cannot pull the bundle: %v", err)
	}
	if meta.Digest != pushed.String() {
		t.Errorf("Flux reports %s, pushed %s", meta.Digest, pushed)
	}
	count := 0
	err = filepath.Walk(out, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(out, path)
		want, ok := b.Files[filepath.ToSlash(rel)]
		if !ok {
			t.Errorf("Flux extracted %s, which is not in the bundle", rel)
			return nil
		}
		got, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if string(got) != string(want) {
			t.Errorf("%s differs after Flux's extraction", rel)
		}
		count++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if count != len(b.Files) {
		t.Errorf("Flux extracted %d files, the bundle has %d", count, len(b.Files))
	}
	if meta.Annotations[oci.AnnotationProfile] != "payments-soc2" {
		t.Errorf("Flux sees annotations %v", meta.Annotations)
	}
}

// registryClient is a registry client with the default options.
func registryClient(t testing.TB) *oci.Client {
	t.Helper()
	c, err := oci.New()
	if err != nil {
		t.Fatal(err)
	}
	return c
}
