package argocdcompat

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/argoproj/argo-cd/v3/reposerver/metrics"
	utilio "github.com/argoproj/argo-cd/v3/util/io"
	argooci "github.com/argoproj/argo-cd/v3/util/oci"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"sigs.k8s.io/yaml"

	"bulwark.dev/bulwark/bundle"
	"bulwark.dev/bulwark/bundle/oci"
	"bulwark.dev/bulwark/pipeline"
)

// argoLayerMediaTypes is the repo-server's default --oci-layer-media-types
// (cmd/argocd-repo-server/commands/argocd_repo_server.go in v3.6.1): what an Argo CD
// installed without settings accepts.
var argoLayerMediaTypes = []string{
	"application/vnd.oci.image.layer.v1.tar",
	"application/vnd.oci.image.layer.v1.tar+gzip",
	"application/vnd.cncf.helm.chart.content.v1.tar+gzip",
}

// argoMaxExtracted is the repo-server's default --oci-manifest-max-extracted-size (1G).
// Without WithManifestMaxExtractedSize the limit is 0 and Extract yields an empty directory
// with no error, so every client here sets it and every test checks what was extracted.
const argoMaxExtracted = 1 << 30

// buildPayments builds the payments example at version, as `bulwark build` does.
func buildPayments(t *testing.T, version string) *bundle.Bundle {
	t.Helper()
	b, err := pipeline.BuildFile(filepath.Join("..", "..", "examples", "payments.yaml"), nil, version)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// push pushes b to ref with Bulwark's own client, as `bulwark push` does.
func push(t *testing.T, b *bundle.Bundle, ref string) name.Digest {
	t.Helper()
	c, err := oci.New()
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.Push(context.Background(), b, ref, oci.PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// argoClient is Argo CD's OCI client as the repo-server builds it (ociClientStandardOpts):
// its metrics event handlers (every handler must be non-nil), randomized cache paths and
// the default extraction limit. The test registry speaks plain HTTP, as Argo CD's
// insecureOCIForceHttp repository setting says.
func argoClient(t *testing.T, repoURL string, mediaTypes []string) argooci.Client {
	t.Helper()
	c, err := argooci.NewClient(repoURL, argooci.Creds{InsecureHTTPOnly: true}, "", "", mediaTypes,
		argooci.WithImagePaths(utilio.NewRandomizedTempPaths(t.TempDir())),
		argooci.WithManifestMaxExtractedSize(argoMaxExtracted),
		argooci.WithEventHandlers(metrics.NewOCIClientEventHandlers(metrics.NewMetricsServer())))
	if err != nil {
		t.Fatalf("Argo CD's OCI client for %s: %v", repoURL, err)
	}
	return c
}

// readTree reads every regular file under dir by slash-separated relative path.
func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		out[filepath.ToSlash(rel)] = data
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sameFiles reports every difference between the files Argo CD extracted and the bundle's.
func sameFiles(t *testing.T, got, want map[string][]byte) {
	t.Helper()
	if len(want) == 0 {
		t.Fatal("the bundle has no files: the comparison would prove nothing")
	}
	for p, w := range want {
		g, ok := got[p]
		switch {
		case !ok:
			t.Errorf("Argo CD did not extract %s", p)
		case len(g) == 0:
			t.Errorf("Argo CD extracted %s empty", p)
		case !bytes.Equal(g, w):
			t.Errorf("%s differs after Argo CD's extraction", p)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("Argo CD extracted %s, which is not in the bundle", p)
		}
	}
}

// objKey names an object the way a cluster does.
func objKey(o map[string]any) string {
	md, _ := o["metadata"].(map[string]any)
	ns, _ := md["namespace"].(string)
	n, _ := md["name"].(string)
	return fmt.Sprintf("%v/%v %s/%s", o["apiVersion"], o["kind"], ns, n)
}

// bundleObjects decodes every object the bundle's manifests hold (not bulwark.yaml and not
// kustomization.yaml, which are for tools, not the cluster), by objKey, as JSON values.
func bundleObjects(t *testing.T, b *bundle.Bundle) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, p := range b.ManifestPaths() {
		for i, doc := range strings.Split(string(b.Files[p]), "\n---\n") {
			if strings.TrimSpace(strings.TrimPrefix(doc, "---")) == "" {
				continue
			}
			j, err := yaml.YAMLToJSON([]byte(doc))
			if err != nil {
				t.Fatalf("%s document %d: %v", p, i, err)
			}
			var o map[string]any
			if err := json.Unmarshal(j, &o); err != nil {
				t.Fatalf("%s document %d: %v", p, i, err)
			}
			if o == nil {
				continue
			}
			k := objKey(o)
			if _, dup := out[k]; dup {
				t.Fatalf("the bundle holds %s twice", k)
			}
			out[k] = o
		}
	}
	if len(out) == 0 {
		t.Fatal("the bundle has no objects: the comparison would prove nothing")
	}
	return out
}

// sameObjects reports every difference between the objects who renders and the bundle's:
// one missing, one extra, one rendered twice, one changed, or the bundle index rendered (it
// would be applied to the cluster).
func sameObjects(t *testing.T, who string, rendered []map[string]any, want map[string]map[string]any) {
	t.Helper()
	got := map[string]map[string]any{}
	for _, o := range rendered {
		k := objKey(o)
		if o["kind"] == bundle.IndexKind || o["apiVersion"] == bundle.IndexAPIVersion {
			t.Errorf("%s renders the bundle index %s: it would apply it to the cluster", who, k)
		}
		if _, dup := got[k]; dup {
			t.Errorf("%s renders %s twice", who, k)
		}
		got[k] = o
	}
	for _, k := range sortedKeys(want) {
		g, ok := got[k]
		if !ok {
			t.Errorf("%s does not render %s", who, k)
			continue
		}
		if !reflect.DeepEqual(g, want[k]) {
			gy, _ := yaml.Marshal(g)
			wy, _ := yaml.Marshal(want[k])
			t.Errorf("%s renders %s differently:\n--- %s\n%s\n--- bundle\n%s", who, k, who, gy, wy)
		}
	}
	for _, k := range sortedKeys(got) {
		if _, ok := want[k]; !ok {
			t.Errorf("%s renders %s, which is not in the bundle", who, k)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%s renders %d objects, the bundle has %d", who, len(got), len(want))
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// tarball is files as a tar stream (gzipped if gz), in lexical order, for artifacts the
// tests build by hand to break one rule at a time.
func tarball(t *testing.T, files map[string][]byte, gz bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w *tar.Writer
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(&buf)
		w = tar.NewWriter(zw)
	} else {
		w = tar.NewWriter(&buf)
	}
	for _, p := range sortedKeys(files) {
		if err := w.WriteHeader(&tar.Header{Name: p, Mode: 0o644, Size: int64(len(files[p])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(files[p]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// layer is one layer of a hand-built artifact.
type layer struct {
	mediaType types.MediaType
	data      []byte
}

// pushArtifact writes an OCI image manifest with Bulwark's config type and the given
// layers to ref, with go-containerregistry directly (not Bulwark's client, which would
// refuse to build these).
func pushArtifact(t *testing.T, ref string, layers ...layer) name.Digest {
	t.Helper()
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, oci.ConfigMediaType)
	for _, l := range layers {
		var err error
		img, err = mutate.Append(img, mutate.Addendum{Layer: static.NewLayer(l.data, l.mediaType), MediaType: l.mediaType})
		if err != nil {
			t.Fatal(err)
		}
	}
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return r.Context().Digest(d.String())
}
