package oci

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"bulwark.dev/bulwark/bundle"
	"bulwark.dev/bulwark/bundle/internal/bundletest"
	"bulwark.dev/bulwark/internal/exitcode"
)

// packed is every byte a registry would receive for a bundle.
type packed struct {
	manifest, config, layer []byte
	digest                  v1.Hash
}

var (
	time0 = time.Unix(0, 0)
	time1 = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
)

func packBytes(t testing.TB, b *bundle.Bundle, opts PackOptions) packed {
	t.Helper()
	img, err := Pack(b, opts)
	if err != nil {
		t.Fatal(err)
	}
	return packedBytes(t, img)
}

func packedBytes(t testing.TB, img v1.Image) packed {
	t.Helper()
	var p packed
	var err error
	if p.manifest, err = img.RawManifest(); err != nil {
		t.Fatal(err)
	}
	if p.config, err = img.RawConfigFile(); err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers %d, %v", len(layers), err)
	}
	rc, err := layers[0].Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if p.layer, err = io.ReadAll(rc); err != nil {
		t.Fatal(err)
	}
	if p.digest, err = img.Digest(); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPackIsByteIdentical packs the same bundle built in different ways: each must give
// the same manifest, config and layer bytes as the first.
func TestPackIsByteIdentical(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "")
	want := packBytes(t, bundletest.Bundle(t, "1.0.0", bundletest.DemoFiles(20, "x")), PackOptions{})

	cases := []struct {
		name  string
		build func(t *testing.T) *bundle.Bundle
	}{
		{"fresh maps", func(t *testing.T) *bundle.Bundle { return bundletest.Bundle(t, "1.0.0", bundletest.DemoFiles(20, "x")) }},
		{"files inserted in reverse order", func(t *testing.T) *bundle.Bundle {
			b := bundletest.Bundle(t, "1.0.0", bundletest.DemoFiles(20, "x"))
			paths := b.Paths()
			files := make(map[string][]byte, len(paths))
			for i := len(paths) - 1; i >= 0; i-- {
				files[paths[i]] = append([]byte(nil), b.Files[paths[i]]...)
			}
			b.Files = files
			return b
		}},
		{"through disk with other modes and times", func(t *testing.T) *bundle.Bundle {
			dir := filepath.Join(t.TempDir(), "b")
			if err := bundletest.Bundle(t, "1.0.0", bundletest.DemoFiles(20, "x")).WriteDir(dir, false); err != nil {
				t.Fatal(err)
			}
			i := 0
			err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
				if err != nil || p == dir {
					return err
				}
				i++
				mode := os.FileMode(0o600)
				if info.IsDir() {
					mode = 0o700
				} else if i%2 == 0 {
					mode = 0o755
				}
				if err := os.Chmod(p, mode); err != nil {
					return err
				}
				return os.Chtimes(p, time1.Add(time.Duration(i)*time.Hour), time1)
			})
			if err != nil {
				t.Fatal(err)
			}
			b, err := bundle.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := packBytes(t, tc.build(t), PackOptions{})
			if !bytes.Equal(got.layer, want.layer) {
				t.Errorf("layer bytes differ (%d vs %d bytes)", len(got.layer), len(want.layer))
			}
			if !bytes.Equal(got.config, want.config) {
				t.Errorf("config %s, want %s", got.config, want.config)
			}
			if !bytes.Equal(got.manifest, want.manifest) {
				t.Errorf("manifest\n%s\nwant\n%s", got.manifest, want.manifest)
			}
			if got.digest != want.digest {
				t.Errorf("digest %s, want %s", got.digest, want.digest)
			}
		})
	}
}

// TestPackCreated pins org.opencontainers.image.created: never the current time, only
// the epoch, SOURCE_DATE_EPOCH or an explicit time, and only the manifest changes.
func TestPackCreated(t *testing.T) {
	b := bundletest.Bundle(t, "1.0.0", bundletest.DemoFiles(3, "x"))
	cases := []struct {
		name, env string
		created   time.Time
		want      string
		wantCode  int
	}{
		{name: "default is the epoch", want: "1970-01-01T00:00:00Z"},
		{name: "SOURCE_DATE_EPOCH", env: "1700000000", want: "2023-11-14T22:13:20Z"},
		{name: "explicit time wins", env: "1700000000", created: time1, want: "2024-05-06T07:08:09Z"},
		{name: "bad SOURCE_DATE_EPOCH", env: "yesterday", wantCode: exitcode.BadInput},
	}
	t.Setenv("SOURCE_DATE_EPOCH", "")
	base := packBytes(t, b, PackOptions{})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("SOURCE_DATE_EPOCH", tc.env)
			img, err := Pack(b, PackOptions{Created: tc.created})
			if tc.wantCode != 0 {
				if exitcode.Of(err, 0) != tc.wantCode {
					t.Fatalf("error %v, want exit %d", err, tc.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			m, err := img.Manifest()
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Annotations[AnnotationCreated]; got != tc.want {
				t.Errorf("created %q, want %q", got, tc.want)
			}
			if m.Layers[0].Digest != mustManifest(t, base.manifest).Layers[0].Digest {
				t.Error("the creation time changed the layer")
			}
		})
	}
}

func mustManifest(t testing.TB, raw []byte) *v1.Manifest {
	t.Helper()
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestArtifactShape checks the manifest against what Flux and Argo CD accept (Argo CD:
// exactly one content layer of an allowed media type, at most 10 layers) and the tarball
// and gzip header against the normalisation Tarball promises.
func TestArtifactShape(t *testing.T) {
	b := bundletest.Bundle(t, "1.2.3", bundletest.DemoFiles(3, "x"))
	p := packBytes(t, b, PackOptions{Source: "https://git.example/p", Revision: "main@sha1:abc"})
	m := mustManifest(t, p.manifest)
	if err := CheckManifest(m); err != nil {
		t.Fatal(err)
	}
	argoLayerTypes := map[string]bool{
		"application/vnd.oci.image.layer.v1.tar":              true,
		"application/vnd.oci.image.layer.v1.tar+gzip":         true,
		"application/vnd.cncf.helm.chart.content.v1.tar+gzip": true,
	}
	content := 0
	for _, l := range m.Layers {
		if argoLayerTypes[string(l.MediaType)] {
			content++
		}
	}
	if content != 1 || len(m.Layers) > 10 {
		t.Fatalf("Argo CD needs exactly one content layer and at most 10 layers: %+v", m.Layers)
	}
	if m.MediaType != "application/vnd.oci.image.manifest.v1+json" || m.Config.MediaType != "application/vnd.cncf.flux.config.v1+json" {
		t.Fatalf("media types: manifest %s config %s", m.MediaType, m.Config.MediaType)
	}
	if string(p.config) != "{}" {
		t.Errorf("config %q, want {}", p.config)
	}
	for k, want := range map[string]string{
		AnnotationVersion: "1.2.3", AnnotationCreated: "1970-01-01T00:00:00Z", AnnotationProfile: "demo", AnnotationTitle: "demo",
		AnnotationFramework: "soc2", AnnotationCatalogue: "1.0.0", AnnotationControls: "NET-01,POD-03",
		AnnotationSource: "https://git.example/p", AnnotationRevision: "main@sha1:abc",
	} {
		if m.Annotations[k] != want {
			t.Errorf("annotation %s = %q, want %q", k, m.Annotations[k], want)
		}
	}
	// The manifest is the canonical JSON encoding of what it says, so a registry or tool
	// re-serialising it keeps the digest.
	again, _ := json.Marshal(m)
	if !bytes.Equal(again, p.manifest) {
		t.Errorf("manifest is not in canonical form:\n%s\n%s", p.manifest, again)
	}

	gz, err := gzip.NewReader(bytes.NewReader(p.layer))
	if err != nil {
		t.Fatal(err)
	}
	if gz.Name != "" || gz.Comment != "" || !gz.ModTime.IsZero() || len(gz.Extra) != 0 {
		t.Errorf("gzip header carries a name, comment, time or extra: %+v", gz.Header)
	}
	tr := tar.NewReader(gz)
	var names []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" || !h.ModTime.Equal(time0) || !h.AccessTime.IsZero() || !h.ChangeTime.IsZero() {
			t.Errorf("%s: owner or time not normalised: %+v", h.Name, h)
		}
		if len(h.PAXRecords) != 0 {
			t.Errorf("%s: PAX records %v on a short path", h.Name, h.PAXRecords)
		}
		switch h.Typeflag {
		case tar.TypeReg:
			if h.Mode != 0o644 {
				t.Errorf("%s: mode %o, want 644", h.Name, h.Mode)
			}
		case tar.TypeDir:
			if h.Mode != 0o755 {
				t.Errorf("%s: mode %o, want 755", h.Name, h.Mode)
			}
		default:
			t.Errorf("%s: type %q in a bundle layer", h.Name, h.Typeflag)
		}
	}
	want := "bulwark.yaml kustomization.yaml network/ network/ns-00/ network/ns-00/networkpolicy-deny.yaml network/ns-01/ network/ns-01/networkpolicy-deny.yaml network/ns-02/ network/ns-02/networkpolicy-deny.yaml"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("entries\n %s\nwant\n %s", got, want)
	}
}

// TestUnpackRoundTrip: what Tarball writes, Unpack reads back exactly, including a path
// too long for a plain USTAR header.
func TestUnpackRoundTrip(t *testing.T) {
	files := bundletest.DemoFiles(5, "x")
	files["kyverno/"+strings.Repeat("long-name-", 20)+".yaml"] = "apiVersion: v1\nkind: ConfigMap\n"
	b := bundletest.Bundle(t, "1.0.0", files)
	tgz, err := Tarball(b)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Unpack(bytes.NewReader(tgz), DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(b.Files) {
		t.Fatalf("%d files back, packed %d", len(got), len(b.Files))
	}
	for p, data := range b.Files {
		if !bytes.Equal(got[p], data) {
			t.Errorf("%s differs after the round trip", p)
		}
	}
	if _, err := bundle.FromFiles(got); err != nil {
		t.Errorf("the unpacked files are not a bundle: %v", err)
	}
}

// entry is one raw tar entry for hand-built layers.
type entry struct {
	hdr  tar.Header
	body []byte
}

func reg(name string, size int) entry {
	return entry{tar.Header{Name: name, Typeflag: tar.TypeReg, Size: int64(size), Mode: 0o644}, make([]byte, size)}
}

// layerOf writes entries as a gzip'd tar, as a hostile or foreign tool might.
func layerOf(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		h := e.hdr
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// countingReader counts what Unpack consumed of a layer.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func TestUnpackRefusesHostileLayers(t *testing.T) {
	small := Limits{MaxFiles: 10, MaxFileBytes: 1 << 20, MaxTreeBytes: 4 << 20}
	// paxBomb hides megabytes in extended headers of directory entries, which carry no
	// file content: only counting inflated bytes stops it.
	paxBomb := func() []byte {
		var es []entry
		for i := 0; i < 40; i++ {
			es = append(es, entry{hdr: tar.Header{Name: "d" + strings.Repeat("x", i) + "/", Typeflag: tar.TypeDir, Mode: 0o755,
				PAXRecords: map[string]string{"comment": strings.Repeat("A", 1000<<10)}}})
		}
		return layerOf(t, es...)
	}
	manyMiB := func(n int) []entry {
		var es []entry
		for i := 0; i < n; i++ {
			es = append(es, reg("f"+strings.Repeat("x", i)+".yaml", 1<<20))
		}
		return es
	}
	var eleven []entry // one more file than small allows
	for i := 0; i < 11; i++ {
		eleven = append(eleven, reg(strings.Repeat("f", i+1)+".yaml", 1))
	}
	goodCRC := layerOf(t, reg("a.yaml", 100))
	badCRC := append([]byte(nil), goodCRC...)
	badCRC[len(badCRC)-8] ^= 0xff // the CRC-32 in the gzip trailer

	cases := []struct {
		name   string
		layer  []byte
		lim    Limits
		want   string
		bounce bool // must stop long before the end of the compressed stream
	}{
		{name: "traversal", layer: layerOf(t, reg("../etc/passwd", 1)), want: "escapes"},
		{name: "traversal inside", layer: layerOf(t, reg("kyverno/../../x.yaml", 1)), want: "escapes"},
		{name: "absolute", layer: layerOf(t, reg("/etc/passwd", 1)), want: "escapes"},
		{name: "dot segment", layer: layerOf(t, reg("a/./b.yaml", 1)), want: "escapes"},
		{name: "backslash", layer: layerOf(t, reg(`a\..\b.yaml`, 1)), want: "escapes"},
		{name: "directory traversal", layer: layerOf(t, entry{hdr: tar.Header{Name: "../d/", Typeflag: tar.TypeDir, Mode: 0o755}}), want: "escapes"},
		{name: "symlink", layer: layerOf(t, entry{hdr: tar.Header{Name: "link", Typeflag: tar.TypeSymlink, Linkname: "/etc", Mode: 0o777}}), want: "not a regular file"},
		{name: "hardlink", layer: layerOf(t, reg("bulwark.yaml", 1), entry{hdr: tar.Header{Name: "hard", Typeflag: tar.TypeLink, Linkname: "bulwark.yaml", Mode: 0o644}}), want: "not a regular file"},
		{name: "char device", layer: layerOf(t, entry{hdr: tar.Header{Name: "dev", Typeflag: tar.TypeChar, Mode: 0o644, Devmajor: 1, Devminor: 3}}), want: "not a regular file"},
		{name: "block device", layer: layerOf(t, entry{hdr: tar.Header{Name: "sda", Typeflag: tar.TypeBlock, Mode: 0o644}}), want: "not a regular file"},
		{name: "fifo", layer: layerOf(t, entry{hdr: tar.Header{Name: "pipe", Typeflag: tar.TypeFifo, Mode: 0o644}}), want: "not a regular file"},
		{name: "duplicate", layer: layerOf(t, reg("a.yaml", 1), reg("a.yaml", 1)), want: "twice"},
		{name: "duplicate through ./", layer: layerOf(t, reg("a.yaml", 1), reg("./a.yaml", 1)), want: "twice"},
		{name: "file and directory", layer: layerOf(t, reg("a", 1), reg("a/b.yaml", 1)), want: "both file and directory"},
		{name: "oversized entry", layer: layerOf(t, reg("big.yaml", 1<<20+1)), lim: small, want: "bytes (limit"},
		{name: "too many files", layer: layerOf(t, eleven...), lim: small, want: "more than 10 files"},
		{name: "total size", layer: layerOf(t, manyMiB(5)...), lim: small, want: "holds more than"},
		{name: "gzip bomb in headers", layer: paxBomb(), lim: small, want: "gzip bomb", bounce: true},
		{name: "gzip bomb in files", layer: layerOf(t, manyMiB(64)...), lim: small, want: "holds more than", bounce: true},
		{name: "truncated", layer: goodCRC[:len(goodCRC)/2], want: "unexpected EOF"},
		{name: "bad gzip checksum", layer: badCRC, want: "checksum"},
		{name: "not gzip", layer: []byte("plain text"), want: "not gzip"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := &countingReader{r: bytes.NewReader(tc.layer)}
			files, err := Unpack(in, tc.lim)
			if err == nil {
				t.Fatalf("accepted: %d files", len(files))
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if exitcode.Of(err, 0) != exitcode.BadInput {
				t.Errorf("exit %d, want %d (bad bundle)", exitcode.Of(err, 0), exitcode.BadInput)
			}
			if tc.bounce && in.n > int64(len(tc.layer))/2 {
				t.Errorf("read %d of %d compressed bytes before refusing", in.n, len(tc.layer))
			}
		})
	}
}

// TestUnpackAcceptsForeignButSafeLayers: layers written by tar -C dir . (a ./ root entry,
// ./-prefixed names, no directory entries) hold the same bundle.
func TestUnpackAcceptsForeignButSafeLayers(t *testing.T) {
	layer := layerOf(t,
		entry{hdr: tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755}},
		entry{hdr: tar.Header{Name: "./a/b.yaml", Typeflag: tar.TypeReg, Size: 2, Mode: 0o600}, body: []byte("x\n")},
		entry{hdr: tar.Header{Name: "c.yaml", Typeflag: tar.TypeReg, Size: 0, Mode: 0o755}},
	)
	files, err := Unpack(bytes.NewReader(layer), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 || string(files["a/b.yaml"]) != "x\n" || files["c.yaml"] == nil {
		t.Errorf("files %q", files)
	}
}

// BenchmarkPack packs a bundle the size of the payments example (about 100 objects).
func BenchmarkPack(b *testing.B) {
	bundle := bundletest.Bundle(b, "1.0.0", bundletest.PaymentsSizedFiles(100))
	b.ReportAllocs()
	var size int
	for i := 0; i < b.N; i++ {
		img, err := Pack(bundle, PackOptions{})
		if err != nil {
			b.Fatal(err)
		}
		m, err := img.Manifest()
		if err != nil {
			b.Fatal(err)
		}
		size = int(m.Layers[0].Size)
	}
	b.ReportMetric(float64(size), "layer-bytes")
}

// BenchmarkUnpack reads the same bundle's layer back with the default limits.
func BenchmarkUnpack(b *testing.B) {
	tgz, err := Tarball(bundletest.Bundle(b, "1.0.0", bundletest.PaymentsSizedFiles(100)))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(tgz)))
	for i := 0; i < b.N; i++ {
		if _, err := Unpack(bytes.NewReader(tgz), DefaultLimits()); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPackDir: a tree packed while it is read gives every byte Pack gives for the bundle
// read first, whatever the provenance and however names sort (a file beside a directory
// of the same stem, which a walk meets in another order than the tar stream's); a tree
// that is not its index's is refused as bad input, however far the packing had got.
func TestPackDir(t *testing.T) {
	files := bundletest.PaymentsSizedFiles(300)
	files["network/team-01.yaml"] = "kind: ConfigMap\n"
	files["network/team-01-x/a.yaml"] = "kind: ConfigMap\n"
	b := bundletest.Bundle(t, "1.0.0", files)
	dir := filepath.Join(t.TempDir(), "tree")
	if err := b.WriteDir(dir, false); err != nil {
		t.Fatal(err)
	}
	for _, opts := range []PackOptions{{}, {Source: "https://example.com/p.git", Revision: "main@sha1:abc", Created: time1}} {
		want := packBytes(t, b, opts)
		p, err := PackDir(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		got := packedBytes(t, p.Image)
		if !bytes.Equal(got.layer, want.layer) || !bytes.Equal(got.manifest, want.manifest) || got.digest != want.digest {
			t.Fatalf("PackDir digest %s (layer %d bytes), Pack %s (layer %d bytes)", got.digest, len(got.layer), want.digest, len(want.layer))
		}
		if p.Index.Spec.Version != "1.0.0" || len(p.Index.Spec.Objects) != len(files) {
			t.Errorf("PackDir's index: version %q, %d objects; want 1.0.0, %d", p.Index.Spec.Version, len(p.Index.Spec.Objects), len(files))
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "tls", "zz-extra.yaml"), []byte("kind: ConfigMap\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := PackDir(dir, PackOptions{})
	if err == nil || !strings.Contains(err.Error(), "zz-extra.yaml is not listed") || exitcode.Of(err, 0) != exitcode.BadInput {
		t.Fatalf("PackDir of a tree with an unlisted file: %v, want it refused as bad input", err)
	}
}
