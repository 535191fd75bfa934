package argocdcompat

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	"github.com/argoproj/argo-cd/v3/reposerver/apiclient"
	reposervercache "github.com/argoproj/argo-cd/v3/reposerver/cache"
	"github.com/argoproj/argo-cd/v3/reposerver/metrics"
	"github.com/argoproj/argo-cd/v3/reposerver/repository"
	cacheutil "github.com/argoproj/argo-cd/v3/util/cache"
	"github.com/argoproj/argo-cd/v3/util/git"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"

	"bulwark.dev/bulwark/bundle"
	"bulwark.dev/bulwark/bundle/gitops"
	"bulwark.dev/bulwark/internal/testenv"
)

// kustomizeOnPath puts the kustomize CLI (v5.8.3, built by tools/argokustomize) on PATH as
// "kustomize", the binary Argo CD's repo-server runs for a source with a kustomization.yaml
// when no kustomize version is configured.
func kustomizeOnPath(t *testing.T) {
	t.Helper()
	dir := testenv.ToolsBin(t, "argokustomize")
	if _, err := os.Stat(filepath.Join(dir, "kustomize")); err != nil {
		t.Fatalf("tools/argokustomize built no kustomize (make tools, or tools/build.sh tools/argokustomize ~/.cache/bulwark/tools): %v", err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	if out, err := exec.Command("kustomize", "version").CombinedOutput(); err != nil || !strings.Contains(string(out), "v5.8.3") {
		t.Fatalf("kustomize on PATH is not v5.8.3: %v\n%s", err, out)
	}
}

// newRepoServer is Argo CD's repo-server service in-process, as argocd-repo-server builds
// it with its default flags (OCI layer types and 1G extraction limit), with an in-memory
// cache instead of Redis.
func newRepoServer(t *testing.T) *repository.Service {
	t.Helper()
	c := reposervercache.NewCache(cacheutil.NewCache(cacheutil.NewInMemoryCache(time.Hour)), time.Minute, time.Minute, 10*time.Second)
	s := repository.NewService(metrics.NewMetricsServer(), c, repository.RepoServerInitConstants{
		OCIMediaTypes:                     argoLayerMediaTypes,
		OCIManifestMaxExtractedSize:       argoMaxExtracted,
		ParallelismLimit:                  1,
		MaxCombinedDirectoryManifestsSize: resource.MustParse("10M"),
	}, &git.NoopCredsStore{}, t.TempDir())
	if err := s.Init(); err != nil {
		t.Fatal(err)
	}
	return s
}

// generate asks the repo-server for the manifests of source, as the application controller
// does (controller/state.go) for an OCI repository on a plain-HTTP registry.
func generate(t *testing.T, s *repository.Service, src v1alpha1.ApplicationSource) (*apiclient.ManifestResponse, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return s.GenerateManifest(ctx, &apiclient.ManifestRequest{
		Repo:               &v1alpha1.Repository{Repo: src.RepoURL, Type: "oci", InsecureOCIForceHttp: true},
		Revision:           src.TargetRevision,
		NoCache:            true,
		NoRevisionCache:    true,
		ApplicationSource:  &src,
		KustomizeOptions:   &v1alpha1.KustomizeOptions{},
		ProjectName:        "default",
		ProjectSourceRepos: []string{"*"},
	})
}

// TestRepoServerGeneratesTheBundle runs Argo CD's manifest generation on the source of the
// Application `bulwark gitops argocd` prints, for a tag, a digest and a semver range: Argo
// CD must see a Kustomize source (the bundle's kustomization.yaml), report the digest
// Bulwark pushed as the revision, and render exactly the bundle's objects — never
// bulwark.yaml, the index, which is not for the cluster.
func TestRepoServerGeneratesTheBundle(t *testing.T) {
	kustomizeOnPath(t)
	reg := testenv.StartRegistry(t, testenv.RegistryOptions{})
	repo := reg.Ref("policies/payments")
	v1, v2 := buildPayments(t, "1.0.0"), buildPayments(t, "1.1.0")
	d1, d2 := push(t, v1, repo+":1.0.0"), push(t, v2, repo+":1.1.0")
	s := newRepoServer(t)
	for _, tc := range []struct {
		name   string
		opts   gitops.Options
		digest string
		b      *bundle.Bundle
	}{
		{"tag", gitops.Options{Ref: "oci://" + repo + ":1.0.0"}, d1.DigestStr(), v1},
		{"digest", gitops.Options{Ref: d2.String()}, d2.DigestStr(), v2},
		{"semver range", gitops.Options{Ref: "oci://" + repo, Semver: ">=1.0.0 <2.0.0"}, d2.DigestStr(), v2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := parseApplication(t, printArgoCD(t, tc.opts))
			res, err := generate(t, s, app.Spec.GetSource())
			if err != nil {
				t.Fatalf("Argo CD's repo-server cannot generate the manifests: %v", err)
			}
			if res.SourceType != string(v1alpha1.ApplicationSourceTypeKustomize) {
				t.Errorf("source type %q, want Kustomize", res.SourceType)
			}
			if res.Revision != tc.digest {
				t.Errorf("revision %s, Bulwark pushed %s", res.Revision, tc.digest)
			}
			var got []map[string]any
			for i, m := range res.Manifests {
				var o map[string]any
				if err := json.Unmarshal([]byte(m), &o); err != nil {
					t.Fatalf("manifest %d: %v", i, err)
				}
				got = append(got, o)
			}
			want := bundleObjects(t, tc.b)
			sameObjects(t, "Argo CD", got, want)
			t.Logf("Argo CD rendered %d objects at %s, the bundle's %d", len(res.Manifests), res.Revision, len(want))
		})
	}
}

// TestRepoServerRefusesBrokenKustomization proves the test above can fail at the rendering
// step: a bundle whose kustomization.yaml names a file the tree lacks is refused by the
// repo-server (kustomize fails), while the same tree with its kustomization untouched,
// pushed the same hand-built way, renders.
func TestRepoServerRefusesBrokenKustomization(t *testing.T) {
	kustomizeOnPath(t)
	reg := testenv.StartRegistry(t, testenv.RegistryOptions{})
	b := buildPayments(t, "1.0.0")
	const missing = "kyverno/no-such-policy.yaml"
	if _, ok := b.Files[missing]; ok {
		t.Fatalf("the bundle has %s: pick another missing name", missing)
	}
	broken := map[string][]byte{}
	for p, data := range b.Files {
		broken[p] = data
	}
	var k map[string]any
	if err := yaml.Unmarshal(b.Files[bundle.KustomizeFile], &k); err != nil {
		t.Fatal(err)
	}
	res, _ := k["resources"].([]any)
	if len(res) == 0 {
		t.Fatalf("%s lists no resources:\n%s", bundle.KustomizeFile, b.Files[bundle.KustomizeFile])
	}
	k["resources"] = append(res, missing)
	kb, err := yaml.Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	broken[bundle.KustomizeFile] = kb

	s := newRepoServer(t)
	for _, tc := range []struct {
		name    string
		files   map[string][]byte
		wantErr string
	}{
		{"control: the bundle's kustomization", b.Files, ""},
		{"kustomization names a missing file", broken, missing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := reg.Ref("kustomize/" + strings.ToLower(strings.NewReplacer(" ", "-", ":", "", "'", "").Replace(tc.name)))
			pushed := pushArtifact(t, repo+":1.0.0", layer{"application/vnd.oci.image.layer.v1.tar+gzip", tarball(t, tc.files, true)})
			out, err := generate(t, s, v1alpha1.ApplicationSource{RepoURL: "oci://" + repo, TargetRevision: "1.0.0", Path: "."})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("the repo-server refuses the control: %v", err)
				}
				if out.Revision != pushed.DigestStr() || len(out.Manifests) != len(bundleObjects(t, b)) {
					t.Fatalf("control: revision %s (pushed %s), %d manifests (bundle has %d objects)", out.Revision, pushed.DigestStr(), len(out.Manifests), len(bundleObjects(t, b)))
				}
				return
			}
			if err == nil {
				t.Fatalf("the repo-server rendered %d manifests; want an error naming %s", len(out.Manifests), tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("refused for another reason: %v\nwant it to name %s", err, tc.wantErr)
			}
		})
	}
}
