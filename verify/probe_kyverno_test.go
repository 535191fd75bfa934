package verify_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"

	"bulwark.dev/bulwark/catalogue"
	"bulwark.dev/bulwark/generators"
	"bulwark.dev/bulwark/internal/testenv"
	"bulwark.dev/bulwark/profile"
	"bulwark.dev/bulwark/verify"
)

// TestProbesAgainstRealKyverno runs verify --probe against a kube-apiserver (Pod Security
// admission on) with Kyverno's real admission, background and reports controllers (v1.19.1)
// enforcing the payments bundle, applied as Flux would. Every policy status verify reads is
// Kyverno's, every namespace label its MutatingPolicies'. cert-manager does not run here, so
// the test writes the Ready conditions its controller would; Kyverno's are never written.
//
// The payments profile's image signature keys are dropped: SUP-04 would fetch signatures
// from registries this machine cannot reach (generators/kyverno's
// TestRealKyvernoVerifiesImageSignatures runs it against a local registry).
func TestProbesAgainstRealKyverno(t *testing.T) {
	testenv.RequireServers(t)
	t.Parallel()
	c := testenv.StartCluster(t)
	k := testenv.StartKyverno(t, c)
	testenv.InstallCRDs(t, c.Config, "istio", "certmanager")
	e := &env{Client: testenv.NewClient(c.Config), t: t, ctx: context.Background(), c: c}
	cat, err := catalogue.Load()
	if err != nil {
		t.Fatal(err)
	}
	p, err := profile.Load(filepath.Join("..", "examples", "payments.yaml"), profile.LoadOptions{KnownControls: cat.IDSet(), Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	p.Spec.Images.SignatureKeys = nil
	if e.b, err = generators.Build(p, cat, "1.0.0"); err != nil {
		t.Fatal(err)
	}
	e.p = p
	e.Namespaces(t, "payments", "ledger", "legacy-batch", "istio-system", "cert-manager", "ingress-nginx")
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
	// The named namespaces predate the MutatingPolicies, which label them in the background
	// (mutateExisting) on Kyverno's schedule; an update, as any later change would, has
	// admission label them now.
	for _, name := range []string{"payments", "ledger", "legacy-batch"} {
		ns, err := e.Kube.CoreV1().Namespaces().Get(e.ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ns.Annotations = map[string]string{"bulwark.dev/touched": "for admission to label it"}
		e.must(e.Kube.CoreV1().Namespaces().Update(e.ctx, ns, metav1.UpdateOptions{}))
	}
	for _, o := range e.b.Index.Spec.Objects {
		if o.Kind == "ClusterIssuer" || o.Kind == "Certificate" {
			e.setCertManagerReady(o.Kind, o.Namespace, o.Name, "True")
		}
	}
	opts := verify.Options{Now: testNow, Probe: true}
	run := func() *verify.Report {
		t.Helper()
		r, err := verify.Run(e.ctx, c.Config, e.b, opts)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	// Kyverno labels the namespaces that predate its MutatingPolicies in the background.
	var r *verify.Report
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(time.Second) {
		if r = run(); r.Converged || time.Now().After(deadline) {
			break
		}
	}
	if !r.Converged {
		t.Fatalf("not converged with Kyverno's own statuses and labels: %v\n%s", failing(r), k.Logs(30))
	}
	probes := probeFindings(r)
	enforcing := 0
	for _, ic := range e.b.Index.Spec.Controls {
		if c, ok := cat.Get(ic.ID); ok && c.ProbeFixtures != nil && ic.Enforcement == "Enforce" {
			enforcing++
			f, ok := probes[ic.ID]
			switch {
			case !ok:
				t.Errorf("%s: no probe finding", ic.ID)
			case f.Status != verify.Pass:
				t.Errorf("%s: probe %s: %s", ic.ID, f.Status, f.Message)
			}
		}
	}
	if enforcing < 30 || len(probes) != enforcing {
		t.Errorf("%d probe findings for %d enforcing controls with fixtures", len(probes), enforcing)
	}
	t.Logf("%d controls probed and refused by the real admission controller: %d API calls", enforcing, r.Stats.APICalls)

	t.Run("probes leave the cluster as it was", func(t *testing.T) {
		before := snapshot(t, e)
		run()
		if after := snapshot(t, e); !equalSnapshots(t, before, after) {
			t.Error("the cluster changed during the probes")
		}
	})

	t.Run("a kyverno.io/v2 PolicyException naming a bundle policy", func(t *testing.T) {
		// Kyverno consults this kind for ClusterPolicies only: the POD-03 probe is still
		// refused, and verify reports the waiver written outside the profile.
		legacy := obj("kyverno.io/v2", "PolicyException", "kyverno", "legacy-pod-03", map[string]any{
			"exceptions": []any{map[string]any{"policyName": "payments-soc2-pod-03", "ruleNames": []any{"*"}}},
			"match":      map[string]any{"any": []any{map[string]any{"resources": map[string]any{"kinds": []any{"Pod", "Deployment"}}}}}})
		e.apply(legacy)
		defer e.delete(legacy)
		r := run()
		expectOnly(t, r, "foreign CHG-02,POD-03 PolicyException kyverno/legacy-pod-03: kyverno.io/v2 PolicyException kyverno/legacy-pod-03 is not in the bundle and names ValidatingPolicy payments-soc2-pod-03")
		if f := probeFindings(r)["POD-03"]; f.Status != verify.Pass {
			t.Errorf("POD-03 probe under a kyverno.io/v2 exception: %s %s", f.Status, f.Message)
		}
	})

	t.Run("a policy's scope narrowed", func(t *testing.T) {
		// As the GitOps identity: CHG-02 refuses anyone else's change to a bundle policy.
		gitops, err := testenv.NewClient(c.UserConfig(t, "system:serviceaccount:flux-system:kustomize-controller", "system:masters")).Resource(
			schema.GroupVersionKind{Group: "policies.kyverno.io", Version: "v1", Kind: "ValidatingPolicy"}, "")
		if err != nil {
			t.Fatal(err)
		}
		ri := gitops
		orig, err := ri.Get(e.ctx, "payments-soc2-pod-03", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		narrowed := orig.DeepCopy()
		unstructured.SetNestedField(narrowed.Object, map[string]any{"matchLabels": map[string]any{"never": "true"}}, "spec", "matchConstraints", "namespaceSelector")
		e.must(ri.Update(e.ctx, narrowed, metav1.UpdateOptions{}))
		defer func() {
			cur, err := ri.Get(e.ctx, orig.GetName(), metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			back := orig.DeepCopy()
			back.SetResourceVersion(cur.GetResourceVersion())
			delete(back.Object, "status")
			e.must(ri.Update(e.ctx, back, metav1.UpdateOptions{}))
			waitProbes(t, run, func(p map[string]verify.Finding) bool { return p["POD-03"].Status == verify.Pass }, "POD-03 enforced again")
		}()
		r := waitProbes(t, run, func(p map[string]verify.Finding) bool { return p["POD-03"].Status == verify.Fail }, "POD-03 not enforced")
		f := probeFindings(r)["POD-03"]
		// The fixture breaks POD-15 as well (a valid privileged container escalates): only
		// POD-15 answered, every time.
		if !strings.Contains(f.Message, "POD-03 is not enforced: its deny probe deny-privileged-escalating.yaml (a Deployment bulwark-probe-privileged-escalating-") ||
			!strings.Contains(f.Message, " in namespace legacy-batch, as a server-side dry run) was refused 17 times, each time only by POD-15") {
			t.Errorf("POD-03 probe: %s", f.Message)
		}
		for id, f := range probeFindings(r) {
			if id != "POD-03" && f.Status != verify.Pass {
				t.Errorf("%s: probe %s with only POD-03 narrowed: %s", id, f.Status, f.Message)
			}
		}
	})

	t.Run("Kyverno's webhook configurations deleted", func(t *testing.T) {
		// The admission controller would register them again at once: pause it first, as a
		// hung replica would be.
		resume := k.Pause(t, "kyverno-admission-controller")
		for _, kind := range []string{"validatingwebhookconfigurations", "mutatingwebhookconfigurations"} {
			ri := e.Dyn.Resource(schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: kind})
			list, err := ri.List(e.ctx, metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range list.Items {
				if strings.Contains(w.GetName(), "kyverno") {
					e.must(nil, ri.Delete(e.ctx, w.GetName(), metav1.DeleteOptions{}))
				}
			}
		}
		r := run()
		for _, ic := range e.b.Index.Spec.Controls {
			if c, ok := cat.Get(ic.ID); !ok || c.ProbeFixtures == nil || ic.Enforcement != "Enforce" {
				continue
			}
			if f := probeFindings(r)[ic.ID]; f.Status != verify.Fail || !strings.Contains(f.Message, ic.ID+" is not enforced") {
				t.Errorf("%s with no webhook: probe %s: %s", ic.ID, f.Status, f.Message)
			}
		}
		resume()
		waitProbes(t, run, func(p map[string]verify.Finding) bool {
			for _, f := range p {
				if f.Status != verify.Pass {
					return false
				}
			}
			return true
		}, "every control enforced again after Kyverno re-registered its webhooks")
	})
}

func probeFindings(r *verify.Report) map[string]verify.Finding {
	out := map[string]verify.Finding{}
	for _, f := range r.Findings {
		if f.Check == verify.CheckProbe && len(f.Controls) == 1 {
			out[f.Controls[0]] = f
		}
	}
	return out
}

// waitProbes runs verify until the probe findings satisfy ok (Kyverno reconciles its
// webhooks and policy cache asynchronously).
func waitProbes(t *testing.T, run func() *verify.Report, ok func(map[string]verify.Finding) bool, what string) *verify.Report {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		r := run()
		if ok(probeFindings(r)) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: probes %v", what, probeFindings(r))
		}
		time.Sleep(time.Second)
	}
}

func obj(apiVersion, kind, ns, name string, spec map[string]any) *unstructured.Unstructured {
	md := map[string]any{"name": name}
	if ns != "" {
		md["namespace"] = ns
	}
	return &unstructured.Unstructured{Object: map[string]any{"apiVersion": apiVersion, "kind": kind, "metadata": md, "spec": spec}}
}

func (e *env) delete(o *unstructured.Unstructured) {
	e.must(nil, e.resource(o.GroupVersionKind(), o.GetNamespace()).Delete(e.ctx, o.GetName(), metav1.DeleteOptions{}))
}

// volatile are kinds the cluster's own controllers write on their own schedule (leases
// renewed, events, Kyverno's reports and background requests), left out of the snapshot.
var volatile = map[string]bool{
	"coordination.k8s.io/leases": true, "/events": true, "events.k8s.io/events": true,
	"reports.kyverno.io/ephemeralreports": true, "reports.kyverno.io/clusterephemeralreports": true,
	"wgpolicyk8s.io/policyreports": true, "wgpolicyk8s.io/clusterpolicyreports": true,
	"kyverno.io/updaterequests": true,
}

// snapshot lists every object of every listable kind, as JSON by kind/namespace/name.
func snapshot(t *testing.T, e *env) map[string]string {
	t.Helper()
	disc, err := discovery.NewDiscoveryClientForConfig(e.c.Config)
	if err != nil {
		t.Fatal(err)
	}
	lists, err := disc.ServerPreferredResources()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, l := range lists {
		gv, _ := schema.ParseGroupVersion(l.GroupVersion)
		for _, res := range l.APIResources {
			if strings.Contains(res.Name, "/") || !contains(res.Verbs, "list") || volatile[gv.Group+"/"+res.Name] {
				continue
			}
			items, err := e.Dyn.Resource(gv.WithResource(res.Name)).List(e.ctx, metav1.ListOptions{})
			if err != nil {
				t.Fatalf("listing %s: %v", res.Name, err)
			}
			for _, it := range items.Items {
				data, err := json.Marshal(it.Object)
				if err != nil {
					t.Fatal(err)
				}
				out[gv.Group+"/"+res.Name+"/"+it.GetNamespace()+"/"+it.GetName()] = string(data)
			}
		}
	}
	return out
}

func equalSnapshots(t *testing.T, before, after map[string]string) bool {
	t.Helper()
	same := true
	keys := map[string]bool{}
	for k := range before {
		keys[k] = true
	}
	for k := range after {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		if before[k] != after[k] {
			same = false
			t.Errorf("%s changed:\nbefore %.300s\nafter  %.300s", k, before[k], after[k])
		}
	}
	t.Logf("%d objects compared", len(keys))
	return same
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
