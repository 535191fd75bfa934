package argocdcompat

import (
	"strings"
	"testing"

	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	"sigs.k8s.io/yaml"

	"bulwark.dev/bulwark/bundle/gitops"
	"bulwark.dev/bulwark/generators/generated"
)

// printArgoCD is what `bulwark gitops argocd` writes to stdout: gitops.ArgoCD rendered by
// generated.Marshal (cmd/bulwark/gitops.go's writeDocs, for its single document).
func printArgoCD(t *testing.T, opts gitops.Options) []byte {
	t.Helper()
	app, err := gitops.ArgoCD(opts)
	if err != nil {
		t.Fatal(err)
	}
	out, err := generated.Marshal(app)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// parseApplication decodes printed YAML into Argo CD's own Application type, strictly: a
// field Argo CD does not know (a misspelt or invented one, which Argo CD's API server would
// drop or refuse) is an error, as is a duplicate key.
func parseApplication(t *testing.T, printed []byte) *v1alpha1.Application {
	t.Helper()
	var app v1alpha1.Application
	if err := yaml.UnmarshalStrict(printed, &app); err != nil {
		t.Fatalf("Argo CD's Application type does not take what bulwark prints: %v\n%s", err, printed)
	}
	return &app
}

// TestPrintedApplicationIsArgoCDs checks `bulwark gitops argocd`'s output against Argo CD's
// own v1alpha1.Application: every field must be one Argo CD knows, and the values must be
// the ones Argo CD reads for an OCI source (it is an OCI source, path ".", automated sync).
func TestPrintedApplicationIsArgoCDs(t *testing.T) {
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, tc := range []struct {
		name     string
		opts     gitops.Options
		repoURL  string
		revision string
	}{
		{"tag", gitops.Options{Ref: "oci://ghcr.io/acme/policies/payments:1.4.0"}, "oci://ghcr.io/acme/policies/payments", "1.4.0"},
		{"digest", gitops.Options{Ref: "ghcr.io/acme/policies/payments@" + digest}, "oci://ghcr.io/acme/policies/payments", digest},
		{"semver", gitops.Options{Ref: "oci://ghcr.io/acme/policies/payments", Semver: ">=1.0.0 <2.0.0"}, "oci://ghcr.io/acme/policies/payments", ">=1.0.0 <2.0.0"},
		{"name and namespace", gitops.Options{Ref: "oci://127.0.0.1:5000/p:1.0.0", Name: "pol", Namespace: "gitops"}, "oci://127.0.0.1:5000/p", "1.0.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := parseApplication(t, printArgoCD(t, tc.opts))
			if app.APIVersion != "argoproj.io/v1alpha1" || app.Kind != "Application" {
				t.Errorf("apiVersion/kind %s/%s", app.APIVersion, app.Kind)
			}
			wantName, wantNS := tc.opts.Name, tc.opts.Namespace
			if wantName == "" {
				wantName = "payments"
			}
			if wantNS == "" {
				wantNS = "argocd"
			}
			if app.Name != wantName || app.Namespace != wantNS {
				t.Errorf("metadata %s/%s, want %s/%s", app.Namespace, app.Name, wantNS, wantName)
			}
			src := app.Spec.GetSource()
			if !src.IsOCI() {
				t.Errorf("Argo CD does not see an OCI source: repoURL %q", src.RepoURL)
			}
			if src.RepoURL != tc.repoURL || src.TargetRevision != tc.revision || src.Path != "." {
				t.Errorf("source %q %q %q, want %q %q \".\"", src.RepoURL, src.TargetRevision, src.Path, tc.repoURL, tc.revision)
			}
			if app.Spec.HasMultipleSources() {
				t.Error("Argo CD sees multiple sources")
			}
			if app.Spec.Project != "default" || app.Spec.Destination.Server != "https://kubernetes.default.svc" {
				t.Errorf("project %q destination %+v", app.Spec.Project, app.Spec.Destination)
			}
			sp := app.Spec.SyncPolicy
			if sp == nil || !sp.IsAutomatedSyncEnabled() || sp.Automated.Prune == nil || !*sp.Automated.Prune ||
				sp.Automated.SelfHeal == nil || !*sp.Automated.SelfHeal {
				t.Errorf("sync policy %+v: want automated, prune and self-heal", sp)
			} else if !sp.SyncOptions.HasOption("ServerSideApply=true") {
				t.Errorf("sync options %v: want ServerSideApply=true", sp.SyncOptions)
			}
		})
	}
}

// TestStrictDecodingRefusesUnknownFields proves the strict decoding above can fail: the
// printed Application with one field Argo CD does not know, at the top or nested, is
// refused, so the test above would notice bulwark printing such a field.
func TestStrictDecodingRefusesUnknownFields(t *testing.T) {
	printed := string(printArgoCD(t, gitops.Options{Ref: "oci://ghcr.io/acme/policies/payments:1.4.0"}))
	for _, tc := range []struct{ name, old, new string }{
		{"top level", "kind: Application\n", "kind: Application\nstatuz: {}\n"},
		{"in the source", "path: '.'\n", "path: '.'\n    semver: '>=1.0.0'\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(printed, tc.old) {
				t.Fatalf("the printed Application has no %q to edit:\n%s", tc.old, printed)
			}
			edited := strings.Replace(printed, tc.old, tc.new, 1)
			var app v1alpha1.Application
			if err := yaml.UnmarshalStrict([]byte(edited), &app); err == nil {
				t.Fatalf("an unknown field was accepted:\n%s", edited)
			} else if !strings.Contains(err.Error(), "unknown field") {
				t.Fatalf("refused for another reason: %v", err)
			}
		})
	}
}
