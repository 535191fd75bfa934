package bundles

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"bulwark.dev/bulwark/internal/exitcode"
)

func TestPackIsReproducible(t *testing.T) {
	var first string
	for i := 0; i < 5; i++ {
		b := testBundle(t, "1.0.0", demoFiles(20, "x")) // fresh maps each time
		d, err := Digest(b, PackOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if first == "" {
			first = d.String()
		} else if d.String() != first {
			t.Fatalf("digest %s differs from %s", d, first)
		}
	}
	// File modes and times on disk do not leak into the artifact.
	dir := filepath.Join(t.TempDir(), "b")
	b := testBundle(t, "1.0.0", demoFiles(20, "x"))
	if err := b.WriteDir(dir, false); err != nil {
		t.Fatal(err)
	}
	for _, p := range b.Paths() {
		f := filepath.Join(dir, filepath.FromSlash(p))
		_ = os.Chmod(f, 0o600)
		_ = os.Chtimes(f, time1, time1)
	}
	again, err := ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := Digest(again, PackOptions{})
	if d.String() != first {
		t.Fatalf("digest after a round trip through disk with other modes: %s, want %s", d, first)
	}
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	if d2, _ := Digest(again, PackOptions{}); d2.String() == first {
		t.Error("SOURCE_DATE_EPOCH did not change the created annotation")
	}
}

func TestArtifactShape(t *testing.T) {
	img, err := Pack(testBundle(t, "1.2.3", demoFiles(3, "x")), PackOptions{Source: "https://git.example/p", Revision: "main@sha1:abc"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckManifest(m); err != nil {
		t.Fatal(err)
	}
	// Argo CD: one content layer of an accepted type, at most 10 layers.
	if len(m.Layers) != 1 || m.Layers[0].MediaType != "application/vnd.oci.image.layer.v1.tar+gzip" || len(m.Layers) > 10 {
		t.Fatalf("layers: %+v", m.Layers)
	}
	if m.Config.MediaType != "application/vnd.cncf.flux.config.v1+json" || m.MediaType != "application/vnd.oci.image.manifest.v1+json" {
		t.Fatalf("media types: manifest %s config %s", m.MediaType, m.Config.MediaType)
	}
	for k, want := range map[string]string{
		AnnotationVersion: "1.2.3", AnnotationCreated: "1970-01-01T00:00:00Z", AnnotationProfile: "demo",
		AnnotationFramework: "soc2", AnnotationCatalogue: "1.0.0", AnnotationControls: "NET-01,POD-03",
		AnnotationSource: "https://git.example/p", AnnotationRevision: "main@sha1:abc",
	} {
		if m.Annotations[k] != want {
			t.Errorf("annotation %s = %q, want %q", k, m.Annotations[k], want)
		}
	}
	// The tarball is normalised.
	layers, _ := img.Layers()
	rc, _ := layers[0].Uncompressed()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" || !h.ModTime.Equal(time0) {
			t.Errorf("%s: owner or time not normalised: %+v", h.Name, h)
		}
		if (h.Typeflag == tar.TypeReg && h.Mode != 0o644) || (h.Typeflag == tar.TypeDir && h.Mode != 0o755) {
			t.Errorf("%s: mode %o", h.Name, h.Mode)
		}
	}
}

// tarGz builds a layer from raw entries, for refusal tests.
func tarGz(t *testing.T, entries ...tar.Header) []byte {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, h := range entries {
		h := h
		body := []byte(strings.Repeat("a", int(h.Size)))
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		tw.Write(body)
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

func TestUnpackRefusesHostileLayers(t *testing.T) {
	bomb := func() []byte {
		var buf bytes.Buffer
		gz, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		tw := tar.NewWriter(gz)
		tw.WriteHeader(&tar.Header{Name: "big.yaml", Typeflag: tar.TypeReg, Size: MaxFileBytes + 1, Mode: 0o644})
		zero := make([]byte, 1<<20)
		for n := 0; n <= MaxFileBytes; n += len(zero) {
			tw.Write(zero)
		}
		tw.Close()
		gz.Close()
		return buf.Bytes()
	}
	cases := map[string][]byte{
		"traversal":   tarGz(t, tar.Header{Name: "../etc/passwd", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644}),
		"absolute":    tarGz(t, tar.Header{Name: "/etc/passwd", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644}),
		"symlink":     tarGz(t, tar.Header{Name: "link", Typeflag: tar.TypeSymlink, Linkname: "/etc", Mode: 0o777}),
		"hardlink":    tarGz(t, tar.Header{Name: "hard", Typeflag: tar.TypeLink, Linkname: "bulwark.yaml", Mode: 0o644}),
		"device":      tarGz(t, tar.Header{Name: "dev", Typeflag: tar.TypeChar, Mode: 0o644}),
		"duplicate":   tarGz(t, tar.Header{Name: "a.yaml", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644}, tar.Header{Name: "a.yaml", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644}),
		"gzip bomb":   bomb(),
		"not gzip":    []byte("plain text"),
		"dot segment": tarGz(t, tar.Header{Name: "a/./b.yaml", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644}),
	}
	for name, layer := range cases {
		t.Run(name, func(t *testing.T) {
			if files, err := Unpack(bytes.NewReader(layer)); err == nil {
				t.Fatalf("accepted: %d files", len(files))
			}
		})
	}
}

func TestReferenceParsing(t *testing.T) {
	for ref, insecure := range map[string]bool{
		"oci://127.0.0.1:5000/a/b:1.0.0": true,
		"localhost:5000/a/b:1.0.0":       true,
		"ghcr.io/acme/p:1.0.0":           false,
		"oci://ghcr.io/acme/p:1.0.0":     false,
	} {
		r, err := ParseReference(ref, RemoteOptions{})
		if err != nil {
			t.Fatalf("%s: %v", ref, err)
		}
		if got := r.Context().Scheme() == "http"; got != insecure {
			t.Errorf("%s: plain HTTP = %v, want %v", ref, got, insecure)
		}
	}
	if _, err := ParseReference("oci://UPPER/Case:tag", RemoteOptions{}); exitcode.Of(err, 0) != exitcode.BadInput {
		t.Errorf("bad reference: %v", err)
	}
}

func TestTagOrder(t *testing.T) {
	tags := []string{"latest", "1.10.0", "1.2.0", "1.10.0-rc.1", "2.0.0", "1", "0.9.9"}
	want := "2.0.0 1.10.0 1.10.0-rc.1 1.2.0 0.9.9 1 latest"
	sortTags(tags)
	if got := strings.Join(tags, " "); got != want {
		t.Errorf("order %q, want %q", got, want)
	}
}

// TestFailedPushKeepsTag makes the registry refuse the manifest of a second version: the
// tag must still point at the first. (The real-registry test kills the process instead.)
func TestFailedPushKeepsTag(t *testing.T) {
	var failManifests atomic.Bool
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failManifests.Load() && r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") {
			http.Error(w, "injected failure", http.StatusInternalServerError)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	ctx := context.Background()
	d1, err := Push(ctx, testBundle(t, "1.0.0", demoFiles(3, "one")), host+"/p:stable", PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	failManifests.Store(true)
	_, err = Push(ctx, testBundle(t, "1.1.0", demoFiles(3, "two")), host+"/p:stable", PushOptions{RemoteOptions: RemoteOptions{}})
	if err == nil {
		t.Fatal("push succeeded despite the injected failure")
	}
	if exitcode.Of(err, 0) != exitcode.Environment {
		t.Errorf("exit code %d for a registry failure, want 3", exitcode.Of(err, 0))
	}
	failManifests.Store(false)
	ref, _ := ParseReference(host+"/p:stable", RemoteOptions{})
	desc, err := remote.Head(ref)
	if err != nil {
		t.Fatal(err)
	}
	if desc.Digest.String() != d1.DigestStr() {
		t.Fatalf("tag moved to %s after a failed push, want %s", desc.Digest, d1.DigestStr())
	}
}

func TestDiff(t *testing.T) {
	a := testBundle(t, "1.0.0", demoFiles(3, "x"))
	same := testBundle(t, "1.1.0", demoFiles(3, "x"))
	if d := Diff(a, same); !d.Empty() {
		t.Errorf("a version bump alone is a change: %+v", d.Objects)
	}
	files := demoFiles(3, "x")
	files["network/ns-00/networkpolicy-deny.yaml"] = strings.Replace(files["network/ns-00/networkpolicy-deny.yaml"], `"x"`, `"y"`, 1)
	delete(files, "network/ns-01/networkpolicy-deny.yaml")
	files["tls/new.yaml"] = "apiVersion: v1\nkind: ConfigMap\n"
	b := testBundle(t, "1.1.0", files)
	b.Index.Spec.Controls = b.Index.Spec.Controls[:1]
	d := Diff(a, b)
	var got []string
	for _, o := range d.Objects {
		got = append(got, o.Change+" "+o.Name)
	}
	want := "changed network/ns-00/networkpolicy-deny.yaml,removed network/ns-01/networkpolicy-deny.yaml,added tls/new.yaml"
	if strings.Join(got, ",") != want {
		t.Errorf("objects %v, want %s", got, want)
	}
	if strings.Join(d.ControlsRemoved, ",") != "POD-03" || strings.Join(d.TSCTouched, ",") != "CC6.1,CC6.6" {
		t.Errorf("controls removed %v, TSC touched %v", d.ControlsRemoved, d.TSCTouched)
	}
}

func TestRedaction(t *testing.T) {
	err := registryError("pushing", stringer("r.example/p"), errors.New("Get \"https://user:hunter2@r.example/v2/\": dial tcp: refused"))
	if err == nil {
		t.Fatal("nil")
	}
	if got := redactURL("https://user:hunter2@r.example/v2/?token=abc"); strings.Contains(got, "hunter2") || strings.Contains(got, "abc") {
		t.Errorf("redactURL kept a secret: %s", got)
	}
}

type stringer string

func (s stringer) String() string { return string(s) }
