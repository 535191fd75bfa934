package gitops

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"bulwark.dev/bulwark/internal/testenv"
)

var digest = "sha256:" + strings.Repeat("ab", 32)

func TestRefs(t *testing.T) {
	cases := []struct {
		opts           Options
		tag, dig, url  string
		argoRev, fails string
	}{
		{opts: Options{Ref: "oci://ghcr.io/acme/p:1.4.0"}, tag: "1.4.0", url: "oci://ghcr.io/acme/p", argoRev: "1.4.0"},
		{opts: Options{Ref: "ghcr.io/acme/p@" + digest}, dig: digest, url: "oci://ghcr.io/acme/p", argoRev: digest},
		{opts: Options{Ref: "oci://ghcr.io/acme/p", Semver: ">=1.0.0 <2.0.0"}, url: "oci://ghcr.io/acme/p", argoRev: ">=1.0.0 <2.0.0"},
		{opts: Options{Ref: "oci://ghcr.io/acme/p"}, fails: "names no tag or digest"},
		{opts: Options{Ref: "oci://UPPER/p:1"}, fails: "bundle reference"},
	}
	for _, tc := range cases {
		repo, _, err := Flux(tc.opts)
		app, aerr := ArgoCD(tc.opts)
		if tc.fails != "" {
			if err == nil || aerr == nil || !strings.Contains(err.Error(), tc.fails) {
				t.Errorf("%+v: errors %v / %v, want %q", tc.opts, err, aerr, tc.fails)
			}
			continue
		}
		if err != nil || aerr != nil {
			t.Fatalf("%+v: %v / %v", tc.opts, err, aerr)
		}
		if repo.Spec.URL != tc.url || repo.Spec.Ref.Tag != tc.tag || repo.Spec.Ref.Digest != tc.dig || repo.Spec.Ref.SemVer != tc.opts.Semver {
			t.Errorf("%+v: OCIRepository ref %+v url %s", tc.opts, repo.Spec.Ref, repo.Spec.URL)
		}
		if app.Spec.Source.TargetRevision != tc.argoRev || app.Spec.Source.RepoURL != tc.url {
			t.Errorf("%+v: Application source %+v", tc.opts, app.Spec.Source)
		}
	}
}

// TestManifestsMatchUpstreamSchemas creates what `bulwark gitops` prints in a real API server
// holding Flux's and Argo CD's CRDs.
func TestManifestsMatchUpstreamSchemas(t *testing.T) {
	c := testenv.StartCluster(t)
	testenv.InstallCRDs(t, c.Config, "flux", "argocd")
	ctx := context.Background()
	client := testenv.NewClient(c.Config)
	client.Namespaces(t, "flux-system", "argocd")
	create := func(obj any) error {
		raw, err := json.Marshal(obj)
		if err != nil {
			return err
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(raw); err != nil {
			return err
		}
		return client.CreateStrict(ctx, u)
	}
	for _, opts := range []Options{
		{Ref: "oci://ghcr.io/acme/p:1.4.0"},
		{Ref: "ghcr.io/acme/p@" + digest, PullSecret: "regcred", Insecure: true},
		{Ref: "oci://ghcr.io/acme/p", Semver: ">=1.0.0", VerifySecret: "cosign-pub", VerifyKey: []byte("-----BEGIN PUBLIC KEY-----\n")},
	} {
		repo, kust, err := Flux(opts)
		if err != nil {
			t.Fatal(err)
		}
		app, err := ArgoCD(opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, obj := range []any{repo, kust, app, VerifyKeySecret(opts)} {
			if s, ok := obj.(*corev1.Secret); ok && s == nil {
				continue
			}
			if err := create(obj); err != nil {
				t.Errorf("%+v: %T refused: %v", opts, obj, err)
			}
		}
	}
	// The check has teeth: a field Flux does not know is refused.
	bad := map[string]any{"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
		"metadata": map[string]any{"name": "bad", "namespace": "flux-system"},
		"spec":     map[string]any{"url": "oci://x/y", "interval": "5m", "layerSelektor": map[string]any{}}}
	if err := create(bad); err == nil {
		t.Error("an OCIRepository with an unknown field was accepted")
	}
}
