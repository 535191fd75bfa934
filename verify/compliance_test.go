package verify

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"bulwark.dev/bulwark/bundle"
)

// TestCompliance: results map to controls through the bundle policy that produced them,
// whichever report API holds them, once per rule and resource; a skip under an expired
// exception is a failure; failing results warn, or fail under RequireCompliant.
func TestCompliance(t *testing.T) {
	spec := coverageSpec()
	spec.Controls = append(spec.Controls, bundle.IndexControl{ID: "POD-03", TSC: []string{"CC6.8"}}, bundle.IndexControl{ID: "POD-10", TSC: []string{"CC6.8"}},
		bundle.IndexControl{ID: "SUP-02", TSC: []string{"CC7.1"}})
	spec.Objects = []bundle.IndexObject{
		{File: "a.yaml", APIVersion: "policies.kyverno.io/v1", Kind: "ValidatingPolicy", Name: "p-pod-03", Controls: []string{"POD-03"}},
		{File: "b.yaml", APIVersion: "policies.kyverno.io/v1", Kind: "ValidatingPolicy", Name: "p-pod-03-ephemeralcontainers", Controls: []string{"POD-03"}},
		{File: "c.yaml", APIVersion: "policies.kyverno.io/v1", Kind: "ValidatingPolicy", Name: "p-pod-10", Controls: []string{"POD-10"}},
		{File: "d.yaml", APIVersion: "policies.kyverno.io/v1", Kind: "ValidatingPolicy", Name: "p-sup-02", Controls: []string{"SUP-02"}},
	}
	b := withPSA(t, spec, testPSA())
	for _, o := range spec.Objects {
		b.Files[o.File] = []byte(`{"apiVersion": "policies.kyverno.io/v1", "kind": "ValidatingPolicy", "metadata": {"name": "` + o.Name + `"}}`)
	}
	pod := func(ns, name string) map[string]any {
		return map[string]any{"apiVersion": "v1", "kind": "Pod", "namespace": ns, "name": name, "uid": ns + "-" + name}
	}
	result := func(policy, res, message string, props map[string]any) any {
		m := map[string]any{"policy": policy, "rule": policy, "result": res, "message": message}
		if props != nil {
			m["properties"] = props
		}
		return m
	}
	wgReport := func(subject map[string]any, results ...any) unstructured.Unstructured {
		return u(map[string]any{"apiVersion": "wgpolicyk8s.io/v1alpha2", "kind": "PolicyReport",
			"metadata": map[string]any{"name": subject["uid"], "namespace": subject["namespace"]}, "scope": subject, "results": results})
	}
	orReport := func(subject map[string]any, results ...any) unstructured.Unstructured {
		for _, r := range results {
			m := r.(map[string]any)
			m["description"] = m["message"]
			delete(m, "message")
			m["subjects"] = []any{subject}
		}
		return u(map[string]any{"apiVersion": "openreports.io/v1alpha1", "kind": "Report",
			"metadata": map[string]any{"name": subject["uid"], "namespace": subject["namespace"]}, "results": results})
	}
	exception := func(name, expires string) unstructured.Unstructured {
		return u(map[string]any{"apiVersion": "policies.kyverno.io/v1", "kind": "PolicyException",
			"metadata": map[string]any{"name": name, "namespace": "kyverno"}, "spec": map[string]any{"expiresAt": expires}})
	}
	live := map[schema.GroupKind][]unstructured.Unstructured{
		{Group: "wgpolicyk8s.io", Kind: "PolicyReport"}: {
			wgReport(pod("shop", "legacy"), result("p-pod-03", "fail", "POD-03: privileged", nil), result("p-pod-10", "pass", "", nil),
				result("someone-elses", "fail", "not ours", nil), result("p-sup-02", "skip", "", map[string]any{"exceptions": "old-waiver"})),
			wgReport(pod("shop", "web"), result("p-pod-03", "pass", "", nil), result("p-pod-10", "skip", "", map[string]any{"exceptions": "live-waiver"})),
		},
		// The same resource in the other API: counted once.
		{Group: "openreports.io", Kind: "Report"}: {
			orReport(pod("shop", "legacy"), result("p-pod-03", "fail", "POD-03: privileged", nil)),
			orReport(pod("search", "api"), result("p-pod-03-ephemeralcontainers", "fail", "POD-03: privileged debug container", nil)),
		},
		policyExceptionGVK.GroupKind(): {exception("old-waiver", "2026-01-01T00:00:00Z"), exception("live-waiver", "2027-06-01T00:00:00Z")},
	}
	run := func(opts Options) *verifier {
		opts.Now = testNow
		in, err := prepare(b, opts)
		if err != nil {
			t.Fatal(err)
		}
		v := &verifier{b: b, in: in, opts: opts, controls: map[string][]string{}, report: newReport(b, opts), live: live}
		for _, c := range spec.Controls {
			v.controls[c.ID] = c.TSC
		}
		v.compliance()
		return v
	}
	v := run(Options{})
	want := map[string]Compliance{
		"POD-03": {Pass: 1, Fail: 2, FailingTotal: 2},
		"POD-10": {Pass: 1, Skip: 1},
		"SUP-02": {Fail: 1, ExpiredSkips: 1, FailingTotal: 1},
	}
	if len(v.compliances) != len(want) {
		t.Errorf("compliance for %d controls, want %d: %+v", len(v.compliances), len(want), v.compliances)
	}
	for id, w := range want {
		got := v.compliances[id]
		if got == nil || got.Pass != w.Pass || got.Fail != w.Fail || got.Skip != w.Skip || got.ExpiredSkips != w.ExpiredSkips || got.FailingTotal != w.FailingTotal {
			t.Errorf("%s: %+v, want %+v", id, got, w)
		}
	}
	if f := v.compliances["POD-03"].Failing; len(f) != 2 || f[0].Namespace != "search" || f[1].Name != "legacy" || f[1].Policy != "p-pod-03" {
		t.Errorf("POD-03 failing %+v", f)
	}
	if ns := v.compliances["POD-03"].Namespaces; len(ns) != 2 || ns[1].Namespace != "shop" || ns[1].Fail != 1 || ns[1].Pass != 1 {
		t.Errorf("POD-03 by namespace %+v", ns)
	}
	if f := v.compliances["SUP-02"].Failing; len(f) != 1 || !strings.HasPrefix(f[0].Message, "exempted by exceptions no longer in force") {
		t.Errorf("SUP-02 failing %+v", f)
	}
	statuses := func(v *verifier) map[string]Status {
		out := map[string]Status{}
		for _, f := range v.report.Findings {
			if f.Check == CheckCompliance {
				out[f.Controls[0]] = f.Status
			}
		}
		return out
	}
	if got := statuses(v); got["POD-03"] != Warn || got["SUP-02"] != Warn || got["POD-10"] != Pass {
		t.Errorf("statuses %v: failing results warn by default", got)
	}
	if got := statuses(run(Options{RequireCompliant: true})); got["POD-03"] != Fail || got["SUP-02"] != Fail || got["POD-10"] != Pass {
		t.Errorf("statuses %v under RequireCompliant", got)
	}

	// What cannot hide a failure: a policy made unscored (Kyverno writes its failures as
	// warn), a pass through an exception that is gone or expired (reportResult: pass), a
	// stale pass beside a fresh failure, errors.
	live[schema.GroupKind{Group: "wgpolicyk8s.io", Kind: "PolicyReport"}] = []unstructured.Unstructured{
		wgReport(pod("shop", "a"), result("p-pod-03", "warn", "POD-03: privileged", nil), result("p-pod-10", "pass", "", map[string]any{"exceptions": "deleted-waiver"})),
		wgReport(pod("shop", "b"), result("p-sup-02", "error", "cannot evaluate", nil)),
	}
	live[schema.GroupKind{Group: "openreports.io", Kind: "Report"}] = []unstructured.Unstructured{
		orReport(pod("shop", "a"), result("p-pod-03", "pass", "", nil)), // stale, read first
	}
	v = run(Options{})
	if c := v.compliances["POD-03"]; c == nil || c.Fail != 1 || c.Pass != 0 {
		t.Errorf("POD-03 unscored and stale: %+v, want the failure", c)
	}
	if c := v.compliances["POD-10"]; c == nil || c.Fail != 1 || c.ExpiredSkips != 1 {
		t.Errorf("POD-10 passed through a deleted exception: %+v, want a failure", c)
	}
	if got := statuses(v); got["SUP-02"] != Warn {
		t.Errorf("SUP-02 with only errors: %v, want a warning", got)
	}
	if got := statuses(run(Options{RequireCompliant: true})); got["SUP-02"] != Fail {
		t.Errorf("SUP-02 with only errors under RequireCompliant: %v", got)
	}
}
