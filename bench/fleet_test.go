// Package bench holds the fleet-size benchmarks: a profile naming 1,000 namespaces (about
// 4,000 objects, 8.5 MB of YAML) through each path a command takes. `make bench` runs them
// and times the same paths as whole processes beside tar, flux and kubectl.
package bench

import (
	"bytes"
	"path/filepath"
	"testing"

	"bulwark.dev/bulwark/bundle"
	"bulwark.dev/bulwark/bundle/oci"
	"bulwark.dev/bulwark/internal/fleet"
	"bulwark.dev/bulwark/pipeline"
)

func fleetBundle(b *testing.B) *bundle.Bundle {
	b.Helper()
	bun, err := pipeline.BuildBytes("big.yaml", fleet.Profile(1000), "1.0.0")
	if err != nil {
		b.Fatal(err)
	}
	return bun
}

func treeBytes(bun *bundle.Bundle) int64 {
	var n int64
	for _, f := range bun.Files {
		n += int64(len(f))
	}
	return n
}

// BenchmarkFleetBuild is `bulwark build` without the write: load, generate, assemble.
func BenchmarkFleetBuild(b *testing.B) {
	profile := fleet.Profile(1000)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		bun, err := pipeline.BuildBytes("big.yaml", profile, "1.0.0")
		if err != nil {
			b.Fatal(err)
		}
		if len(bun.Index.Spec.Objects) < 4000 {
			b.Fatalf("%d objects", len(bun.Index.Spec.Objects))
		}
		b.SetBytes(treeBytes(bun))
	}
}

// BenchmarkFleetPack is the tarball and its digest, from a bundle in memory.
func BenchmarkFleetPack(b *testing.B) {
	bun := fleetBundle(b)
	b.SetBytes(treeBytes(bun))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := oci.Digest(bun, oci.PackOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFleetDigestFromDir is `bulwark digest --from DIR`: read, check and pack the tree.
func BenchmarkFleetDigestFromDir(b *testing.B) {
	bun := fleetBundle(b)
	dir := filepath.Join(b.TempDir(), "tree")
	if err := bun.WriteDir(dir, false); err != nil {
		b.Fatal(err)
	}
	want, err := oci.Digest(bun, oci.PackOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(treeBytes(bun))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p, err := oci.PackDir(dir, oci.PackOptions{})
		if err != nil {
			b.Fatal(err)
		}
		d, err := p.Image.Digest()
		if err != nil {
			b.Fatal(err)
		}
		if d != want {
			b.Fatalf("digest from the directory %s, in memory %s", d, want)
		}
	}
}

// BenchmarkFleetUnpack is what pull does with the layer: inflate, untar, check the index.
func BenchmarkFleetUnpack(b *testing.B) {
	tgz, err := oci.Tarball(fleetBundle(b))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(tgz)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		files, err := oci.Unpack(bytes.NewReader(tgz), oci.DefaultLimits())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := bundle.FromFiles(files); err != nil {
			b.Fatal(err)
		}
	}
}
