package argocdcompat

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/types"

	"bulwark.dev/bulwark/bundle/oci"
	"bulwark.dev/bulwark/internal/testenv"
)

// TestArgoCDClientResolvesAndExtracts pushes two versions of the payments bundle to a real
// registry and reads them with Argo CD's own OCI client (util/oci, what the repo-server
// runs for an oci:// source): every way an Application can name a revision — a tag, a
// digest, a semver range — must resolve to the digest Bulwark pushed, and Extract must
// yield exactly the files Bulwark built, byte for byte.
func TestArgoCDClientResolvesAndExtracts(t *testing.T) {
	reg := testenv.StartRegistry(t, testenv.RegistryOptions{})
	repo := reg.Ref("policies/payments")
	v1, v2 := buildPayments(t, "1.0.0"), buildPayments(t, "1.1.0")
	d1, d2 := push(t, v1, repo+":1.0.0"), push(t, v2, repo+":1.1.0")
	if d1.DigestStr() == d2.DigestStr() {
		t.Fatalf("both versions have digest %s: the semver case could not tell them apart", d1.DigestStr())
	}

	c := argoClient(t, "oci://"+repo, argoLayerMediaTypes)
	ctx := context.Background()
	for _, tc := range []struct {
		name, revision string
		want           string
		files          map[string][]byte
	}{
		{"tag", "1.0.0", d1.DigestStr(), v1.Files},
		{"other tag", "1.1.0", d2.DigestStr(), v2.Files},
		{"digest", d1.DigestStr(), d1.DigestStr(), v1.Files},
		// Argo CD lists the repository's tags and takes the highest in range: 1.1.0, not 1.0.0.
		{"semver range", ">=1.0.0 <2.0.0", d2.DigestStr(), v2.Files},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.ResolveRevision(ctx, tc.revision, true)
			if err != nil {
				t.Fatalf("Argo CD cannot resolve %q: %v", tc.revision, err)
			}
			if got != tc.want {
				t.Fatalf("Argo CD resolves %q to %s, Bulwark pushed %s", tc.revision, got, tc.want)
			}
			dir, closer, err := c.Extract(ctx, got)
			if err != nil {
				t.Fatalf("Argo CD cannot extract %s: %v", got, err)
			}
			defer func() { _ = closer.Close() }()
			sameFiles(t, readTree(t, dir), tc.files)
		})
	}
}

// TestArgoCDClientRefuses proves the test above can fail: artifacts that break one of Argo
// CD's rules for OCI sources (v3.6.1 util/oci/client.go: exactly one content layer, of an
// allowed media type) are refused by the same client, while the same files packed the way
// Bulwark packs them, by the same hand-built path, are accepted (so the refusals come from
// the broken rule, not from the way these artifacts are built).
func TestArgoCDClientRefuses(t *testing.T) {
	reg := testenv.StartRegistry(t, testenv.RegistryOptions{})
	b := buildPayments(t, "1.0.0")
	tgz, err := oci.Tarball(b)
	if err != nil {
		t.Fatal(err)
	}
	plainTar := tarball(t, b.Files, false)
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		layers  []layer
		wantErr string // "" means Argo CD must accept it and extract the bundle
	}{
		{"control: Bulwark's layer type", []layer{{oci.LayerMediaType, tgz}}, ""},
		// Flux's own content type (what `flux push artifact` writes) is not in Argo CD's
		// default list: had Bulwark used it, Argo CD would need reposerver settings.
		{"Flux content layer type", []layer{{"application/vnd.cncf.flux.content.v1.tar+gzip", tgz}},
			"oci layer media type application/vnd.cncf.flux.content.v1.tar+gzip is not in the list of allowed media types"},
		// Two allowed content layers: Argo CD will not guess which one is the tree.
		{"two content layers", []layer{{oci.LayerMediaType, tgz}, {types.MediaType("application/vnd.oci.image.layer.v1.tar"), plainTar}},
			"expected only a single oci content layer, got 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := reg.Ref("negative/" + strings.ToLower(strings.NewReplacer(" ", "-", ":", "", "'", "").Replace(tc.name)))
			pushed := pushArtifact(t, repo+":1.0.0", tc.layers...)
			c := argoClient(t, "oci://"+repo, argoLayerMediaTypes)
			got, err := c.ResolveRevision(ctx, "1.0.0", true)
			if err != nil {
				t.Fatalf("Argo CD cannot resolve the tag: %v", err)
			}
			if got != pushed.DigestStr() {
				t.Fatalf("Argo CD resolves the tag to %s, pushed %s", got, pushed.DigestStr())
			}
			dir, closer, err := c.Extract(ctx, got)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Argo CD refuses the control artifact: %v", err)
				}
				defer func() { _ = closer.Close() }()
				sameFiles(t, readTree(t, dir), b.Files)
				return
			}
			if err == nil {
				_ = closer.Close()
				t.Fatalf("Argo CD extracted the artifact; want an error containing %q", tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Argo CD refuses it for another reason: %v\nwant %q", err, tc.wantErr)
			}
		})
	}
}
