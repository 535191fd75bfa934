package verify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"bulwark.dev/bulwark/api"
	"bulwark.dev/bulwark/bundle"
	"bulwark.dev/bulwark/catalogue"
	"bulwark.dev/bulwark/internal/exitcode"
	"bulwark.dev/bulwark/profile"
)

func TestClassify(t *testing.T) {
	gr := schema.GroupResource{Group: "networking.k8s.io", Resource: "networkpolicies"}
	tests := []struct {
		name string
		err  error
		code int
		says string
	}{
		{"forbidden names the permission and the role", fmt.Errorf("listing networkpolicies.networking.k8s.io: %w",
			apierrors.NewForbidden(gr, "", errors.New(`User "ci" cannot list resource "networkpolicies" in API group "networking.k8s.io" at the cluster scope`))),
			exitcode.Environment, `cannot list resource "networkpolicies"`},
		{"forbidden points at the role", apierrors.NewForbidden(gr, "", errors.New("no")), exitcode.Environment, RoleFile},
		{"unauthorized", apierrors.NewUnauthorized("bad token"), exitcode.Environment, "authentication refused"},
		{"throttled past the retries", apierrors.NewTooManyRequests("slow down", 1), exitcode.Environment, "unavailable"},
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, exitcode.Environment, "unreachable"},
		{"deadline", fmt.Errorf("listing: %w", context.DeadlineExceeded), exitcode.Environment, "unreachable"},
		{"a bad bundle stays bad input", exitcode.AsBadInput(errors.New("bundle file x: broken")), exitcode.BadInput, "broken"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := classify(tt.err)
			if got := exitcode.Of(err, -1); got != tt.code || !strings.Contains(err.Error(), tt.says) {
				t.Errorf("classify: exit %d %q; want exit %d saying %q", got, err, tt.code, tt.says)
			}
		})
	}
}

func TestPrepareRefusesBadInput(t *testing.T) {
	good := func() *bundle.Bundle {
		return &bundle.Bundle{
			Index: bundle.Index{Spec: bundle.IndexSpec{Objects: []bundle.IndexObject{{File: "a.yaml", APIVersion: "v1", Kind: "ConfigMap", Name: "a", Namespace: "x"}}}},
			Files: map[string][]byte{"a.yaml": []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: x}\n")},
		}
	}
	if _, err := prepare(good(), Options{Digest: "sha256:" + strings.Repeat("ab", 32)}); err != nil {
		t.Fatalf("good input refused: %v", err)
	}
	tests := map[string]func(*bundle.Bundle, *Options){
		"short digest":     func(_ *bundle.Bundle, o *Options) { o.Digest = "sha256:abc" },
		"digest algorithm": func(_ *bundle.Bundle, o *Options) { o.Digest = "md5:" + strings.Repeat("a", 64) },
		"bad selector": func(b *bundle.Bundle, _ *Options) {
			b.Index.Spec.Scope.Namespaces = profile.Namespaces{Selector: mustSelector("a", "Near")}
		},
		"file not YAML":        func(b *bundle.Bundle, _ *Options) { b.Files["a.yaml"] = []byte("{not yaml") },
		"file is another kind": func(b *bundle.Bundle, _ *Options) { b.Files["a.yaml"] = []byte("apiVersion: v1\nkind: Secret\n") },
		"index entry unnamed":  func(b *bundle.Bundle, _ *Options) { b.Index.Spec.Objects[0].Name = "" },
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			b, o := good(), Options{}
			mutate(b, &o)
			if _, err := prepare(b, o); err == nil {
				t.Error("accepted")
			}
			// Run refuses it as bad input before it contacts any cluster.
			_, err := Run(context.Background(), nil, b, o)
			if exitcode.Of(err, -1) != exitcode.BadInput {
				t.Errorf("Run: %v (exit %d), want exit 2", err, exitcode.Of(err, -1))
			}
		})
	}
}

func mustSelector(key, op string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: key, Operator: metav1.LabelSelectorOperator(op)}}}
}

func TestRevisionDigest(t *testing.T) {
	d := "sha256:" + strings.Repeat("a", 64)
	for rev, want := range map[string]string{
		"1.4.0@" + d: d, d: d, "latest@" + d: d, "": "", "main@sha1:abc": "sha1:abc",
	} {
		if got := revisionDigest(rev); got != want {
			t.Errorf("revisionDigest(%q) = %q, want %q", rev, got, want)
		}
	}
}

func TestLeftBehind(t *testing.T) {
	ours := labels.SelectorFromSet(labels.Set{api.LabelManagedBy: api.ManagedByValue, api.LabelProfile: "p"})
	obj := func(l map[string]any) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"labels": l}}}
	}
	tests := []struct {
		name   string
		labels map[string]any
		want   bool
	}{
		{"an earlier version's object", map[string]any{api.LabelManagedBy: "bulwark", api.LabelProfile: "p", api.LabelVersion: "0.9.0"}, true},
		{"another profile's", map[string]any{api.LabelManagedBy: "bulwark", api.LabelProfile: "q", api.LabelVersion: "0.9.0"}, false},
		{"generated by the bundle's GeneratingPolicy (no version)", map[string]any{api.LabelManagedBy: "bulwark", api.LabelProfile: "p"}, false},
		{"relabelled by Kyverno", map[string]any{api.LabelManagedBy: "kyverno", api.LabelProfile: "p", "generate.kyverno.io/policy-name": "p-net-01"}, false},
		{"not ours", map[string]any{"app": "x"}, false},
	}
	for _, tt := range tests {
		if got := leftBehind(ours, obj(tt.labels)); got != tt.want {
			t.Errorf("%s: leftBehind = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestRoleGrantsEveryKind reads the published role and checks it lets verify list every
// kind it reads, and get the GitOps objects, with no write verb anywhere.
func TestRoleGrantsEveryKind(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", RoleFile))
	if err != nil {
		t.Fatal(err)
	}
	grants := map[string]bool{} // "verb group/resource"
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(string(data)), 4096)
	for {
		var role struct {
			Kind     string
			Metadata struct{ Name string }
			Rules    []struct {
				APIGroups []string `json:"apiGroups"`
				Resources []string
				Verbs     []string
			}
		}
		if err := dec.Decode(&role); err != nil {
			break
		}
		if role.Kind != "ClusterRole" {
			continue
		}
		for _, r := range role.Rules {
			for _, v := range r.Verbs {
				if role.Metadata.Name == "bulwark-verify" && v != "list" && v != "get" {
					t.Errorf("the role grants %q: verify only reads", v)
				}
				for _, g := range r.APIGroups {
					for _, res := range r.Resources {
						grants[role.Metadata.Name+" "+v+" "+g+"/"+res] = true
					}
				}
			}
		}
	}
	// The probe roles grant a create of every kind a probe sends; the RBAC kinds' probes
	// need escalate and bind besides, in their own role.
	cat, err := catalogue.Load()
	if err != nil {
		t.Fatal(err)
	}
	for i := range cat.Controls {
		c := &cat.Controls[i]
		if c.ProbeFixtures == nil {
			continue
		}
		deny, admit, err := c.ProbeObjects()
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range []*unstructured.Unstructured{deny, admit} {
			gvk := o.GroupVersionKind()
			plural, _ := meta.UnsafeGuessKindToResource(gvk)
			want := []string{ProbeRoleName + " create " + gvk.Group + "/" + plural.Resource}
			if gvk.Group == "rbac.authorization.k8s.io" {
				want = nil
				for _, v := range []string{"create", "escalate", "bind"} {
					want = append(want, ProbeRoleName+"-rbac "+v+" "+gvk.Group+"/"+plural.Resource)
				}
			}
			for _, w := range want {
				if !grants[w] {
					t.Errorf("%s's probes send a %s: %s does not grant %s", c.ID, gvk.Kind, RoleFile, w)
				}
			}
		}
	}
	need := []string{"list /namespaces"}
	for _, gk := range append(api.GeneratedKinds, peerAuthGVK.GroupKind(), netpolGVK.GroupKind(), policyExceptionGVK.GroupKind(), legacyExceptionGVK.GroupKind(),
		reportGVKs[0].GroupKind(), reportGVKs[1].GroupKind(), reportGVKs[2].GroupKind(), reportGVKs[3].GroupKind()) {
		plural, _ := meta.UnsafeGuessKindToResource(gk.WithVersion("v1"))
		need = append(need, "list "+gk.Group+"/"+plural.Resource)
	}
	for _, gvk := range []schema.GroupVersionKind{ociRepoGVK, kustGVK, argoAppGVK} {
		plural, _ := meta.UnsafeGuessKindToResource(gvk)
		need = append(need, "get "+gvk.Group+"/"+plural.Resource)
	}
	for _, n := range need {
		if !grants["bulwark-verify "+n] {
			t.Errorf("%s does not grant %s", RoleFile, n)
		}
	}
}

func TestExceptions(t *testing.T) {
	day := func(s string) profile.Date {
		d, err := profile.ParseDate(s)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	spec := bundle.IndexSpec{
		Controls: []bundle.IndexControl{{ID: "POD-10", TSC: []string{"CC6.8"}}, {ID: "CHG-02", TSC: []string{"CC8.1"}}},
		Scope: profile.Spec{Exceptions: []profile.Exception{
			{Name: "sec-1", Ticket: "SEC-1", Controls: []string{"POD-10"}, Namespaces: []string{"batch"}, Expires: day("2026-11-30")},
			{Name: "sec-2", Ticket: "SEC-2", Controls: []string{"POD-10"}, Namespaces: []string{"web"}, Expires: day("2027-06-30")},
		}},
	}
	tests := []struct {
		now  string
		want []string // "status name"
	}{
		{"2026-10-01T00:00:00Z", []string{"pass sec-1", "pass sec-2"}},
		{"2026-11-15T00:00:00Z", []string{"warn sec-1", "pass sec-2"}},
		{"2026-11-30T23:59:59Z", []string{"warn sec-1", "pass sec-2"}}, // holds through its last day
		{"2026-12-01T00:00:00Z", []string{"fail sec-1", "pass sec-2"}},
		{"2027-06-15T00:00:00Z", []string{"fail sec-1", "warn sec-2"}},
	}
	for _, tt := range tests {
		now, _ := time.Parse(time.RFC3339, tt.now)
		b := &bundle.Bundle{Index: bundle.Index{Spec: spec}}
		v := &verifier{b: b, opts: Options{Now: now, ExpiryWarning: 30 * 24 * time.Hour}, report: newReport(b, Options{}),
			controls: map[string][]string{"POD-10": {"CC6.8"}, "CHG-02": {"CC8.1"}}}
		v.exceptions()
		var got []string
		for _, f := range v.report.Findings {
			got = append(got, string(f.Status)+" "+strings.Fields(f.Message)[1])
			if !slices.Equal(f.Controls, []string{"POD-10", "CHG-02"}) || !slices.Equal(f.TSC, []string{"CC6.8", "CC8.1"}) {
				t.Errorf("%s: controls %v, TSC %v", tt.now, f.Controls, f.TSC)
			}
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("at %s: %v, want %v", tt.now, got, tt.want)
		}
	}
}

func TestReportOrderAndVerdict(t *testing.T) {
	r := &Report{Findings: []Finding{
		{Status: Pass, Controls: []string{"NET-01"}, Message: "a"},
		{Status: Warn, Controls: []string{"POD-10"}, Message: "b"},
		{Status: Fail, Controls: []string{"TLS-01"}, Message: "c"},
		{Status: Fail, Controls: []string{"NET-01"}, Object: &ObjectRef{Kind: "Namespace", Name: "z"}, Message: "d"},
		{Status: Fail, Controls: []string{"NET-01"}, Object: &ObjectRef{Kind: "Namespace", Name: "a"}, Message: "e"},
	}}
	r.finish()
	var got []string
	for _, f := range r.Findings {
		got = append(got, f.Message)
	}
	if want := []string{"e", "d", "c", "b", "a"}; !slices.Equal(got, want) || r.Converged || r.Failures() != 3 || r.Warnings() != 1 {
		t.Errorf("order %v (want %v), converged %v, %d failures", got, want, r.Converged, r.Failures())
	}
	if r.FirstFailure().Message != "e" {
		t.Errorf("first failure %q", r.FirstFailure().Message)
	}
	r.Findings = r.Findings[3:]
	r.finish()
	if !r.Converged {
		t.Error("warnings alone must not fail convergence")
	}
	r.Error = "unreachable"
	r.finish()
	if r.Converged {
		t.Error("a cluster that was not checked has not converged")
	}
}

func TestPermanentErrors(t *testing.T) {
	gr := schema.GroupResource{Resource: "namespaces"}
	for err, want := range map[error]bool{
		classify(apierrors.NewForbidden(gr, "", errors.New("no"))):     true,
		classify(apierrors.NewUnauthorized("no")):                      true,
		exitcode.AsBadInput(errors.New("bad bundle")):                  true,
		classify(&net.OpError{Op: "dial", Err: errors.New("refused")}): false,
		classify(apierrors.NewServiceUnavailable("restarting")):        false,
	} {
		if got := permanent(err); got != want {
			t.Errorf("permanent(%v) = %v, want %v", err, got, want)
		}
	}
}

func TestKubectlGet(t *testing.T) {
	for o, want := range map[ObjectRef]string{
		{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy", Namespace: "payments", Name: "bulwark-default-deny"}: "kubectl get networkpolicy.networking.k8s.io bulwark-default-deny -n payments -o yaml",
		{APIVersion: "policies.kyverno.io/v1", Kind: "ValidatingPolicy", Name: "p-pod-03"}:                               "kubectl get validatingpolicy.policies.kyverno.io p-pod-03 -o yaml",
		{APIVersion: "v1", Kind: "Namespace", Name: "shop"}:                                                              "kubectl get namespace shop -o yaml",
	} {
		if got := kubectlGet(&o); got != want {
			t.Errorf("kubectlGet = %q, want %q", got, want)
		}
	}
}
