package verify

import (
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"bulwark.dev/bulwark/api"
	"bulwark.dev/bulwark/bundle"
	"bulwark.dev/bulwark/profile"
)

func u(m map[string]any) unstructured.Unstructured { return unstructured.Unstructured{Object: m} }

func namespace(name string, labels map[string]any) unstructured.Unstructured {
	return u(map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": name, "labels": labels}})
}

func netpol(ns, name string, spec map[string]any) unstructured.Unstructured {
	return u(map[string]any{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
		"metadata": map[string]any{"name": name, "namespace": ns}, "spec": spec})
}

func peerAuth(ns, name string, spec map[string]any) unstructured.Unstructured {
	return u(map[string]any{"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
		"metadata": map[string]any{"name": name, "namespace": ns}, "spec": spec})
}

var (
	denyAll  = map[string]any{"podSelector": map[string]any{}, "policyTypes": []any{"Ingress", "Egress"}}
	allowDNS = map[string]any{"podSelector": map[string]any{}, "policyTypes": []any{"Egress"}, "egress": []any{map[string]any{
		"ports": []any{map[string]any{"port": int64(53), "protocol": "UDP"}, map[string]any{"port": int64(53), "protocol": "TCP"}}}}}
	strict = map[string]any{"mtls": map[string]any{"mode": "STRICT"}}
)

// dnsTo is allowDNS with one egress peer.
func dnsTo(peer map[string]any) map[string]any {
	return map[string]any{"podSelector": map[string]any{}, "policyTypes": []any{"Egress"}, "egress": []any{map[string]any{
		"to":    []any{peer},
		"ports": []any{map[string]any{"port": int64(53), "protocol": "UDP"}, map[string]any{"port": int64(53), "protocol": "TCP"}}}}}
}

// nsLabels are the labels of a baseline-tier namespace the bundle's MutatingPolicies
// labelled (Pod Security as testPSA sets, mesh enrolment), with extra key-value pairs.
func nsLabels(extra ...string) map[string]any {
	labels := map[string]any{labelInjection: "enabled"}
	for k, v := range psaLabelsAt("baseline") {
		labels[k] = v
	}
	for i := 0; i+1 < len(extra); i += 2 {
		labels[extra[i]] = extra[i+1]
	}
	return labels
}

// psaLabelsAt are the Pod Security labels testPSA gives a namespace enforcing level.
func psaLabelsAt(level string) map[string]string {
	return map[string]string{
		api.LabelPSAEnforce: level, api.LabelPSAEnforceVersion: "v1.37",
		api.LabelPSAWarn: "restricted", api.LabelPSAWarnVersion: "v1.37",
		api.LabelPSAAudit: "restricted", api.LabelPSAAuditVersion: "v1.37",
	}
}

// covered is a namespace with everything a baseline-tier namespace needs.
func covered(name string, extra ...string) []unstructured.Unstructured {
	return []unstructured.Unstructured{namespace(name, nsLabels(extra...)), netpol(name, "deny", denyAll), netpol(name, "dns", allowDNS)}
}

// testPSA is what an Enforce bundle's POD-00 MutatingPolicy records.
func testPSA() *api.PodSecurity {
	return &api.PodSecurity{Version: "v1.37", Enforce: "baseline", EnforceSensitive: "restricted", Warn: "restricted", Audit: "restricted"}
}

// withPSA is a bundle of spec whose POD-00 MutatingPolicy records ps (none when nil).
func withPSA(t *testing.T, spec bundle.IndexSpec, ps *api.PodSecurity) *bundle.Bundle {
	t.Helper()
	b := &bundle.Bundle{Index: bundle.Index{Spec: spec}, Files: map[string][]byte{}}
	if ps == nil {
		return b
	}
	record, err := json.Marshal(ps)
	if err != nil {
		t.Fatal(err)
	}
	policy, err := json.Marshal(map[string]any{"apiVersion": "policies.kyverno.io/v1", "kind": "MutatingPolicy",
		"metadata": map[string]any{"name": "p-pod-00", "annotations": map[string]any{api.AnnotationPodSecurity: string(record)}}})
	if err != nil {
		t.Fatal(err)
	}
	file := "kyverno/mutatingpolicy-p-pod-00.yaml"
	b.Files[file] = policy
	b.Index.Spec.Objects = append(b.Index.Spec.Objects, bundle.IndexObject{File: file, APIVersion: "policies.kyverno.io/v1",
		Kind: "MutatingPolicy", Name: "p-pod-00", Controls: []string{"POD-00"}})
	return b
}

func coverageSpec() bundle.IndexSpec {
	var ctl []bundle.IndexControl
	for _, id := range namespaceControls {
		ctl = append(ctl, bundle.IndexControl{ID: id, TSC: []string{"CC6.1"}})
	}
	return bundle.IndexSpec{
		Profile: "p", Version: "1.0.0", Controls: ctl,
		Scope: profile.Spec{
			Namespaces: profile.Namespaces{
				Selector:         &metav1.LabelSelector{MatchLabels: map[string]string{"bulwark.dev/scope": "app"}},
				Include:          []string{"payments"},
				Exclude:          []string{"kube-system", "istio-system"},
				Sensitive:        &metav1.LabelSelector{MatchLabels: map[string]string{"bulwark.dev/data-class": "confidential"}},
				SensitiveInclude: []string{"ledger"},
			},
			Network: profile.Network{DefaultDeny: []profile.PolicyType{profile.Ingress, profile.Egress}},
			Mesh:    profile.Mesh{Provider: profile.MeshIstio, MTLS: "STRICT", RootNamespace: "istio-system"},
		},
	}
}

// runCoverage judges live objects as coverage would after the LISTs, and returns the
// failures as "CONTROL NAMESPACE" (or "CONTROL Kind NAMESPACE/NAME" for other objects).
// The bundle's POD-00 MutatingPolicy records testPSA.
func runCoverage(t *testing.T, spec bundle.IndexSpec, live []unstructured.Unstructured) ([]string, *Report) {
	t.Helper()
	return runCoverageOf(t, withPSA(t, spec, testPSA()), live, testNow)
}

// testNow is the reference time of the coverage tests.
var testNow = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

// runCoverageOf is runCoverage for bundle b at now.
func runCoverageOf(t *testing.T, b *bundle.Bundle, live []unstructured.Unstructured, now time.Time) ([]string, *Report) {
	t.Helper()
	spec := b.Index.Spec
	opts := Options{Now: now}
	in, err := prepare(b, opts)
	if err != nil {
		t.Fatal(err)
	}
	v := &verifier{b: b, in: in, opts: opts, controls: map[string][]string{}, report: newReport(b, opts),
		live: map[schema.GroupKind][]unstructured.Unstructured{}}
	for _, c := range spec.Controls {
		v.controls[c.ID] = c.TSC
	}
	for _, o := range live {
		gk := o.GroupVersionKind().GroupKind()
		v.live[gk] = append(v.live[gk], o)
	}
	if err := v.coverage(); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range v.report.Findings {
		if f.Status != Fail {
			continue
		}
		where := f.Object.Name
		if f.Object.Kind != "Namespace" {
			where = f.Object.Kind + " " + f.Object.Namespace + "/" + f.Object.Name
		}
		out = append(out, strings.Join(f.Controls, ",")+" "+where)
		if f.Command == "" || !strings.HasPrefix(f.Command, "kubectl get ") {
			t.Errorf("finding %q has no kubectl command", f.Message)
		}
	}
	sort.Strings(out)
	return out, v.report
}

func TestCoverage(t *testing.T) {
	root := peerAuth("istio-system", "default", strict)
	base := func(objs ...unstructured.Unstructured) []unstructured.Unstructured {
		live := []unstructured.Unstructured{root, namespace("kube-system", nil), namespace("istio-system", nil)}
		live = append(live, covered("payments")...)
		return append(live, objs...)
	}
	withLabels := func(objs []unstructured.Unstructured, kv ...string) []unstructured.Unstructured {
		l := objs[0].GetLabels()
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(l, kv[i])
			} else {
				l[kv[i]] = kv[i+1]
			}
		}
		objs[0].SetLabels(l)
		return objs
	}
	tests := []struct {
		name string
		live []unstructured.Unstructured
		want []string
	}{
		{"all covered", base(covered("shop", "bulwark.dev/scope", "app")...), nil},
		{"a selected namespace without policies", base(namespace("shop", nsLabels("bulwark.dev/scope", "app"))),
			[]string{"NET-01 shop", "NET-02 shop"}},
		{"an unselected namespace is not judged", base(namespace("tools", map[string]any{"team": "x"})), nil},
		{"an excluded namespace is not judged, even when selected", base(namespace("kube-system", map[string]any{"bulwark.dev/scope": "app"})), nil},
		{"a terminating namespace is not judged", base(u(map[string]any{"apiVersion": "v1", "kind": "Namespace",
			"metadata": map[string]any{"name": "old", "deletionTimestamp": "2026-01-01T00:00:00Z", "labels": map[string]any{"bulwark.dev/scope": "app"}}})), nil},
		{"an included namespace that does not exist", []unstructured.Unstructured{root}, []string{"NET-01,NET-02,NET-03,POD-00,TLS-01,TLS-02 payments"}},
		{"default-deny for ingress only", base(namespace("shop", nsLabels("bulwark.dev/scope", "app")),
			netpol("shop", "deny", map[string]any{"podSelector": map[string]any{}, "policyTypes": []any{"Ingress"}}), netpol("shop", "dns", allowDNS)),
			[]string{"NET-01 shop"}},
		{"default-deny selecting only some pods", base(namespace("shop", nsLabels("bulwark.dev/scope", "app")),
			netpol("shop", "deny", map[string]any{"podSelector": map[string]any{"matchLabels": map[string]any{"app": "a"}}, "policyTypes": []any{"Ingress", "Egress"}}),
			netpol("shop", "dns", allowDNS)),
			[]string{"NET-01 shop"}},
		{"a 'deny' that allows ingress", base(namespace("shop", nsLabels("bulwark.dev/scope", "app")),
			netpol("shop", "deny", map[string]any{"podSelector": map[string]any{}, "policyTypes": []any{"Ingress", "Egress"}, "ingress": []any{map[string]any{}}}),
			netpol("shop", "dns", allowDNS)),
			[]string{"NET-01 NetworkPolicy shop/deny", "NET-01 shop"}},
		{"DNS allowed to the namespace's own pods", base(namespace("shop", nsLabels("bulwark.dev/scope", "app")),
			netpol("shop", "deny", denyAll), netpol("shop", "dns", dnsTo(map[string]any{"podSelector": map[string]any{"matchLabels": map[string]any{"k8s-app": "kube-dns"}}}))),
			[]string{"NET-02 shop"}},
		{"DNS allowed to another namespace's DNS pods", base(namespace("shop", nsLabels("bulwark.dev/scope", "app")),
			netpol("shop", "deny", denyAll), netpol("shop", "dns", dnsTo(map[string]any{
				"namespaceSelector": map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": "shop"}},
				"podSelector":       map[string]any{"matchLabels": map[string]any{"k8s-app": "kube-dns"}}}))),
			[]string{"NET-02 shop"}},
		{"DNS allowed to other pods of the DNS namespace", base(namespace("shop", nsLabels("bulwark.dev/scope", "app")),
			netpol("shop", "deny", denyAll), netpol("shop", "dns", dnsTo(map[string]any{
				"namespaceSelector": map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": "kube-system"}},
				"podSelector":       map[string]any{"matchLabels": map[string]any{"app": "metrics"}}}))),
			[]string{"NET-02 shop"}},
		{"DNS allowed to the DNS pods, as the bundle writes it", base(namespace("shop", nsLabels("bulwark.dev/scope", "app")),
			netpol("shop", "deny", denyAll), netpol("shop", "dns", dnsTo(map[string]any{
				"namespaceSelector": map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": "kube-system"}},
				"podSelector":       map[string]any{"matchLabels": map[string]any{"k8s-app": "kube-dns"}}}))),
			nil},
		{"DNS over TCP only", base(namespace("shop", nsLabels("bulwark.dev/scope", "app")),
			netpol("shop", "deny", denyAll), netpol("shop", "dns", map[string]any{"podSelector": map[string]any{}, "policyTypes": []any{"Egress"},
				"egress": []any{map[string]any{"ports": []any{map[string]any{"port": int64(53)}}}}})),
			[]string{"NET-02 shop"}},
		{"DNS through a port range and a policy made by hand", base(namespace("shop", nsLabels("bulwark.dev/scope", "app")),
			netpol("shop", "deny", denyAll), netpol("shop", "team-dns", map[string]any{"podSelector": map[string]any{}, "policyTypes": []any{"Egress"},
				"egress": []any{map[string]any{"ports": []any{map[string]any{"port": int64(1), "endPort": int64(1024), "protocol": "UDP"}}}}})),
			nil},
		{"sensitive by label needs restricted", base(covered("cards", "bulwark.dev/scope", "app", "bulwark.dev/data-class", "confidential")...), []string{"POD-00 cards"}},
		{"sensitive by name needs restricted", base(withLabels(covered("ledger"), "bulwark.dev/scope", "app")...), []string{"POD-00 ledger"}},
		// Exactly the bundle's level: a stricter one denies what the bundle admits.
		{"restricted where the bundle enforces baseline", base(withLabels(covered("shop", "bulwark.dev/scope", "app"), labelPSAEnforce, "restricted")...), []string{"POD-00 shop"}},
		{"sensitive and restricted", base(withLabels(covered("cards", "bulwark.dev/scope", "app", "bulwark.dev/data-class", "confidential"), labelPSAEnforce, "restricted")...), nil},
		{"no version label", base(withLabels(covered("shop", "bulwark.dev/scope", "app"), api.LabelPSAEnforceVersion, "")...), []string{"POD-00 shop"}},
		{"a version other than the catalogue's", base(withLabels(covered("shop", "bulwark.dev/scope", "app"), api.LabelPSAWarnVersion, "latest")...), []string{"POD-00 shop"}},
		{"warn at baseline", base(withLabels(covered("shop", "bulwark.dev/scope", "app"), api.LabelPSAWarn, "baseline")...), []string{"POD-00 shop"}},
		{"no PSA label", base(withLabels(covered("shop", "bulwark.dev/scope", "app"), labelPSAEnforce, "")...), []string{"POD-00 shop"}},
		{"privileged PSA", base(withLabels(covered("shop", "bulwark.dev/scope", "app"), labelPSAEnforce, "privileged")...), []string{"POD-00 shop"}},
		{"not enrolled in the mesh", base(withLabels(covered("shop", "bulwark.dev/scope", "app"), labelInjection, "disabled")...), []string{"TLS-02 shop"}},
		{"enrolled by revision", base(withLabels(covered("shop", "bulwark.dev/scope", "app"), labelInjection, "", labelRevision, "stable")...), nil},
		{"enrolled in ambient mode", base(withLabels(covered("shop", "bulwark.dev/scope", "app"), labelInjection, "", labelDataplane, "ambient")...), nil},
		{"no mesh-wide STRICT", append(base(covered("shop", "bulwark.dev/scope", "app")...)[1:], peerAuth("istio-system", "default", map[string]any{"mtls": map[string]any{"mode": "PERMISSIVE"}})),
			[]string{"TLS-01 PeerAuthentication istio-system/default", "TLS-01 payments", "TLS-01 shop"}},
		{"a mesh-wide policy with a selector is not mesh-wide", append(base(covered("shop", "bulwark.dev/scope", "app")...)[1:],
			peerAuth("istio-system", "default", map[string]any{"selector": map[string]any{"matchLabels": map[string]any{"app": "x"}}, "mtls": map[string]any{"mode": "STRICT"}})),
			[]string{"TLS-01 payments", "TLS-01 shop"}},
		{"per-namespace STRICT covers without a mesh-wide policy", append(append(base(covered("shop", "bulwark.dev/scope", "app")...)[1:],
			peerAuth("shop", "ns", strict)), peerAuth("payments", "ns", strict)), nil},
		{"a namespace opting out", base(append(covered("shop", "bulwark.dev/scope", "app"), peerAuth("shop", "legacy", map[string]any{"mtls": map[string]any{"mode": "DISABLE"}}))...),
			[]string{"TLS-01 PeerAuthentication shop/legacy"}},
		{"a workload port opting out", base(append(covered("shop", "bulwark.dev/scope", "app"), peerAuth("shop", "db", map[string]any{
			"selector": map[string]any{"matchLabels": map[string]any{"app": "db"}}, "portLevelMtls": map[string]any{"5432": map[string]any{"mode": "PERMISSIVE"}}}))...),
			[]string{"TLS-01 PeerAuthentication shop/db"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := runCoverage(t, coverageSpec(), tt.live)
			if !slices.Equal(got, tt.want) {
				t.Errorf("failures %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCoverageFollowsTheBundle(t *testing.T) {
	live := []unstructured.Unstructured{namespace("shop", map[string]any{"bulwark.dev/scope": "app"}), namespace("payments", nil)}

	// Without a mesh, mesh controls are not judged; without NET-02, DNS is not.
	spec := coverageSpec()
	spec.Scope.Mesh = profile.Mesh{Provider: "none"}
	spec.Controls = []bundle.IndexControl{{ID: "NET-01"}, {ID: "POD-00"}}
	got, r := runCoverage(t, spec, live)
	if want := []string{"NET-01 payments", "NET-01 shop", "POD-00 payments", "POD-00 shop"}; !slices.Equal(got, want) {
		t.Errorf("failures %q, want %q", got, want)
	}
	if r.Stats.Namespaces != 2 {
		t.Errorf("%d namespaces in scope, want 2", r.Stats.Namespaces)
	}

	// DNS is judged only where egress is denied and the profile allows DNS.
	spec.Controls = []bundle.IndexControl{{ID: "NET-02"}}
	spec.Scope.Network.DefaultDeny = []profile.PolicyType{profile.Ingress}
	if got, _ := runCoverage(t, spec, live); len(got) != 0 {
		t.Errorf("ingress-only profile: %q", got)
	}
	off := false
	spec.Scope.Network = profile.Network{DefaultDeny: []profile.PolicyType{profile.Egress}, AllowDNS: &off}
	if got, _ := runCoverage(t, spec, live); len(got) != 0 {
		t.Errorf("allowDNS false: %q", got)
	}

	// A pass per control when every namespace is covered, and it says how many.
	spec = coverageSpec()
	spec.Scope.Namespaces.Include = nil
	_, r = runCoverage(t, spec, append([]unstructured.Unstructured{peerAuth("istio-system", "default", strict)}, covered("shop", "bulwark.dev/scope", "app")...))
	passes := 0
	for _, f := range r.Findings {
		if f.Status == Pass && strings.Contains(f.Message, "all 1 namespaces") {
			passes++
		}
	}
	if passes != len(namespaceControls) {
		t.Errorf("%d coverage passes, want one per control (%d): %+v", passes, len(namespaceControls), r.Findings)
	}
}

// TestNotRealisedControlsAreNotApplicable: verify checks exactly the controls the bundle
// realises; those the index lists as not realised get no finding and are reported as not
// applicable, with the bundle's reason.
func TestNotRealisedControlsAreNotApplicable(t *testing.T) {
	spec := coverageSpec()
	spec.Controls = slices.DeleteFunc(spec.Controls, func(c bundle.IndexControl) bool { return c.ID == controlMeshEnrolled })
	spec.NotRealised = []bundle.NotRealisedControl{{ID: controlMeshEnrolled, Title: "enrolled", Reason: "no mesh: spec.mesh.provider is not istio"}}
	live := []unstructured.Unstructured{peerAuth("istio-system", "default", strict), namespace("kube-system", nil), namespace("istio-system", nil),
		namespace("payments", nsLabels()), netpol("payments", "deny", denyAll), netpol("payments", "dns", allowDNS)}
	fails, r := runCoverage(t, spec, live)
	if len(fails) != 0 {
		t.Errorf("failures for a bundle that does not realise %s: %v", controlMeshEnrolled, fails)
	}
	r.finish()
	for _, c := range r.Controls {
		if c.ID == controlMeshEnrolled {
			t.Errorf("report judges %s, which the bundle does not realise", c.ID)
		}
	}
	if len(r.NotApplicable) != 1 || r.NotApplicable[0].ID != controlMeshEnrolled || !strings.Contains(r.NotApplicable[0].Reason, "no mesh") {
		t.Errorf("notApplicable = %+v, want %s with the bundle's reason", r.NotApplicable, controlMeshEnrolled)
	}
}

// TestCoverageExpectsThePodSecurityTheBundleRecords: the enforce level a namespace must
// carry comes from the bundle, above and below: restricted in an Audit bundle is as wrong
// as privileged in an Enforce one, and an exception's lowered level holds only until it ends.
func TestCoverageExpectsThePodSecurityTheBundleRecords(t *testing.T) {
	spec := coverageSpec()
	spec.Scope.Namespaces.Include = nil
	spec.Scope.Mesh = profile.Mesh{Provider: "none"}
	spec.Controls = []bundle.IndexControl{{ID: "POD-00"}}
	ns := func(name string, level string, extra ...string) unstructured.Unstructured {
		l := map[string]any{"bulwark.dev/scope": "app"}
		for k, v := range psaLabelsAt(level) {
			l[k] = v
		}
		for i := 0; i+1 < len(extra); i += 2 {
			l[extra[i]] = extra[i+1]
		}
		return namespace(name, l)
	}
	sensitive := []string{"bulwark.dev/data-class", "confidential"}

	audit := testPSA()
	audit.Enforce, audit.EnforceSensitive = "privileged", "privileged"
	end := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	excepted := testPSA()
	excepted.Exceptions = []api.PodSecurityException{
		{Name: "sec-1", Namespaces: []string{"legacy", "vault"}, Enforce: "privileged", Until: end},
		{Name: "sec-2", Namespaces: []string{"cards"}, Enforce: "baseline", Until: end},
	}
	before, after := end.Add(-time.Hour), end
	tests := []struct {
		name string
		ps   *api.PodSecurity
		now  time.Time
		live []unstructured.Unstructured
		want []string
	}{
		{"Audit bundle: privileged everywhere", audit, before, []unstructured.Unstructured{ns("shop", "privileged"), ns("vault", "privileged", sensitive...)}, nil},
		{"Audit bundle: an enforced level denies what should be reported", audit, before,
			[]unstructured.Unstructured{ns("shop", "baseline"), ns("vault", "restricted", sensitive...)}, []string{"POD-00 shop", "POD-00 vault"}},
		{"Enforce bundle: privileged enforces nothing", testPSA(), before, []unstructured.Unstructured{ns("shop", "privileged")}, []string{"POD-00 shop"}},
		{"exceptions hold: exactly their namespaces lowered", excepted, before, []unstructured.Unstructured{
			ns("legacy", "privileged"), ns("vault", "privileged", sensitive...), ns("cards", "baseline", sensitive...),
			ns("shop", "baseline"), ns("ledger", "restricted", sensitive...)}, nil},
		{"exceptions hold: a namespace they do not name stays at its level", excepted, before, []unstructured.Unstructured{
			ns("shop", "privileged"), ns("ledger", "baseline", sensitive...)}, []string{"POD-00 ledger", "POD-00 shop"}},
		{"exceptions hold: lowered further than the exception allows", excepted, before, []unstructured.Unstructured{
			ns("cards", "privileged", sensitive...)}, []string{"POD-00 cards"}},
		{"exceptions ended: still lowered", excepted, after, []unstructured.Unstructured{
			ns("legacy", "privileged"), ns("vault", "privileged", sensitive...), ns("cards", "baseline", sensitive...)},
			[]string{"POD-00 cards", "POD-00 legacy", "POD-00 vault"}},
		{"exceptions ended: relabelled", excepted, after, []unstructured.Unstructured{
			ns("legacy", "baseline"), ns("vault", "restricted", sensitive...), ns("cards", "restricted", sensitive...)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, r := runCoverageOf(t, withPSA(t, spec, tt.ps), tt.live, tt.now)
			if !slices.Equal(got, tt.want) {
				t.Errorf("failures %q, want %q", got, tt.want)
			}
			for _, f := range r.Findings {
				if f.Status == Fail && tt.now.Equal(after) && !strings.Contains(f.Message, "still lowered") {
					t.Errorf("finding after the exception ended does not say the namespace is still lowered: %s", f.Message)
				}
			}
		})
	}
}

// TestCoverageOfABundleWithoutThePodSecurityRecord: a bundle built before the levels were
// recorded set baseline (restricted in the sensitive tier), which a stricter level met.
func TestCoverageOfABundleWithoutThePodSecurityRecord(t *testing.T) {
	spec := coverageSpec()
	spec.Scope.Namespaces.Include = nil
	spec.Scope.Mesh = profile.Mesh{Provider: "none"}
	spec.Controls = []bundle.IndexControl{{ID: "POD-00"}}
	live := []unstructured.Unstructured{
		namespace("shop", map[string]any{"bulwark.dev/scope": "app", labelPSAEnforce: "restricted"}),
		namespace("web", map[string]any{"bulwark.dev/scope": "app", labelPSAEnforce: "baseline"}),
		namespace("tmp", map[string]any{"bulwark.dev/scope": "app", labelPSAEnforce: "privileged"}),
		namespace("vault", map[string]any{"bulwark.dev/scope": "app", "bulwark.dev/data-class": "confidential", labelPSAEnforce: "baseline"}),
	}
	got, _ := runCoverageOf(t, withPSA(t, spec, nil), live, testNow)
	if want := []string{"POD-00 tmp", "POD-00 vault"}; !slices.Equal(got, want) {
		t.Errorf("failures %q, want %q", got, want)
	}
}

func TestPrepareRefusesABadPodSecurityRecord(t *testing.T) {
	spec := coverageSpec()
	for _, ps := range []*api.PodSecurity{
		{Version: "v1.37", Enforce: "strict", EnforceSensitive: "restricted", Warn: "restricted", Audit: "restricted"},
		{Enforce: "baseline", EnforceSensitive: "restricted", Warn: "restricted", Audit: "restricted"},
	} {
		if _, err := prepare(withPSA(t, spec, ps), Options{}); err == nil {
			t.Errorf("prepare accepted %+v", ps)
		}
	}
}

// TestMTLSWeakeningUnderAnException: a PeerAuthentication weaker than STRICT in a namespace
// a profile exception waives TLS-01 for is warned about while the exception holds, and fails
// again once it has expired.
func TestMTLSWeakeningUnderAnException(t *testing.T) {
	until, err := profile.ParseDate("2026-12-31")
	if err != nil {
		t.Fatal(err)
	}
	spec := coverageSpec()
	spec.Scope.Exceptions = []profile.Exception{{Name: "legacy-tls", Controls: []string{controlMeshMTLS}, Namespaces: []string{"shop"}, Reason: "vendor", Expires: until}}
	live := []unstructured.Unstructured{peerAuth("istio-system", "default", strict), namespace("kube-system", nil), namespace("istio-system", nil)}
	live = append(live, covered("payments")...)
	live = append(live, covered("shop", "bulwark.dev/scope", "app")...)
	live = append(live, peerAuth("shop", "legacy", map[string]any{"mtls": map[string]any{"mode": "PERMISSIVE"}}))
	fails, r := runCoverage(t, spec, live)
	if len(fails) != 0 {
		t.Errorf("failures while the exception holds: %v", fails)
	}
	warned := false
	for _, f := range r.Findings {
		warned = warned || (f.Status == Warn && strings.Contains(f.Message, "as exception legacy-tls allows"))
	}
	if !warned {
		t.Error("the waived weakening is not warned about")
	}
	fails, _ = runCoverageOf(t, withPSA(t, spec, testPSA()), live, time.Date(2027, 1, 2, 0, 0, 0, 0, time.UTC))
	if !slices.Contains(fails, "TLS-01 PeerAuthentication shop/legacy") {
		t.Errorf("after the exception expired: failures %v, want TLS-01 PeerAuthentication shop/legacy", fails)
	}
}

// withNetpols adds NetworkPolicies for namespace ns to bundle b, as the network generator
// writes them, each realising its control.
func withNetpols(t *testing.T, b *bundle.Bundle, ns string, pols map[string]map[string]any, controls map[string]string) {
	t.Helper()
	for name, spec := range pols {
		data, err := json.Marshal(netpol(ns, name, spec).Object)
		if err != nil {
			t.Fatal(err)
		}
		file := "network/" + ns + "/networkpolicy-" + name + ".yaml"
		b.Files[file] = data
		b.Index.Spec.Objects = append(b.Index.Spec.Objects, bundle.IndexObject{File: file, APIVersion: "networking.k8s.io/v1",
			Kind: "NetworkPolicy", Namespace: ns, Name: name, Controls: []string{controls[name]}})
	}
}

// TestNetworkUnion: a namespace's NetworkPolicies add up, so every foreign one must stay
// inside the bundle's allowances, and the bundle's ingress allowance must be in effect.
func TestNetworkUnion(t *testing.T) {
	byName := func(ns string) map[string]any {
		return map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": ns}}
	}
	dns := map[string]any{"podSelector": map[string]any{}, "policyTypes": []any{"Egress"}, "egress": []any{map[string]any{
		"to":    []any{map[string]any{"namespaceSelector": byName("kube-system"), "podSelector": map[string]any{"matchLabels": map[string]any{"k8s-app": "kube-dns"}}}},
		"ports": []any{map[string]any{"port": int64(53), "protocol": "UDP"}, map[string]any{"port": int64(53), "protocol": "TCP"}}}}}
	ingress := map[string]any{"podSelector": map[string]any{}, "policyTypes": []any{"Ingress"}, "ingress": []any{map[string]any{
		"from": []any{map[string]any{"namespaceSelector": byName("ingress-nginx")}}}}}
	pols := map[string]map[string]any{"deny": denyAll, "dns": dns, "ingress": ingress}
	controls := map[string]string{"deny": "NET-01", "dns": "NET-02", "ingress": "NET-03"}
	bundleOf := func(exceptions ...profile.Exception) *bundle.Bundle {
		spec := coverageSpec()
		spec.Scope.Network.IngressNamespaces = []string{"ingress-nginx"}
		spec.Scope.Exceptions = exceptions
		b := withPSA(t, spec, testPSA())
		withNetpols(t, b, "payments", pols, controls)
		return b
	}
	live := func(extra ...unstructured.Unstructured) []unstructured.Unstructured {
		out := []unstructured.Unstructured{peerAuth("istio-system", "default", strict), namespace("kube-system", nil),
			namespace("ingress-nginx", map[string]any{"team": "edge"}), namespace("payments", nsLabels("team", "pay")),
			netpol("payments", "deny", denyAll), netpol("payments", "dns", dns), netpol("payments", "ingress", ingress)}
		return append(out, extra...)
	}
	foreign := func(policyType, dir, peers string, rule map[string]any) unstructured.Unstructured {
		return netpol("payments", "foreign", map[string]any{"podSelector": map[string]any{"matchLabels": map[string]any{"app": "api"}},
			"policyTypes": []any{policyType}, dir: []any{rule}})
	}
	pods := func(kv ...string) map[string]any {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return map[string]any{"matchLabels": m}
	}
	ports := func(protocol string, port, end int64) []any {
		p := map[string]any{"protocol": protocol, "port": port}
		if end > 0 {
			p["endPort"] = end
		}
		return []any{p}
	}
	tests := []struct {
		name string
		live []unstructured.Unstructured
		want []string // failures, as runCoverage writes them
		msg  string   // in the failure's message
	}{
		{"only the bundle's policies", live(), nil, ""},
		{"an allowance inside DNS: UDP 53 to the DNS pods", live(foreign("Egress", "egress", "to", map[string]any{
			"to": []any{map[string]any{"namespaceSelector": byName("kube-system"), "podSelector": pods("k8s-app", "kube-dns", "tier", "x")}}, "ports": ports("UDP", 53, 0)})), nil, ""},
		{"an allowance inside ingress: TCP 443 from the controller's pods", live(foreign("Ingress", "ingress", "from", map[string]any{
			"from":  []any{map[string]any{"namespaceSelector": map[string]any{"matchExpressions": []any{map[string]any{"key": "kubernetes.io/metadata.name", "operator": "In", "values": []any{"ingress-nginx"}}}}, "podSelector": pods("app", "controller")}},
			"ports": ports("TCP", 443, 0)})), nil, ""},
		{"an application's own allowance from the namespace's pods", live(foreign("Ingress", "ingress", "from", map[string]any{
			"from": []any{map[string]any{"podSelector": pods("app", "web")}}, "ports": ports("TCP", 8080, 0)})),
			[]string{"NET-01 NetworkPolicy payments/foreign"}, `ingress from {"podSelector":{"matchLabels":{"app":"web"}}} on TCP 8080`},
		{"ingress from namespaces by a team label", live(foreign("Ingress", "ingress", "from", map[string]any{
			"from": []any{map[string]any{"namespaceSelector": pods("team", "edge")}}})),
			[]string{"NET-01 NetworkPolicy payments/foreign"}, "on every port"},
		{"DNS ports widened with endPort", live(foreign("Egress", "egress", "to", map[string]any{
			"to": []any{map[string]any{"namespaceSelector": byName("kube-system"), "podSelector": pods("k8s-app", "kube-dns")}}, "ports": ports("UDP", 53, 65535)})),
			[]string{"NET-01 NetworkPolicy payments/foreign"}, "UDP 53-65535"},
		{"egress to a private range", live(foreign("Egress", "egress", "to", map[string]any{
			"to": []any{map[string]any{"ipBlock": map[string]any{"cidr": "10.0.0.0/8"}}}, "ports": ports("TCP", 5432, 0)})),
			[]string{"NET-01 NetworkPolicy payments/foreign"}, "TCP 5432"},
		{"DNS to every pod of the DNS namespace", live(foreign("Egress", "egress", "to", map[string]any{
			"to": []any{map[string]any{"namespaceSelector": byName("kube-system")}}, "ports": ports("UDP", 53, 0)})),
			[]string{"NET-01 NetworkPolicy payments/foreign"}, "UDP 53"},
		{"the ingress allowance gone", slices.DeleteFunc(live(), func(o unstructured.Unstructured) bool { return o.GetName() == "ingress" }),
			[]string{"NET-03 payments"}, "allows ingress from"},
		{"an ingress allowance in a policy that only lists Egress (Kubernetes ignores it)", append(slices.DeleteFunc(live(), func(o unstructured.Unstructured) bool { return o.GetName() == "ingress" }),
			netpol("payments", "egress-only", map[string]any{"podSelector": map[string]any{}, "policyTypes": []any{"Egress"}, "ingress": []any{map[string]any{
				"from": []any{map[string]any{"namespaceSelector": byName("ingress-nginx")}}}}})),
			[]string{"NET-03 payments"}, "allows ingress from"},
		{"the ingress allowance narrowed to one port by a foreign policy", append(slices.DeleteFunc(live(), func(o unstructured.Unstructured) bool { return o.GetName() == "ingress" }),
			netpol("payments", "narrow", map[string]any{"podSelector": map[string]any{}, "policyTypes": []any{"Ingress"}, "ingress": []any{map[string]any{
				"from": []any{map[string]any{"namespaceSelector": byName("ingress-nginx")}}, "ports": ports("TCP", 443, 0)}}})),
			[]string{"NET-03 payments"}, "on every port"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, r := runCoverageOf(t, bundleOf(), tc.live, testNow)
			// The bundle's own policies are missing from the index-less listing's point of
			// view only through matching, which runCoverage does not run.
			if !slices.Equal(got, tc.want) {
				t.Errorf("failures %q, want %q", got, tc.want)
			}
			if tc.msg == "" {
				return
			}
			found := false
			for _, f := range r.Findings {
				found = found || (f.Status == Fail && strings.Contains(f.Message, tc.msg))
			}
			if !found {
				t.Errorf("no failure says %q: %+v", tc.msg, r.Findings)
			}
		})
	}

	// An unexpired exception waiving NET-01 in the namespace lets its own allowances be,
	// reported as warnings naming it; an expired one does not.
	app := live(foreign("Ingress", "ingress", "from", map[string]any{"from": []any{map[string]any{"podSelector": pods("app", "web")}}}))
	exc := profile.Exception{Name: "web-to-api", Controls: []string{"NET-01"}, Namespaces: []string{"payments"}, Reason: "r", Expires: profile.Date{Time: testNow.AddDate(0, 1, 0)}}
	got, r := runCoverageOf(t, bundleOf(exc), app, testNow)
	if len(got) != 0 {
		t.Errorf("under exception web-to-api: failures %q", got)
	}
	warned := false
	for _, f := range r.Findings {
		warned = warned || (f.Status == Warn && strings.Contains(f.Message, "as exception web-to-api allows"))
	}
	if !warned {
		t.Errorf("no warning names the exception: %+v", r.Findings)
	}
	if got, _ := runCoverageOf(t, bundleOf(exc), app, testNow.AddDate(0, 2, 0)); !slices.Equal(got, []string{"NET-01 NetworkPolicy payments/foreign"}) {
		t.Errorf("after the exception expired: failures %q", got)
	}
}

// TestLegacyExceptionsNamingABundlePolicy: a kyverno.io/v2 PolicyException exempts nothing
// from CEL policies, but one that names a bundle policy is a waiver outside the profile.
func TestLegacyExceptionsNamingABundlePolicy(t *testing.T) {
	spec := coverageSpec()
	spec.Controls = append(spec.Controls, bundle.IndexControl{ID: "POD-03", TSC: []string{"CC6.8"}}, bundle.IndexControl{ID: "CHG-02", TSC: []string{"CC8.1"}})
	spec.Objects = []bundle.IndexObject{{File: "kyverno/validatingpolicy-p-pod-03.yaml", APIVersion: "policies.kyverno.io/v1", Kind: "ValidatingPolicy", Name: "p-pod-03", Controls: []string{"POD-03"}}}
	b := withPSA(t, spec, testPSA())
	b.Files["kyverno/validatingpolicy-p-pod-03.yaml"] = []byte(`{"apiVersion": "policies.kyverno.io/v1", "kind": "ValidatingPolicy", "metadata": {"name": "p-pod-03"}}`)
	legacy := func(name string, policies ...string) unstructured.Unstructured {
		var ex []any
		for _, p := range policies {
			ex = append(ex, map[string]any{"policyName": p, "ruleNames": []any{"*"}})
		}
		return u(map[string]any{"apiVersion": "kyverno.io/v2", "kind": "PolicyException", "metadata": map[string]any{"name": name, "namespace": "kyverno"},
			"spec": map[string]any{"exceptions": ex}})
	}
	in, err := prepare(b, Options{Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	v := &verifier{b: b, in: in, opts: Options{Now: testNow}, controls: map[string][]string{}, report: newReport(b, Options{}),
		live: map[schema.GroupKind][]unstructured.Unstructured{legacyExceptionGVK.GroupKind(): {
			legacy("names-ours", "p-pod-03"), legacy("names-ours-namespaced", "team/p-pod-03"), legacy("names-another", "disallow-latest")}}}
	for _, c := range spec.Controls {
		v.controls[c.ID] = c.TSC
	}
	v.foreignLegacyExceptions()
	var got []string
	for _, f := range v.report.Findings {
		if f.Status == Fail {
			got = append(got, strings.Join(f.Controls, ",")+" "+f.Object.Name)
		}
	}
	if want := []string{"CHG-02,POD-03 names-ours", "CHG-02,POD-03 names-ours-namespaced"}; !slices.Equal(got, want) {
		t.Errorf("failures %q, want %q", got, want)
	}
}
