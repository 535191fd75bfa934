package verify_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"bulwark.dev/bulwark/catalogue"
	"bulwark.dev/bulwark/generators"
	"bulwark.dev/bulwark/internal/testenv"
	"bulwark.dev/bulwark/profile"
	"bulwark.dev/bulwark/verify"
)

// TestComplianceFromRealKyvernoReports applies the brownfield-audit bundle (Audit) with
// Kyverno's real admission, background and reports controllers, runs known non-compliant
// pods (catalogue fixtures) in an in-scope namespace, and checks that verify reports exactly
// those pods under exactly their controls, with the counts of the PolicyReports Kyverno's
// reports controller wrote; and that a result skipped by an exception counts as a failure
// once the exception has expired.
func TestComplianceFromRealKyvernoReports(t *testing.T) {
	testenv.RequireServers(t)
	t.Parallel()
	c := testenv.StartCluster(t)
	k := testenv.StartKyverno(t, c)
	e := &env{Client: testenv.NewClient(c.Config), t: t, ctx: context.Background(), c: c}
	cat, err := catalogue.Load()
	if err != nil {
		t.Fatal(err)
	}
	p, err := profile.Load(filepath.Join("..", "examples", "brownfield-audit.yaml"), profile.LoadOptions{KnownControls: cat.IDSet(), Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	expires := time.Date(2027, 1, 31, 0, 0, 0, 0, time.UTC)
	p.Spec.Exceptions = append(p.Spec.Exceptions, profile.Exception{Name: "tag-freeze", Controls: []string{"SUP-02"}, Namespaces: []string{"search"},
		Reason: "search pins a mutable tag until its pipeline moves", Ticket: "SEC-9", Expires: profile.Date{Time: expires}})
	if e.b, err = generators.Build(p, cat, "1.0.0"); err != nil {
		t.Fatal(err)
	}
	e.Namespaces(t, "shop", "search")
	var applied []*unstructured.Unstructured
	for _, o := range e.b.Index.Spec.Objects {
		objs, err := testenv.DecodeYAML(e.b.Files[o.File])
		if err != nil || len(objs) != 1 {
			t.Fatalf("%s: %v", o.File, err)
		}
		if err := e.Apply(e.ctx, objs[0], false); err != nil {
			t.Fatalf("applying %s: %v", o.File, err)
		}
		applied = append(applied, objs[0])
	}
	k.WaitPoliciesReady(t, e.Client, applied, 3*time.Minute)

	// Pods whose violations the catalogue knows (each fixture breaks its control and the
	// ones it names in probeFixtures.alsoBreaks), and one that breaks nothing.
	fixture := func(id, file, ns string) *unstructured.Unstructured {
		data, err := catalogue.Fixture(id, file)
		if err != nil {
			t.Fatal(err)
		}
		objs, err := testenv.DecodeYAML(data)
		if err != nil {
			t.Fatal(err)
		}
		objs[0].SetNamespace(ns)
		return objs[0]
	}
	pods := []struct {
		obj   *unstructured.Unstructured
		fails []string
	}{
		{fixture("POD-03", "deny-privileged-escalating.yaml", "shop"), []string{"POD-03", "POD-15"}},
		{fixture("SUP-02", "deny-latest.yaml", "shop"), []string{"SUP-02"}},
		{fixture("POD-10", "admit-compliant.yaml", "shop"), nil},
		// Waived by tag-freeze in search: skipped while it holds, a failure once it expired.
		{fixture("SUP-02", "deny-latest.yaml", "search"), nil},
	}
	want := map[string][]string{} // control -> failing pods, NAMESPACE/NAME
	for _, pd := range pods {
		ri := e.resource(pd.obj.GroupVersionKind(), pd.obj.GetNamespace())
		if _, err := ri.Create(e.ctx, pd.obj, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating pod %s/%s (Audit mode admits it): %v", pd.obj.GetNamespace(), pd.obj.GetName(), err)
		}
		for _, id := range pd.fails {
			want[id] = append(want[id], pd.obj.GetNamespace()+"/"+pd.obj.GetName())
		}
	}
	run := func(now time.Time) *verify.Report {
		t.Helper()
		r, err := verify.Run(e.ctx, c.Config, e.b, verify.Options{Now: now})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	failingOf := func(r *verify.Report) map[string][]string {
		out := map[string][]string{}
		for _, cr := range r.Controls {
			if cr.Compliance == nil {
				continue
			}
			for _, f := range cr.Compliance.Failing {
				out[cr.ID] = append(out[cr.ID], f.Namespace+"/"+f.Name)
			}
			sort.Strings(out[cr.ID])
		}
		return out
	}
	// The reports controller aggregates admission and background results on its own
	// schedule: wait until every pod has a report and verify's failing resources are the
	// expected ones, with the counts of Kyverno's own reports read just after.
	var r *verify.Report
	deadline := time.Now().Add(6 * time.Minute)
	for {
		r = run(testNow)
		problem := ""
		switch {
		case !equalFailing(failingOf(r), want):
			problem = "failing resources differ"
		case !reportedEveryPod(t, e, len(pods)):
			problem = "not every pod reported"
		default:
			tally := tallyReports(t, e)
			for _, cr := range r.Controls {
				if cr.Compliance == nil {
					continue
				}
				if got := [3]int{cr.Compliance.Pass, cr.Compliance.Fail, cr.Compliance.Skip}; got != tally[cr.ID] {
					problem = fmt.Sprintf("%s: verify counts pass/fail/skip %v, Kyverno's reports %v", cr.ID, got, tally[cr.ID])
				}
				delete(tally, cr.ID)
			}
			if len(tally) > 0 && problem == "" {
				problem = fmt.Sprintf("controls with results in Kyverno's reports that verify does not report: %v", tally)
			}
		}
		if problem == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: verify's failing resources %v, want %v\n%s", problem, failingOf(r), want, k.Logs(20))
		}
		time.Sleep(5 * time.Second)
	}
	t.Logf("verify's compliance equals Kyverno's reports: %v", failingOf(r))
	if !r.Converged {
		t.Errorf("failing results are warnings without --require-compliant: %v", failing(r))
	}
	if sup := compliance(r, "SUP-02"); sup == nil || sup.Skip != 1 || sup.ExpiredSkips != 0 {
		t.Errorf("SUP-02 in search under tag-freeze: %+v, want one skip", sup)
	}

	t.Run("require compliant", func(t *testing.T) {
		rr, err := verify.Run(e.ctx, c.Config, e.b, verify.Options{Now: testNow, RequireCompliant: true})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, f := range rr.Findings {
			if f.Status == verify.Fail {
				got = append(got, f.Controls[0])
			}
		}
		if !slices.Equal(got, []string{"POD-03", "POD-15", "SUP-02"}) || rr.Converged {
			t.Errorf("failing %v (converged %v), want the controls with failing results", failing(rr), rr.Converged)
		}
	})

	t.Run("an expired exception's skips are failures", func(t *testing.T) {
		later := run(expires.AddDate(0, 1, 0))
		sup := compliance(later, "SUP-02")
		if sup == nil || sup.Skip != 0 || sup.ExpiredSkips != 1 || sup.Fail != 2 {
			t.Fatalf("SUP-02 after tag-freeze expired: %+v", sup)
		}
		if got := failingOf(later)["SUP-02"]; !slices.Equal(got, []string{"search/latest", "shop/latest"}) {
			t.Errorf("SUP-02 failing %v", got)
		}
	})
}

func compliance(r *verify.Report, id string) *verify.Compliance {
	for _, cr := range r.Controls {
		if cr.ID == id {
			return cr.Compliance
		}
	}
	return nil
}

func equalFailing(got, want map[string][]string) bool {
	if len(got) != len(want) {
		return false
	}
	for id, w := range want {
		w = slices.Sorted(slices.Values(w))
		if !slices.Equal(got[id], w) {
			return false
		}
	}
	return true
}

var policyReportGVK = schema.GroupVersionKind{Group: "wgpolicyk8s.io", Version: "v1alpha2", Kind: "PolicyReport"}

// reportedEveryPod reports whether each pod has a PolicyReport.
func reportedEveryPod(t *testing.T, e *env, pods int) bool {
	list, err := e.resource(policyReportGVK, "").List(e.ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, rep := range list.Items {
		if kind, _, _ := unstructured.NestedString(rep.Object, "scope", "kind"); kind == "Pod" {
			n++
		}
	}
	return n >= pods
}

// tallyReports counts the results of Kyverno's PolicyReports per control (by the bundle
// policy name's control suffix), as pass, fail, skip.
func tallyReports(t *testing.T, e *env) map[string][3]int {
	list, err := e.resource(policyReportGVK, "").List(e.ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cluster, err := e.resource(schema.GroupVersionKind{Group: "wgpolicyk8s.io", Version: "v1alpha2", Kind: "ClusterPolicyReport"}, "").List(e.ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	list.Items = append(list.Items, cluster.Items...)
	controls := map[string][]string{}
	for _, o := range e.b.Index.Spec.Objects {
		controls[o.Name] = o.Controls
	}
	out := map[string][3]int{}
	for _, rep := range list.Items {
		results, _, _ := unstructured.NestedSlice(rep.Object, "results")
		for _, res := range results {
			m, _ := res.(map[string]any)
			policy, _ := m["policy"].(string)
			for _, id := range controls[policy] {
				if !strings.Contains(policy, "brownfield-audit-") {
					continue
				}
				c := out[id]
				switch m["result"] {
				case "pass":
					c[0]++
				case "fail":
					c[1]++
				case "skip":
					c[2]++
				}
				out[id] = c
			}
		}
	}
	return out
}
