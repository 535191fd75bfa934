package verify_test

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"bulwark.dev/bulwark/bundle"
	"bulwark.dev/bulwark/bundle/oci"
	"bulwark.dev/bulwark/catalogue"
	"bulwark.dev/bulwark/generators"
	"bulwark.dev/bulwark/generators/network"
	"bulwark.dev/bulwark/internal/exitcode"
	"bulwark.dev/bulwark/internal/testenv"
	"bulwark.dev/bulwark/profile"
	"bulwark.dev/bulwark/verify"
)

// One real etcd + kube-apiserver for the package's tests (the benchmark starts its own:
// its 2,000 namespaces would change what the tests judge).
func TestMain(m *testing.M) { testenv.Main(m) }

// The reference time of the tests: both example exceptions hold, neither within 30 days.
var testNow = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

// env is a real cluster with the payments bundle applied and the statuses the absent
// controllers (Kyverno, cert-manager, Flux) would write.
type env struct {
	*testenv.Client
	t      testing.TB
	ctx    context.Context
	c      *testenv.Cluster
	p      *profile.Profile
	b      *bundle.Bundle
	digest string
}

// buildEnv builds the example's bundle (the generators are a test dependency only: verify
// itself works from the bundle) for cluster c, with the upstream CRDs installed.
func buildEnv(t testing.TB, c *testenv.Cluster, example string) *env {
	t.Helper()
	testenv.InstallCRDs(t, c.Config)
	e := &env{Client: testenv.NewClient(c.Config), t: t, ctx: context.Background(), c: c}
	cat, err := catalogue.Load()
	if err != nil {
		t.Fatal(err)
	}
	p, err := profile.Load(filepath.Join("..", "examples", example+".yaml"), profile.LoadOptions{KnownControls: cat.IDSet(), Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	e.p = p
	if e.b, err = generators.Build(p, cat, "1.0.0"); err != nil {
		t.Fatal(err)
	}
	d, err := oci.Digest(e.b, oci.PackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e.digest = d.String()
	return e
}

// podSecurity are the Pod Security labels the payments bundle's POD-00 MutatingPolicy gives
// a namespace that enforces level.
func podSecurity(level string) map[string]string {
	return map[string]string{
		"pod-security.kubernetes.io/enforce": level, "pod-security.kubernetes.io/enforce-version": "v1.37",
		"pod-security.kubernetes.io/warn": "restricted", "pod-security.kubernetes.io/warn-version": "v1.37",
		"pod-security.kubernetes.io/audit": "restricted", "pod-security.kubernetes.io/audit-version": "v1.37",
	}
}

// withLabels adds key-value pairs to labels.
func withLabels(labels map[string]string, kv ...string) map[string]string {
	for i := 0; i+1 < len(kv); i += 2 {
		labels[kv[i]] = kv[i+1]
	}
	return labels
}

var (
	sharedEnv  *env
	sharedOnce sync.Once
)

// newEnv returns the package's one applied environment.
func newEnv(t *testing.T) *env {
	t.Helper()
	testenv.RequireServers(t)
	sharedOnce.Do(func() {
		e := buildEnv(t, testenv.SharedCluster(t), "payments")
		// Namespaces as Kyverno's MutatingPolicies would have labelled them.
		psa := func(level string) map[string]string {
			return withLabels(podSecurity(level), "istio-injection", "enabled")
		}
		for name, l := range map[string]map[string]string{
			"payments": psa("restricted"), "ledger": psa("restricted"), "legacy-batch": psa("baseline"),
			"istio-system": nil, "cert-manager": nil, "kyverno": nil, "flux-system": nil,
		} {
			e.must(e.Kube.CoreV1().Namespaces().Create(e.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}}, metav1.CreateOptions{}))
		}
		e.applyBundle()
		e.fluxObjects(e.digest)
		sharedEnv = e
	})
	if sharedEnv == nil {
		t.Fatal("the shared environment failed to start in an earlier test")
	}
	sharedEnv.t = t
	return sharedEnv
}

// applyBundle applies every bundle object and writes the statuses Kyverno and cert-manager
// would report.
func (e *env) applyBundle() {
	for _, o := range e.b.Index.Spec.Objects {
		e.applyFile(o.File)
	}
	for _, o := range e.b.Index.Spec.Objects {
		switch {
		case strings.HasPrefix(o.APIVersion, "policies.kyverno.io/") && o.Kind != "PolicyException":
			e.setPolicyReady(o.Kind, o.Name, true)
		case strings.HasPrefix(o.APIVersion, "cert-manager.io/"):
			e.setCertManagerReady(o.Kind, o.Namespace, o.Name, "True")
		}
	}
}

func (e *env) must(_ any, err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) resource(gvk schema.GroupVersionKind, ns string) dynamic.ResourceInterface {
	e.t.Helper()
	ri, err := e.Resource(gvk, ns)
	if err != nil {
		e.t.Fatal(err)
	}
	return ri
}

func (e *env) apply(obj *unstructured.Unstructured) {
	e.t.Helper()
	if err := e.Apply(e.ctx, obj, false); err != nil {
		e.t.Fatalf("applying %s %s: %v", obj.GetKind(), obj.GetName(), err)
	}
}

func (e *env) applyFile(file string) {
	e.t.Helper()
	objs, err := testenv.DecodeYAML(e.b.Files[file])
	if err != nil {
		e.t.Fatal(err)
	}
	e.apply(objs[0])
}

func (e *env) setStatus(gvk schema.GroupVersionKind, ns, name string, status map[string]any) {
	e.t.Helper()
	ri := e.resource(gvk, ns)
	obj, err := ri.Get(e.ctx, name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	obj.Object["status"] = status
	if _, err := ri.UpdateStatus(e.ctx, obj, metav1.UpdateOptions{}); err != nil {
		e.t.Fatalf("status of %s %s: %v", gvk.Kind, name, err)
	}
}

// setPolicyReady writes status as Kyverno's policies.kyverno.io/v1 ConditionStatus has it.
// Kyverno does not run in this suite: its webhooks would refuse the suite's edits of bundle
// policies (CHG-02) and its MutatingPolicy would relabel the namespaces the failure modes
// lower, so each edit could not be seen alone. The status is verify's input here; in the
// GitOps end to end (bundle/fluxcompat) Kyverno's real controllers write it and no test does.
func (e *env) setPolicyReady(kind, name string, ready bool) {
	e.t.Helper()
	st := "True"
	if !ready {
		st = "False"
	}
	e.setStatus(schema.GroupVersionKind{Group: "policies.kyverno.io", Version: "v1", Kind: kind}, "", name, map[string]any{
		"conditionStatus": map[string]any{"ready": ready, "conditions": []any{map[string]any{
			"type": "WebhookConfigured", "status": st, "reason": "Succeeded", "message": "Webhook configured.", "lastTransitionTime": "2026-11-24T00:00:00Z"}}},
	})
}

func (e *env) setCertManagerReady(kind, ns, name, status string) {
	e.t.Helper()
	e.setStatus(schema.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: kind}, ns, name,
		map[string]any{"conditions": []any{map[string]any{"type": "Ready", "status": status, "reason": "KeyPairVerified", "message": "ok",
			"lastTransitionTime": "2026-11-24T00:00:00Z"}}})
}

func (e *env) fluxObjects(digest string) {
	e.t.Helper()
	repo := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
		"metadata": map[string]any{"name": "payments", "namespace": "flux-system"},
		"spec":     map[string]any{"url": "oci://registry.example/policies/payments", "interval": "5m", "ref": map[string]any{"tag": "1.0.0"}},
	}}
	kust := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
		"metadata": map[string]any{"name": "payments", "namespace": "flux-system"},
		"spec":     map[string]any{"interval": "5m", "prune": true, "path": "./", "sourceRef": map[string]any{"kind": "OCIRepository", "name": "payments"}},
	}}
	e.apply(repo)
	e.apply(kust)
	e.setFlux(digest, digest)
}

// setFlux writes what source-controller and kustomize-controller report: the revision
// names the OCI manifest digest; artifact.digest is the stored tarball's own digest.
func (e *env) setFlux(served, applied string) {
	e.t.Helper()
	ready := []any{map[string]any{"type": "Ready", "status": "True", "reason": "Succeeded", "message": "ok", "lastTransitionTime": "2026-11-24T00:00:00Z"}}
	tarball := "sha256:" + strings.Repeat("7", 64)
	e.setStatus(schema.GroupVersionKind{Group: "source.toolkit.fluxcd.io", Version: "v1", Kind: "OCIRepository"}, "flux-system", "payments", map[string]any{
		"conditions": ready, "observedGeneration": int64(1),
		"artifact": map[string]any{"digest": tarball, "revision": "1.0.0@" + served, "path": "x", "url": "http://x", "lastUpdateTime": "2026-11-24T00:00:00Z"},
	})
	e.setStatus(schema.GroupVersionKind{Group: "kustomize.toolkit.fluxcd.io", Version: "v1", Kind: "Kustomization"}, "flux-system", "payments", map[string]any{
		"conditions": ready, "lastAppliedRevision": "1.0.0@" + applied, "observedGeneration": int64(1),
	})
}

func (e *env) options() verify.Options {
	return verify.Options{Cluster: "test", Digest: e.digest, Flux: &verify.NamespacedName{Namespace: "flux-system", Name: "payments"}, Now: testNow}
}

func (e *env) verify(cfg *rest.Config, now time.Time) (*verify.Report, error) {
	o := e.options()
	if !now.IsZero() {
		o.Now = now
	}
	return verify.Run(e.ctx, cfg, e.b, o)
}

// check verifies as the admin; a cluster that cannot be checked fails the test.
func (e *env) check(t *testing.T) *verify.Report {
	t.Helper()
	r, err := e.verify(e.c.Config, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// failing returns the failing findings, as "CHECK CONTROLS KIND NS/NAME: message".
func failing(r *verify.Report) []string {
	var out []string
	for _, f := range r.Findings {
		if f.Status != verify.Fail {
			continue
		}
		obj := ""
		if f.Object != nil {
			obj = f.Object.Kind + " " + f.Object.Namespace + "/" + f.Object.Name
		}
		out = append(out, string(f.Check)+" "+strings.Join(f.Controls, ",")+" "+obj+": "+f.Message)
	}
	return out
}

// expectOnly asserts the report is not converged (exit 1), every want names a failing
// finding, and every failing finding is named by a want: exactly the object, namespace
// and control broken, nothing else.
func expectOnly(t *testing.T, r *verify.Report, wants ...string) {
	t.Helper()
	if r.Converged {
		t.Fatalf("converged, want failures naming %v", wants)
	}
	fails := failing(r)
	for _, w := range wants {
		found := false
		for _, f := range fails {
			found = found || strings.Contains(f, w)
		}
		if !found {
			t.Errorf("no failing finding names %q; failures:\n%s", w, strings.Join(fails, "\n"))
		}
	}
	for _, f := range fails {
		ok := false
		for _, w := range wants {
			ok = ok || strings.Contains(f, w)
		}
		if !ok {
			t.Errorf("unexpected failure: %s", f)
		}
	}
	for _, f := range r.Findings {
		if f.Status == verify.Fail && f.Object != nil && !strings.HasPrefix(f.Command, "kubectl get ") {
			t.Errorf("failure %q has no kubectl command", f.Message)
		}
	}
}

func expectConverged(t *testing.T, r *verify.Report) {
	t.Helper()
	if !r.Converged {
		t.Fatalf("not converged:\n%s", strings.Join(failing(r), "\n"))
	}
}

var (
	netpolGVK = schema.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicy"}
	paGVK     = schema.GroupVersionKind{Group: "security.istio.io", Version: "v1", Kind: "PeerAuthentication"}
)

func TestConverged(t *testing.T) {
	e := newEnv(t)
	// Record every request, to prove verify LISTs kinds and never GETs a bundle object.
	var mu sync.Mutex
	var requests []string
	cfg := rest.CopyConfig(e.c.Config)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			mu.Lock()
			requests = append(requests, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery)
			mu.Unlock()
			return rt.RoundTrip(r)
		})
	})
	r, err := e.verify(cfg, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	expectConverged(t, r)
	if r.Stats.Namespaces != 3 {
		t.Errorf("%d namespaces in scope, want payments, ledger, legacy-batch", r.Stats.Namespaces)
	}
	if r.Stats.APICalls != int64(len(requests)) || r.Stats.Bytes == 0 {
		t.Errorf("stats %+v, but %d requests were sent", r.Stats, len(requests))
	}
	kinds := map[string]bool{}
	for _, o := range e.b.Index.Spec.Objects {
		kinds[o.APIVersion+"/"+o.Kind] = true
	}
	// Each kind is one LIST (the bundle's, Namespaces, nothing else the plan does not need).
	if r.Stats.Lists != len(kinds)+1 {
		t.Errorf("%d LISTs for %d bundle kinds and Namespaces", r.Stats.Lists, len(kinds))
	}
	names := map[string]bool{}
	for _, o := range e.b.Index.Spec.Objects {
		names[o.Name] = true
	}
	lists := 0
	for _, req := range requests {
		path, query, _ := strings.Cut(req, "?")
		if !strings.HasPrefix(path, "GET ") {
			t.Errorf("verify wrote: %s", req)
		}
		if names[path[strings.LastIndex(path, "/")+1:]] {
			t.Errorf("verify read a bundle object by name: %s", req)
		}
		if strings.Contains(query, "limit=") {
			lists++
		}
	}
	if lists != r.Stats.Lists {
		t.Errorf("%d paginated LIST requests, %d kinds listed:\n%s", lists, r.Stats.Lists, strings.Join(requests, "\n"))
	}
	for _, f := range r.Findings {
		if len(f.Controls) > 0 && len(f.TSC) == 0 && f.Check != verify.CheckGitOps {
			t.Errorf("finding %q has controls %v but no TSC points", f.Message, f.Controls)
		}
	}

	// Small pages: the same verdict, more requests, the same kinds.
	o := e.options()
	o.PageSize = 5
	paged, err := verify.Run(e.ctx, e.c.Config, e.b, o)
	if err != nil {
		t.Fatal(err)
	}
	expectConverged(t, paged)
	if paged.Stats.Lists != r.Stats.Lists || paged.Stats.APICalls <= r.Stats.APICalls || paged.Stats.Objects != r.Stats.Objects {
		t.Errorf("paged stats %+v, unpaged %+v", paged.Stats, r.Stats)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestFailureModes(t *testing.T) {
	e := newEnv(t)

	t.Run("deleted NetworkPolicy", func(t *testing.T) {
		if err := e.resource(netpolGVK, "payments").Delete(e.ctx, "bulwark-default-deny", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		defer e.applyFile("network/payments/networkpolicy-bulwark-default-deny.yaml")
		expectOnly(t, e.check(t), "present NET-01 NetworkPolicy payments/bulwark-default-deny", "coverage NET-01 Namespace /payments")
	})

	t.Run("a NetworkPolicy beside the bundle's that allows everything", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			spec map[string]any
			want string
		}{
			{"allow-all", map[string]any{"podSelector": map[string]any{}, "policyTypes": []any{"Ingress", "Egress"},
				"ingress": []any{map[string]any{}}, "egress": []any{map[string]any{}}}, "ingress from anywhere on every port and egress to anywhere on every port"},
			{"allow-internet", map[string]any{"podSelector": map[string]any{"matchLabels": map[string]any{"app": "api"}}, "policyTypes": []any{"Egress"},
				"egress": []any{map[string]any{"to": []any{map[string]any{"ipBlock": map[string]any{"cidr": "0.0.0.0/0"}}}}}}, "egress to anywhere on every port"},
			{"allow-every-namespace", map[string]any{"podSelector": map[string]any{}, "policyTypes": []any{"Ingress"},
				"ingress": []any{map[string]any{"from": []any{map[string]any{"namespaceSelector": map[string]any{}}}}}}, "ingress from anywhere on every port"},
		} {
			np := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
				"metadata": map[string]any{"name": tc.name, "namespace": "payments"}, "spec": tc.spec}}
			e.apply(np)
			expectOnly(t, e.check(t), "coverage NET-01 NetworkPolicy payments/"+tc.name+": NetworkPolicy payments/"+tc.name+" allows "+tc.want)
			e.must(nil, e.resource(netpolGVK, "payments").Delete(e.ctx, tc.name, metav1.DeleteOptions{}))
		}
		// An application's narrower allowance still opens more than the bundle allows: it
		// fails NET-01 unless an exception of the profile waives NET-01 there.
		np := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
			"metadata": map[string]any{"name": "api-from-web", "namespace": "payments"}, "spec": map[string]any{
				"podSelector": map[string]any{"matchLabels": map[string]any{"app": "api"}}, "policyTypes": []any{"Ingress"},
				"ingress": []any{map[string]any{"from": []any{map[string]any{"podSelector": map[string]any{"matchLabels": map[string]any{"app": "web"}}}},
					"ports": []any{map[string]any{"port": int64(8080)}}}}}}}
		e.apply(np)
		defer e.resource(netpolGVK, "payments").Delete(e.ctx, "api-from-web", metav1.DeleteOptions{})
		expectOnly(t, e.check(t), `coverage NET-01 NetworkPolicy payments/api-from-web: NetworkPolicy payments/api-from-web allows ingress from {"podSelector":{"matchLabels":{"app":"web"}}} on TCP 8080 beyond the bundle's allowances`)
	})

	t.Run("changed PeerAuthentication mode", func(t *testing.T) {
		pa, err := e.resource(paGVK, "istio-system").Get(e.ctx, "default", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		unstructured.SetNestedField(pa.Object, "PERMISSIVE", "spec", "mtls", "mode")
		e.must(e.resource(paGVK, "istio-system").Update(e.ctx, pa, metav1.UpdateOptions{}))
		defer e.applyFile("mesh/istio-system/peerauthentication-default.yaml")
		r := e.check(t)
		expectOnly(t, r, "matching TLS-01 PeerAuthentication istio-system/default: PeerAuthentication istio-system/default differs from the bundle at .spec.mtls.mode: bundle has \"STRICT\", cluster has \"PERMISSIVE\"",
			"coverage TLS-01 PeerAuthentication istio-system/default: PeerAuthentication istio-system/default is the oldest mesh-wide one in istio-system, so Istio applies its mode PERMISSIVE",
			"coverage TLS-01 Namespace /payments", "coverage TLS-01 Namespace /ledger", "coverage TLS-01 Namespace /legacy-batch")
	})

	t.Run("an older mesh-wide PERMISSIVE PeerAuthentication beside the bundle's", func(t *testing.T) {
		// Istio applies the oldest selector-less PeerAuthentication of the root namespace:
		// recreate the bundle's after a foreign PERMISSIVE one, a second later.
		e.must(nil, e.resource(paGVK, "istio-system").Delete(e.ctx, "default", metav1.DeleteOptions{}))
		permissive := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
			"metadata": map[string]any{"name": "aaa-legacy", "namespace": "istio-system"}, "spec": map[string]any{"mtls": map[string]any{"mode": "PERMISSIVE"}}}}
		e.apply(permissive)
		defer e.resource(paGVK, "istio-system").Delete(e.ctx, "aaa-legacy", metav1.DeleteOptions{})
		time.Sleep(1100 * time.Millisecond) // creationTimestamp has a resolution of a second
		e.applyFile("mesh/istio-system/peerauthentication-default.yaml")
		expectOnly(t, e.check(t),
			"coverage TLS-01 PeerAuthentication istio-system/aaa-legacy: PeerAuthentication istio-system/aaa-legacy is the oldest mesh-wide one in istio-system, so Istio applies its mode PERMISSIVE",
			"coverage TLS-01 Namespace /payments", "coverage TLS-01 Namespace /ledger", "coverage TLS-01 Namespace /legacy-batch")
		// Once the bundle's is the oldest, the newer PERMISSIVE one is inert: a warning only.
		e.must(nil, e.resource(paGVK, "istio-system").Delete(e.ctx, "aaa-legacy", metav1.DeleteOptions{}))
		time.Sleep(1100 * time.Millisecond)
		e.apply(permissive)
		r := e.check(t)
		expectConverged(t, r)
		warned := false
		for _, f := range r.Findings {
			warned = warned || (f.Status == verify.Warn && strings.Contains(f.Message, "aaa-legacy is a second mesh-wide policy"))
		}
		if !warned {
			t.Error("a newer PERMISSIVE mesh-wide PeerAuthentication is not warned about")
		}
	})

	t.Run("a namespace opting out of mTLS", func(t *testing.T) {
		pa := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
			"metadata": map[string]any{"name": "legacy", "namespace": "legacy-batch"}, "spec": map[string]any{"mtls": map[string]any{"mode": "DISABLE"}}}}
		e.apply(pa)
		defer e.resource(paGVK, "legacy-batch").Delete(e.ctx, "legacy", metav1.DeleteOptions{})
		expectOnly(t, e.check(t), "coverage TLS-01 PeerAuthentication legacy-batch/legacy")
	})

	t.Run("a PolicyException not in the bundle", func(t *testing.T) {
		// It exempts every pod from POD-03 and SUP-04; the other ref names no bundle policy.
		pe := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "policies.kyverno.io/v1", "kind": "PolicyException",
			"metadata": map[string]any{"name": "let-me-in", "namespace": "kyverno"},
			"spec": map[string]any{
				"policyRefs": []any{
					map[string]any{"name": "payments-soc2-pod-03", "kind": "ValidatingPolicy"},
					map[string]any{"name": "payments-soc2-sup-04", "kind": "ImageValidatingPolicy"},
					map[string]any{"name": "someone-elses-policy", "kind": "ValidatingPolicy"},
				},
				"matchConditions": []any{map[string]any{"name": "all", "expression": "true"}},
			}}}
		peGVK := schema.GroupVersionKind{Group: "policies.kyverno.io", Version: "v1", Kind: "PolicyException"}
		e.apply(pe)
		defer e.resource(peGVK, "kyverno").Delete(e.ctx, "let-me-in", metav1.DeleteOptions{})
		expectOnly(t, e.check(t), "foreign CHG-02,POD-03,SUP-04 PolicyException kyverno/let-me-in: PolicyException kyverno/let-me-in is not in the bundle and exempts resources from ValidatingPolicy payments-soc2-pod-03, ImageValidatingPolicy payments-soc2-sup-04")
		// Expired, Kyverno ignores it: so does verify.
		unstructured.SetNestedField(pe.Object, "2020-01-01T00:00:00Z", "spec", "expiresAt")
		e.apply(pe)
		expectConverged(t, e.check(t))
		// Naming only policies the bundle does not ship, it weakens nothing of the bundle's.
		unstructured.RemoveNestedField(pe.Object, "spec", "expiresAt")
		unstructured.SetNestedSlice(pe.Object, []any{map[string]any{"name": "someone-elses-policy", "kind": "ValidatingPolicy"}}, "spec", "policyRefs")
		e.apply(pe)
		expectConverged(t, e.check(t))
		e.must(nil, e.resource(peGVK, "kyverno").Delete(e.ctx, "let-me-in", metav1.DeleteOptions{}))
		expectConverged(t, e.check(t))
	})

	t.Run("new in-scope namespace without default-deny", func(t *testing.T) {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{
			"bulwark.dev/scope": "app", "istio-injection": "enabled"}}}
		maps.Copy(ns.Labels, podSecurity("baseline"))
		e.must(e.Kube.CoreV1().Namespaces().Create(e.ctx, ns, metav1.CreateOptions{}))
		// Namespaces cannot be deleted without a controller manager: take it out of scope.
		defer e.unlabel("shop", "bulwark.dev/scope")
		expectOnly(t, e.check(t), "coverage NET-01 Namespace /shop", "coverage NET-02 Namespace /shop", "coverage NET-03 Namespace /shop")
	})

	t.Run("new in-scope namespace covered by what Kyverno generated", func(t *testing.T) {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop-generated", Labels: map[string]string{
			"bulwark.dev/scope": "app", "bulwark.dev/data-class": "confidential", "istio-injection": "enabled"}}}
		maps.Copy(ns.Labels, podSecurity("restricted"))
		e.must(e.Kube.CoreV1().Namespaces().Create(e.ctx, ns, metav1.CreateOptions{}))
		defer e.unlabel("shop-generated", "bulwark.dev/scope")
		// As Kyverno's GeneratingPolicy writes them: the bundle's trace without a version,
		// managed-by relabelled by Kyverno. Neither drift nor missing.
		for _, pol := range network.PoliciesFor(e.p, "shop-generated") {
			pol.Policy.Labels = map[string]string{"app.kubernetes.io/managed-by": "kyverno", "bulwark.dev/profile": e.p.Metadata.Name,
				"generate.kyverno.io/policy-name": "payments-soc2-net-01"}
			e.must(e.Kube.NetworkingV1().NetworkPolicies("shop-generated").Create(e.ctx, pol.Policy, metav1.CreateOptions{}))
		}
		expectConverged(t, e.check(t))
		// A sensitive namespace without the restricted level is named.
		e.relabel("shop-generated", "pod-security.kubernetes.io/enforce", "baseline")
		expectOnly(t, e.check(t), "coverage POD-00 Namespace /shop-generated")
	})

	t.Run("a namespace enforcing more or less than the bundle", func(t *testing.T) {
		// The bundle enforces baseline outside the sensitive tier, exactly: restricted
		// would deny pods the bundle admits.
		defer e.relabel("legacy-batch", "pod-security.kubernetes.io/enforce", "baseline")
		for _, level := range []string{"restricted", "privileged"} {
			e.relabel("legacy-batch", "pod-security.kubernetes.io/enforce", level)
			expectOnly(t, e.check(t), "coverage POD-00 Namespace /legacy-batch: namespace legacy-batch does not carry the bundle's Pod Security labels: want pod-security.kubernetes.io/enforce=baseline (has "+level+")")
		}
		e.relabel("legacy-batch", "pod-security.kubernetes.io/enforce", "baseline")
		e.unlabel("legacy-batch", "pod-security.kubernetes.io/enforce-version")
		defer e.relabel("legacy-batch", "pod-security.kubernetes.io/enforce-version", "v1.37")
		expectOnly(t, e.check(t), "coverage POD-00 Namespace /legacy-batch")
	})

	t.Run("a generated DNS allowance pointed at the namespace's own pods", func(t *testing.T) {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop-dns", Labels: map[string]string{"bulwark.dev/scope": "app", "istio-injection": "enabled"}}}
		maps.Copy(ns.Labels, podSecurity("baseline"))
		e.must(e.Kube.CoreV1().Namespaces().Create(e.ctx, ns, metav1.CreateOptions{}))
		defer e.unlabel("shop-dns", "bulwark.dev/scope")
		var dns *networkingv1.NetworkPolicy
		for _, pol := range network.PoliciesFor(e.p, "shop-dns") {
			pol.Policy.Labels = map[string]string{"app.kubernetes.io/managed-by": "kyverno", "bulwark.dev/profile": e.p.Metadata.Name,
				"generate.kyverno.io/policy-name": "payments-soc2-net-01"}
			if pol.Policy.Name == network.AllowDNSName {
				dns = pol.Policy.DeepCopy()
				// The DNS pods' label, but no namespace selector: the namespace's own pods.
				pol.Policy.Spec.Egress[0].To[0].NamespaceSelector = nil
			}
			e.must(e.Kube.NetworkingV1().NetworkPolicies("shop-dns").Create(e.ctx, pol.Policy, metav1.CreateOptions{}))
		}
		expectOnly(t, e.check(t), "coverage NET-02 Namespace /shop-dns",
			"coverage NET-02 NetworkPolicy shop-dns/bulwark-allow-dns: NetworkPolicy shop-dns/bulwark-allow-dns differs from what GeneratingPolicy payments-soc2-net-01 generates, at .spec.egress[0].to[0].namespaceSelector")
		cur, err := e.Kube.NetworkingV1().NetworkPolicies("shop-dns").Get(e.ctx, network.AllowDNSName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cur.Spec = dns.Spec
		e.must(e.Kube.NetworkingV1().NetworkPolicies("shop-dns").Update(e.ctx, cur, metav1.UpdateOptions{}))
		expectConverged(t, e.check(t))
	})

	t.Run("a generated ingress allowance widened after Kyverno wrote it", func(t *testing.T) {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop-widened", Labels: map[string]string{"bulwark.dev/scope": "app", "istio-injection": "enabled"}}}
		maps.Copy(ns.Labels, podSecurity("baseline"))
		e.must(e.Kube.CoreV1().Namespaces().Create(e.ctx, ns, metav1.CreateOptions{}))
		defer e.unlabel("shop-widened", "bulwark.dev/scope")
		for _, pol := range network.PoliciesFor(e.p, "shop-widened") {
			pol.Policy.Labels = map[string]string{"app.kubernetes.io/managed-by": "kyverno", "bulwark.dev/profile": e.p.Metadata.Name,
				"generate.kyverno.io/policy-name": "payments-soc2-net-01"}
			e.must(e.Kube.NetworkingV1().NetworkPolicies("shop-widened").Create(e.ctx, pol.Policy, metav1.CreateOptions{}))
		}
		expectConverged(t, e.check(t))
		cur, err := e.Kube.NetworkingV1().NetworkPolicies("shop-widened").Get(e.ctx, "bulwark-allow-ingress", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		orig := cur.Spec.DeepCopy()
		cur.Spec.Ingress[0].From = append(cur.Spec.Ingress[0].From, networkingv1.NetworkPolicyPeer{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "anyone"}}})
		cur, err = e.Kube.NetworkingV1().NetworkPolicies("shop-widened").Update(e.ctx, cur, metav1.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		expectOnly(t, e.check(t), "coverage NET-03 NetworkPolicy shop-widened/bulwark-allow-ingress: NetworkPolicy shop-widened/bulwark-allow-ingress differs from what GeneratingPolicy payments-soc2-net-01 generates, at .spec.ingress[0].from")
		cur.Spec = *orig
		e.must(e.Kube.NetworkingV1().NetworkPolicies("shop-widened").Update(e.ctx, cur, metav1.UpdateOptions{}))
		expectConverged(t, e.check(t))
	})

	t.Run("policy not ready", func(t *testing.T) {
		e.setPolicyReady("ValidatingPolicy", "payments-soc2-pod-03", false)
		defer e.setPolicyReady("ValidatingPolicy", "payments-soc2-pod-03", true)
		expectOnly(t, e.check(t), "ready POD-03,LOG-02 ValidatingPolicy /payments-soc2-pod-03: ValidatingPolicy payments-soc2-pod-03 is not ready: WebhookConfigured")
	})

	t.Run("issuer not ready", func(t *testing.T) {
		e.setCertManagerReady("ClusterIssuer", "", "internal-ca", "False")
		defer e.setCertManagerReady("ClusterIssuer", "", "internal-ca", "True")
		expectOnly(t, e.check(t), "ready TLS-04 ClusterIssuer /internal-ca")
	})

	t.Run("wrong Flux revision", func(t *testing.T) {
		stale := "sha256:" + strings.Repeat("0", 64)
		e.setFlux(stale, stale)
		defer e.setFlux(e.digest, e.digest)
		expectOnly(t, e.check(t), "gitops CHG-02 OCIRepository flux-system/payments: OCIRepository flux-system/payments serves revision 1.0.0@"+stale,
			"gitops CHG-02 Kustomization flux-system/payments: Kustomization flux-system/payments last applied revision 1.0.0@"+stale)

		// A digest verify computed from a directory says how it may differ from the pushed one.
		o := e.options()
		o.DigestFromDirectory = true
		r, err := verify.Run(e.ctx, e.c.Config, e.b, o)
		if err != nil {
			t.Fatal(err)
		}
		expectOnly(t, r, "gitops CHG-02 OCIRepository flux-system/payments: OCIRepository flux-system/payments serves revision 1.0.0@"+stale+", not the bundle's "+e.digest+" (computed from the bundle directory",
			"gitops CHG-02 Kustomization flux-system/payments: Kustomization flux-system/payments last applied revision 1.0.0@"+stale+", not the bundle's "+e.digest+" (computed from the bundle directory")
	})

	t.Run("Flux fetched the bundle but has not applied it", func(t *testing.T) {
		e.setFlux(e.digest, "sha256:"+strings.Repeat("0", 64))
		defer e.setFlux(e.digest, e.digest)
		expectOnly(t, e.check(t), "gitops CHG-02 Kustomization flux-system/payments")
	})

	t.Run("expired exception", func(t *testing.T) {
		r, err := e.verify(e.c.Config, time.Date(2027, 11, 1, 0, 0, 0, 0, time.UTC))
		if err != nil {
			t.Fatal(err)
		}
		expectOnly(t, r, "exception POD-10,POD-16,CHG-02 : exception sec-142 (SEC-142) for POD-10,POD-16 in legacy-batch expired on 2027-09-30")
		if warned(r, "sec-177") {
			t.Error("SEC-177 expires in 2028 and should not be warned about in November 2027")
		}
		r, err = e.verify(e.c.Config, time.Date(2028, 1, 15, 0, 0, 0, 0, time.UTC))
		if err != nil {
			t.Fatal(err)
		}
		if !warned(r, "sec-177") {
			t.Error("SEC-177 expires within 30 days of 2028-01-15 and should be warned about")
		}
	})

	t.Run("drift: an object the bundle no longer has", func(t *testing.T) {
		old := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
			"metadata": map[string]any{"name": "bulwark-old", "namespace": "ledger", "labels": map[string]any{
				"app.kubernetes.io/managed-by": "bulwark", "bulwark.dev/profile": "payments-soc2", "bulwark.dev/version": "0.9.0"},
				"annotations": map[string]any{"bulwark.dev/controls": "NET-03"}},
			"spec": map[string]any{"podSelector": map[string]any{}},
		}}
		e.apply(old)
		defer e.resource(old.GroupVersionKind(), "ledger").Delete(e.ctx, "bulwark-old", metav1.DeleteOptions{})
		expectOnly(t, e.check(t), "drift NET-03 NetworkPolicy ledger/bulwark-old: NetworkPolicy ledger/bulwark-old carries profile payments-soc2 (version 0.9.0)")
	})

	t.Run("drift: a kind the bundle no longer has at all", func(t *testing.T) {
		// The next version drops the bootstrap Certificate: the live one is left behind.
		next := withoutKind(e.b, "Certificate")
		r, err := verify.Run(e.ctx, e.c.Config, next, e.options())
		if err != nil {
			t.Fatal(err)
		}
		expectOnly(t, r, "drift TLS-04 Certificate cert-manager/bootstrap-ca: Certificate cert-manager/bootstrap-ca carries profile payments-soc2 (version 1.0.0)")
	})
}

func warned(r *verify.Report, what string) bool {
	for _, f := range r.Findings {
		if f.Status == verify.Warn && strings.Contains(f.Message, what) {
			return true
		}
	}
	return false
}

// withoutKind is the bundle as a later version without any object of kind would be.
func withoutKind(b *bundle.Bundle, kind string) *bundle.Bundle {
	next := &bundle.Bundle{Index: b.Index, Files: maps.Clone(b.Files)}
	next.Index.Spec.Objects = nil
	for _, o := range b.Index.Spec.Objects {
		if o.Kind == kind {
			delete(next.Files, o.File)
			continue
		}
		next.Index.Spec.Objects = append(next.Index.Spec.Objects, o)
	}
	return next
}

func (e *env) relabel(ns, key, value string) {
	e.t.Helper()
	n, err := e.Kube.CoreV1().Namespaces().Get(e.ctx, ns, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	if value == "" {
		delete(n.Labels, key)
	} else {
		n.Labels[key] = value
	}
	e.must(e.Kube.CoreV1().Namespaces().Update(e.ctx, n, metav1.UpdateOptions{}))
}

func (e *env) unlabel(ns, key string) { e.relabel(ns, key, "") }

func TestArgoCD(t *testing.T) {
	e := newEnv(t)
	app := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
		"metadata": map[string]any{"name": "payments", "namespace": "flux-system"},
		"spec": map[string]any{"project": "default", "destination": map[string]any{"server": "https://kubernetes.default.svc"},
			"source": map[string]any{"repoURL": "oci://registry.example/policies/payments", "targetRevision": "1.0.0", "path": "."}},
	}}
	e.apply(app)
	gvk := schema.GroupVersionKind{Group: "argoproj.io", Version: "v1alpha1", Kind: "Application"}
	setApp := func(revision, sync, health string) {
		obj, err := e.resource(gvk, "flux-system").Get(e.ctx, "payments", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		obj.Object["status"] = map[string]any{"sync": map[string]any{"status": sync, "revision": revision}, "health": map[string]any{"status": health}}
		// Argo CD's CRD has no status subresource: status is written with the object.
		e.must(e.resource(gvk, "flux-system").Update(e.ctx, obj, metav1.UpdateOptions{}))
	}
	run := func() *verify.Report {
		r, err := verify.Run(e.ctx, e.c.Config, e.b, verify.Options{Digest: e.digest, ArgoCD: &verify.NamespacedName{Namespace: "flux-system", Name: "payments"}, Now: testNow})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	setApp(e.digest, "Synced", "Healthy")
	expectConverged(t, run())
	setApp("sha256:"+strings.Repeat("1", 64), "Synced", "Healthy")
	expectOnly(t, run(), "gitops CHG-02 Application flux-system/payments: Application flux-system/payments is at revision sha256:1111")
	setApp(e.digest, "OutOfSync", "Healthy")
	expectOnly(t, run(), "Application flux-system/payments is OutOfSync, not Synced")
	setApp(e.digest, "Synced", "Degraded")
	expectOnly(t, run(), "Application flux-system/payments is Degraded, not Healthy")

	r, err := verify.Run(e.ctx, e.c.Config, e.b, verify.Options{Digest: e.digest, ArgoCD: &verify.NamespacedName{Namespace: "argocd", Name: "missing"}, Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	expectOnly(t, r, "gitops CHG-02 Application argocd/missing: Application argocd/missing does not exist")
}

func TestWait(t *testing.T) {
	e := newEnv(t)
	if err := e.resource(netpolGVK, "ledger").Delete(e.ctx, "bulwark-allow-dns", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// The GitOps tool catches up while verify waits: after the first progress line.
	progress := &notifyingWriter{wrote: make(chan struct{}, 1)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-progress.wrote
		e.applyFile("network/ledger/networkpolicy-bulwark-allow-dns.yaml")
	}()
	o := e.options()
	r, err := verify.Wait(e.ctx, e.c.Config, e.b, o, 2*time.Minute, progress)
	<-done
	if err != nil || !r.Converged {
		t.Fatalf("wait: %v, converged %v", err, r != nil && r.Converged)
	}
	if line := progress.String(); !strings.HasPrefix(line, "test: attempt 1: not converged, 2 failing (first: namespace ledger denies egress") {
		t.Errorf("progress line: %q", line)
	}

	// And it gives up at the deadline with the last report: not converged, no error (exit 1).
	e.setPolicyReady("ValidatingPolicy", "payments-soc2-pod-05", false)
	defer e.setPolicyReady("ValidatingPolicy", "payments-soc2-pod-05", true)
	r, err = verify.Wait(e.ctx, e.c.Config, e.b, o, time.Second, nil)
	if err != nil || r == nil || r.Converged {
		t.Fatalf("wait past the deadline: err %v, report %v", err, r != nil)
	}
	expectOnly(t, r, "payments-soc2-pod-05")

	// Permissions do not come by waiting: forbidden returns at once, not at the deadline.
	ctx, cancel := context.WithTimeout(e.ctx, time.Minute)
	defer cancel()
	_, err = verify.Wait(ctx, e.c.UserConfig(t, "nobody"), e.b, o, 10*time.Minute, nil)
	if exitcode.Of(err, 0) != exitcode.Environment || ctx.Err() != nil {
		t.Fatalf("forbidden under --wait: %v (exit %d), context %v", err, exitcode.Of(err, 0), ctx.Err())
	}
}

type notifyingWriter struct {
	mu    sync.Mutex
	b     strings.Builder
	wrote chan struct{}
}

func (w *notifyingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	select {
	case w.wrote <- struct{}{}:
	default:
	}
	return w.b.Write(p)
}

func (w *notifyingWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func TestAuditLogging(t *testing.T) {
	e := newEnv(t)
	warnedLOG01 := func(r *verify.Report) bool {
		for _, f := range r.Findings {
			if f.Status == verify.Warn && len(f.Controls) == 1 && f.Controls[0] == "LOG-01" {
				return true
			}
		}
		return false
	}
	if r := e.check(t); !warnedLOG01(r) {
		t.Error("with no visible API server pod, LOG-01 must be a warning, not a pass")
	}
	pod := func(name string, args ...string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "kube-system", Labels: map[string]string{"component": "kube-apiserver"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "kube-apiserver", Image: "registry.k8s.io/kube-apiserver:v1.37.2", Command: append([]string{"kube-apiserver"}, args...)}}}}
	}
	zero := int64(0)
	e.must(e.Kube.CoreV1().Pods("kube-system").Create(e.ctx, pod("kube-apiserver-node1", "--secure-port=6443"), metav1.CreateOptions{}))
	expectOnly(t, e.check(t), "coverage LOG-01 Pod kube-system/kube-apiserver-node1")
	e.Kube.CoreV1().Pods("kube-system").Delete(e.ctx, "kube-apiserver-node1", metav1.DeleteOptions{GracePeriodSeconds: &zero})
	// Without a kubelet a deleted pod may linger: the audited one gets its own name.
	e.must(e.Kube.CoreV1().Pods("kube-system").Create(e.ctx, pod("kube-apiserver-node2", "--audit-policy-file=/etc/audit/policy.yaml", "--audit-log-path=/var/log/audit.log"), metav1.CreateOptions{}))
	defer e.Kube.CoreV1().Pods("kube-system").Delete(e.ctx, "kube-apiserver-node2", metav1.DeleteOptions{GracePeriodSeconds: &zero})
	if err := waitGone(e, "kube-apiserver-node1"); err != nil {
		t.Fatal(err)
	}
	if r := e.check(t); !r.Converged || warnedLOG01(r) {
		t.Errorf("audited API server: converged %v, warned %v: %v", r.Converged, warnedLOG01(r), failing(r))
	}
}

// waitGone polls until a pod deleted with zero grace is gone (the API server removes it
// asynchronously).
func waitGone(e *env, name string) error {
	var err error
	for i := 0; i < 100; i++ {
		if _, err = e.Kube.CoreV1().Pods("kube-system").Get(e.ctx, name, metav1.GetOptions{}); err != nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

// throttlingProxy fronts the real API server and answers the first n namespace LISTs with
// status (and Retry-After, when set) before letting requests through.
func throttlingProxy(t *testing.T, e *env, n int32, status int, retryAfter string) (*rest.Config, *atomic.Int32) {
	t.Helper()
	upstream, err := url.Parse(e.c.URL)
	if err != nil {
		t.Fatal(err)
	}
	tlsConfig, err := rest.TLSConfigFor(e.c.Config)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(upstream)
	proxy.Transport = &http.Transport{TLSClientConfig: tlsConfig}
	var lists atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/namespaces" && r.Method == http.MethodGet {
			if lists.Add(1) <= n {
				if retryAfter != "" {
					w.Header().Set("Retry-After", retryAfter)
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(status)
				w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","code":` + strconv.Itoa(status) + `}`))
				return
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return &rest.Config{Host: srv.URL, Timeout: 30 * time.Second}, &lists
}

func TestThrottlingAndOutages(t *testing.T) {
	e := newEnv(t)
	for _, tt := range []struct {
		name       string
		refusals   int32
		status     int
		retryAfter string
	}{
		{"429 with Retry-After", 1, http.StatusTooManyRequests, "1"},
		{"503 while the API server restarts", 2, http.StatusServiceUnavailable, ""},
		{"504 from a load balancer", 1, http.StatusGatewayTimeout, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, lists := throttlingProxy(t, e, tt.refusals, tt.status, tt.retryAfter)
			r, err := e.verify(cfg, time.Time{})
			if err != nil {
				t.Fatalf("verify through the proxy: %v", err)
			}
			expectConverged(t, r)
			if lists.Load() != tt.refusals+1 || r.Stats.Retries != int64(tt.refusals) {
				t.Errorf("%d namespace LISTs, %d retries; want %d refused and retried, then one answered", lists.Load(), r.Stats.Retries, tt.refusals)
			}
		})
	}

	t.Run("an outage longer than the retries is exit 3", func(t *testing.T) {
		cfg, _ := throttlingProxy(t, e, 1000, http.StatusServiceUnavailable, "")
		o := e.options()
		o.Retries = 1
		_, err := verify.Run(e.ctx, cfg, e.b, o)
		if exitcode.Of(err, 0) != exitcode.Environment {
			t.Fatalf("error %v (exit %d), want exit 3", err, exitcode.Of(err, 0))
		}
	})
}

func TestUnreachable(t *testing.T) {
	e := newEnv(t)
	cfg := rest.CopyConfig(e.c.Config)
	cfg.Host = "https://127.0.0.1:1"
	cfg.Timeout = 2 * time.Second
	_, err := e.verify(cfg, time.Time{})
	if exitcode.Of(err, 0) != exitcode.Environment || !strings.Contains(err.Error(), "unreachable") || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("error %v (exit %d), want exit 3 naming the cluster unreachable", err, exitcode.Of(err, 0))
	}
}

func TestForbidden(t *testing.T) {
	e := newEnv(t)
	_, err := e.verify(e.c.UserConfig(t, "nobody"), time.Time{})
	if exitcode.Of(err, 0) != exitcode.Environment || !strings.Contains(err.Error(), `User "nobody" cannot list resource`) ||
		!strings.Contains(err.Error(), verify.RoleFile) {
		t.Fatalf("error %v, want exit 3 naming the missing permission and the role", err)
	}
}

// roleRules reads the published role.
func roleRules(t *testing.T) *rbacv1.ClusterRole {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", verify.RoleFile))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := testenv.DecodeYAML(data)
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.ClusterRole
	for _, o := range objs {
		if o.GetKind() == "ClusterRole" {
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &role); err != nil {
				t.Fatal(err)
			}
			return &role
		}
	}
	t.Fatalf("%s has no ClusterRole", verify.RoleFile)
	return nil
}

// bindRole grants user the role and waits until the authorizer honours it.
func (e *env) bindRole(t *testing.T, user string, role *rbacv1.ClusterRole) *rest.Config {
	t.Helper()
	role = role.DeepCopy()
	role.Name = "verify-" + user
	role.ResourceVersion = ""
	e.must(e.Kube.RbacV1().ClusterRoles().Create(e.ctx, role, metav1.CreateOptions{}))
	e.must(e.Kube.RbacV1().ClusterRoleBindings().Create(e.ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "verify-" + user},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: "User", Name: user, APIGroup: "rbac.authorization.k8s.io"}},
	}, metav1.CreateOptions{}))
	cfg := e.c.UserConfig(t, user)
	kube := testenv.NewClient(cfg).Kube
	// RBAC changes reach the authorizer's cache asynchronously.
	for i := 0; i < 100; i++ {
		if _, err := kube.CoreV1().Namespaces().List(e.ctx, metav1.ListOptions{Limit: 1}); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return cfg
}

func TestPublishedRoleIsEnough(t *testing.T) {
	e := newEnv(t)
	cfg := e.bindRole(t, "release-pipeline", roleRules(t))
	r, err := e.verify(cfg, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	expectConverged(t, r)
}

// Each rule of the role is needed: without one, verify stops with exit 3 and names the
// permission it lacks.
func TestRoleWithoutARuleNamesIt(t *testing.T) {
	e := newEnv(t)
	role := roleRules(t)
	for i, rule := range role.Rules {
		if rule.APIGroups[0] != "security.istio.io" {
			continue
		}
		role.Rules = append(role.Rules[:i:i], role.Rules[i+1:]...)
		break
	}
	cfg := e.bindRole(t, "release-no-istio", role)
	_, err := e.verify(cfg, time.Time{})
	if exitcode.Of(err, 0) != exitcode.Environment || !strings.Contains(err.Error(), `cannot list resource "peerauthentications" in API group "security.istio.io"`) {
		t.Fatalf("error %v (exit %d), want exit 3 naming list on peerauthentications.security.istio.io", err, exitcode.Of(err, 0))
	}
}

func TestRunMany(t *testing.T) {
	e := newEnv(t)
	down := rest.CopyConfig(e.c.Config)
	down.Host = "https://127.0.0.1:1"
	down.Timeout = 2 * time.Second
	results := verify.RunMany(e.ctx, []verify.Target{{Name: "prod", Config: e.c.Config}, {Name: "down", Config: down}}, e.b, e.options(), 0, nil)
	if len(results) != 2 {
		t.Fatalf("%d results", len(results))
	}
	if r := results[0]; r.Err != nil || r.Report.Cluster != "prod" || !r.Report.Converged {
		t.Errorf("prod: %v, %+v", r.Err, r.Report)
	}
	if r := results[1]; exitcode.Of(r.Err, 0) != exitcode.Environment || r.Report.Cluster != "down" || r.Report.Error == "" || r.Report.Converged ||
		r.Report.Bundle.Version != "1.0.0" {
		t.Errorf("down: %v, %+v", r.Err, r.Report)
	}
}

// TestWeakeningEdits makes one weakening edit at a time to what the bundle applied (or adds
// one weakening object beside it), expects verify to fail naming the control and the object,
// then undoes the edit and expects convergence again. Each row is an edit a user could make
// with kubectl; the check that catches it is named in want ("CHECK CONTROLS KIND NS/NAME").
func TestWeakeningEdits(t *testing.T) {
	e := newEnv(t)
	gvk := func(group, version, kind string) schema.GroupVersionKind {
		return schema.GroupVersionKind{Group: group, Version: version, Kind: kind}
	}
	var (
		vpol   = gvk("policies.kyverno.io", "v1", "ValidatingPolicy")
		ivpol  = gvk("policies.kyverno.io", "v1", "ImageValidatingPolicy")
		mpol   = gvk("policies.kyverno.io", "v1", "MutatingPolicy")
		gpol   = gvk("policies.kyverno.io", "v1", "GeneratingPolicy")
		polex  = gvk("policies.kyverno.io", "v1", "PolicyException")
		issuer = gvk("cert-manager.io", "v1", "ClusterIssuer")
		cert   = gvk("cert-manager.io", "v1", "Certificate")
		crole  = gvk("rbac.authorization.k8s.io", "v1", "ClusterRole")
		nsGVK  = gvk("", "v1", "Namespace")
	)
	set := func(value any, path ...string) func(*unstructured.Unstructured) {
		return func(u *unstructured.Unstructured) {
			if err := unstructured.SetNestedField(u.Object, value, path...); err != nil {
				t.Fatal(err)
			}
		}
	}
	setItem := func(list []string, i int, value any, path ...string) func(*unstructured.Unstructured) {
		return func(u *unstructured.Unstructured) {
			items, _, _ := unstructured.NestedSlice(u.Object, list...)
			if i >= len(items) {
				t.Fatalf("%v has %d items", list, len(items))
			}
			item, _ := items[i].(map[string]any)
			if err := unstructured.SetNestedField(item, value, path...); err != nil {
				t.Fatal(err)
			}
			unstructured.SetNestedSlice(u.Object, items, list...)
		}
	}
	appendItem := func(value any, path ...string) func(*unstructured.Unstructured) {
		return func(u *unstructured.Unstructured) {
			items, _, _ := unstructured.NestedSlice(u.Object, path...)
			unstructured.SetNestedSlice(u.Object, append(items, value), path...)
		}
	}
	edits := []struct {
		name    string
		gvk     schema.GroupVersionKind
		ns, obj string
		edit    func(*unstructured.Unstructured)
		want    []string
	}{
		{"a POD policy switched to Audit", vpol, "", "payments-soc2-pod-03", set([]any{"Audit"}, "spec", "validationActions"),
			[]string{"matching POD-03 ValidatingPolicy /payments-soc2-pod-03"}},
		{"a POD policy's check replaced by true", vpol, "", "payments-soc2-pod-15", setItem([]string{"spec", "validations"}, 0, "true", "expression"),
			[]string{"matching POD-15 ValidatingPolicy /payments-soc2-pod-15"}},
		{"a policy's scope condition made false", vpol, "", "payments-soc2-sup-02", setItem([]string{"spec", "matchConditions"}, 0, "false", "expression"),
			[]string{"matching SUP-02 ValidatingPolicy /payments-soc2-sup-02"}},
		{"a policy matching DELETE only", vpol, "", "payments-soc2-pod-10", setItem([]string{"spec", "matchConstraints", "resourceRules"}, 0, []any{"DELETE"}, "operations"),
			[]string{"matching POD-10 ValidatingPolicy /payments-soc2-pod-10"}},
		{"admission evaluation switched off", vpol, "", "payments-soc2-iam-01", set(false, "spec", "evaluation", "admission", "enabled"),
			[]string{"matching IAM-01 ValidatingPolicy /payments-soc2-iam-01"}},
		{"a POD policy failing open", vpol, "", "payments-soc2-pod-04", set("Ignore", "spec", "failurePolicy"),
			[]string{"matching POD-04 ValidatingPolicy /payments-soc2-pod-04: ValidatingPolicy payments-soc2-pod-04 differs from the bundle at .spec.failurePolicy"}},
		{"pods excluded from a POD policy", vpol, "", "payments-soc2-pod-05", set([]any{map[string]any{"apiGroups": []any{""}, "apiVersions": []any{"v1"}, "resources": []any{"pods"}, "operations": []any{"CREATE", "UPDATE"}}}, "spec", "matchConstraints", "excludeResourceRules"),
			[]string{"matching POD-05 ValidatingPolicy /payments-soc2-pod-05: ValidatingPolicy payments-soc2-pod-05 differs from the bundle at .spec.matchConstraints.excludeResourceRules"}},
		{"an object selector that matches nothing", vpol, "", "payments-soc2-pod-06", set(map[string]any{"matchLabels": map[string]any{"never": "true"}}, "spec", "matchConstraints", "objectSelector"),
			[]string{"matching POD-06 ValidatingPolicy /payments-soc2-pod-06: ValidatingPolicy payments-soc2-pod-06 differs from the bundle at .spec.matchConstraints.objectSelector"}},
		{"a cluster-wide RBAC policy narrowed to a namespace selector", vpol, "", "payments-soc2-iam-02", set(map[string]any{"matchLabels": map[string]any{"never": "true"}}, "spec", "matchConstraints", "namespaceSelector"),
			[]string{"matching IAM-02 ValidatingPolicy /payments-soc2-iam-02: ValidatingPolicy payments-soc2-iam-02 differs from the bundle at .spec.matchConstraints.namespaceSelector"}},
		{"an extra match condition on the image signature check", ivpol, "", "payments-soc2-sup-04", appendItem(map[string]any{"name": "never", "expression": "false"}, "spec", "matchConditions"),
			[]string{"matching SUP-04 ImageValidatingPolicy /payments-soc2-sup-04"}},
		{"an ephemeral-containers companion switched to Audit", vpol, "", "payments-soc2-pod-03-ephemeralcontainers", set([]any{"Audit"}, "spec", "validationActions"),
			[]string{"matching POD-03 ValidatingPolicy /payments-soc2-pod-03-ephemeralcontainers"}},
		{"the image signature check switched to Audit", ivpol, "", "payments-soc2-sup-04", set([]any{"Audit"}, "spec", "validationActions"),
			[]string{"matching SUP-04 ImageValidatingPolicy /payments-soc2-sup-04"}},
		{"the PSA labeller writing privileged", mpol, "", "payments-soc2-pod-00", setItem([]string{"spec", "variables"}, 0, "'privileged'", "expression"),
			[]string{"matching POD-00 MutatingPolicy /payments-soc2-pod-00"}},
		{"the default-deny generator matching nothing", gpol, "", "payments-soc2-net-01", setItem([]string{"spec", "matchConditions"}, 0, "false", "expression"),
			[]string{"matching NET-01,NET-02,NET-03 GeneratingPolicy /payments-soc2-net-01"}},
		{"an exception widened to every namespace", polex, "kyverno", "payments-soc2-sec-142", setItem([]string{"spec", "matchConditions"}, 0, "true", "expression"),
			[]string{"matching POD-10,POD-16 PolicyException kyverno/payments-soc2-sec-142"}},
		{"an exception that never expires", polex, "kyverno", "payments-soc2-sec-177", set("2099-01-01T00:00:00Z", "spec", "expiresAt"),
			[]string{"matching SUP-02 PolicyException kyverno/payments-soc2-sec-177"}},
		{"default deny gaining an allow-all ingress rule", netpolGVK, "payments", "bulwark-default-deny", appendItem(map[string]any{}, "spec", "ingress"),
			[]string{"matching NET-01 NetworkPolicy payments/bulwark-default-deny: NetworkPolicy payments/bulwark-default-deny differs from the bundle at .spec.ingress: the cluster has",
				"coverage NET-01 Namespace /payments", "coverage NET-01 NetworkPolicy payments/bulwark-default-deny"}},
		{"DNS widened to every port from 53 with endPort", netpolGVK, "ledger", "bulwark-allow-dns", setItem([]string{"spec", "egress"}, 0,
			[]any{map[string]any{"protocol": "UDP", "port": int64(53), "endPort": int64(65535)}, map[string]any{"protocol": "TCP", "port": int64(53), "endPort": int64(65535)}}, "ports"),
			[]string{"matching NET-02 NetworkPolicy ledger/bulwark-allow-dns: NetworkPolicy ledger/bulwark-allow-dns differs from the bundle at .spec.egress[0].ports[0].endPort"}},
		{"the DNS allowance gaining a second destination", netpolGVK, "payments", "bulwark-allow-dns", setItem([]string{"spec", "egress"}, 0,
			[]any{map[string]any{"namespaceSelector": map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": "kube-system"}}, "podSelector": map[string]any{"matchLabels": map[string]any{"k8s-app": "kube-dns"}}},
				map[string]any{"ipBlock": map[string]any{"cidr": "10.0.0.0/8"}}}, "to"),
			[]string{"matching NET-02 NetworkPolicy payments/bulwark-allow-dns"}},
		{"a workload exempted from mesh-wide mTLS by a selector", paGVK, "istio-system", "default", set(map[string]any{"matchLabels": map[string]any{"app": "legacy"}}, "spec", "selector"),
			[]string{"matching TLS-01 PeerAuthentication istio-system/default: PeerAuthentication istio-system/default differs from the bundle at .spec.selector",
				"coverage TLS-01 Namespace /payments", "coverage TLS-01 Namespace /ledger", "coverage TLS-01 Namespace /legacy-batch"}},
		{"default deny for ingress only", netpolGVK, "ledger", "bulwark-default-deny", set([]any{"Ingress"}, "spec", "policyTypes"),
			[]string{"matching NET-01 NetworkPolicy ledger/bulwark-default-deny", "coverage NET-01 Namespace /ledger"}},
		{"DNS allowed to another port", netpolGVK, "payments", "bulwark-allow-dns", setItem([]string{"spec", "egress"}, 0, []any{map[string]any{"protocol": "UDP", "port": int64(5353)}}, "ports"),
			[]string{"matching NET-02 NetworkPolicy payments/bulwark-allow-dns", "coverage NET-02 Namespace /payments"}},
		{"the ingress allowance opened to every namespace", netpolGVK, "legacy-batch", "bulwark-allow-ingress", setItem([]string{"spec", "ingress"}, 0, []any{map[string]any{"namespaceSelector": map[string]any{}}}, "from"),
			[]string{"matching NET-03 NetworkPolicy legacy-batch/bulwark-allow-ingress", "coverage NET-01 NetworkPolicy legacy-batch/bulwark-allow-ingress"}},
		{"mesh-wide mTLS disabled", paGVK, "istio-system", "default", set("DISABLE", "spec", "mtls", "mode"),
			[]string{"matching TLS-01 PeerAuthentication istio-system/default", "coverage TLS-01 PeerAuthentication istio-system/default",
				"coverage TLS-01 Namespace /payments", "coverage TLS-01 Namespace /ledger", "coverage TLS-01 Namespace /legacy-batch"}},
		{"an issuer pointed at another CA", issuer, "", "internal-ca", set("someone-elses-ca", "spec", "ca", "secretName"),
			[]string{"matching TLS-04 ClusterIssuer /internal-ca"}},
		{"the CA certificate made a leaf", cert, "cert-manager", "bootstrap-ca", set(false, "spec", "isCA"),
			[]string{"Certificate cert-manager/bootstrap-ca"}},
		{"the namespace labeller's role losing update", crole, "", "payments-soc2-kyverno-namespace-labeller", setItem([]string{"rules"}, 0, []any{"get"}, "verbs"),
			[]string{"ClusterRole /payments-soc2-kyverno-namespace-labeller"}},
		{"a namespace's Pod Security level lowered", nsGVK, "", "payments", set("privileged", "metadata", "labels", "pod-security.kubernetes.io/enforce"),
			[]string{"coverage POD-00 Namespace /payments"}},
		{"a namespace taken out of the mesh", nsGVK, "", "ledger", set("disabled", "metadata", "labels", "istio-injection"),
			[]string{"coverage TLS-02 Namespace /ledger"}},
	}
	for _, tc := range edits {
		t.Run(tc.name, func(t *testing.T) {
			ri := e.resource(tc.gvk, tc.ns)
			orig, err := ri.Get(e.ctx, tc.obj, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			edited := orig.DeepCopy()
			tc.edit(edited)
			if _, err := ri.Update(e.ctx, edited, metav1.UpdateOptions{}); err != nil {
				t.Fatalf("the edit was refused: %v", err)
			}
			restored := false
			restore := func() {
				if restored {
					return
				}
				restored = true
				cur, err := ri.Get(e.ctx, tc.obj, metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				back := orig.DeepCopy()
				back.SetResourceVersion(cur.GetResourceVersion())
				if _, err := ri.Update(e.ctx, back, metav1.UpdateOptions{}); err != nil {
					t.Fatalf("undoing the edit: %v", err)
				}
				// Kyverno and cert-manager do not run here: their statuses stay as written.
			}
			defer restore()
			expectOnly(t, e.check(t), tc.want...)
			restore()
			expectConverged(t, e.check(t))
		})
	}

	// Objects the bundle does not contain, created beside it: verify judges them whoever
	// created them (coverage for NetworkPolicies and PeerAuthentications, the foreign check
	// for PolicyExceptions naming a bundle policy).
	obj := func(apiVersion, kind, ns, name string, spec map[string]any) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{"apiVersion": apiVersion, "kind": kind,
			"metadata": map[string]any{"name": name, "namespace": ns}, "spec": spec}}
	}
	exception := func(ns, name string, refs ...map[string]any) *unstructured.Unstructured {
		policyRefs := make([]any, len(refs))
		for i, r := range refs {
			policyRefs[i] = r
		}
		return obj("policies.kyverno.io/v1", "PolicyException", ns, name, map[string]any{
			"policyRefs":      policyRefs,
			"matchConditions": []any{map[string]any{"name": "all", "expression": "true"}},
		})
	}
	foreign := []struct {
		name string
		obj  *unstructured.Unstructured
		want []string
	}{
		{"a NetworkPolicy allowing all ingress and egress", obj("networking.k8s.io/v1", "NetworkPolicy", "payments", "allow-everything", map[string]any{
			"podSelector": map[string]any{}, "policyTypes": []any{"Ingress", "Egress"}, "ingress": []any{map[string]any{}}, "egress": []any{map[string]any{}}}),
			[]string{"coverage NET-01 NetworkPolicy payments/allow-everything: NetworkPolicy payments/allow-everything allows ingress from anywhere on every port and egress to anywhere on every port: NetworkPolicies add up"}},
		{"a NetworkPolicy letting the api pods reach the internet", obj("networking.k8s.io/v1", "NetworkPolicy", "ledger", "api-to-internet", map[string]any{
			"podSelector": map[string]any{"matchLabels": map[string]any{"app": "api"}}, "policyTypes": []any{"Egress"},
			"egress": []any{map[string]any{"to": []any{map[string]any{"ipBlock": map[string]any{"cidr": "0.0.0.0/0"}}}}}}),
			[]string{"coverage NET-01 NetworkPolicy ledger/api-to-internet: NetworkPolicy ledger/api-to-internet allows egress to anywhere on every port: NetworkPolicies add up"}},
		{"a narrow NetworkPolicy opening a database port to the namespace's pods", obj("networking.k8s.io/v1", "NetworkPolicy", "ledger", "db-from-app", map[string]any{
			"podSelector": map[string]any{"matchLabels": map[string]any{"app": "db"}}, "policyTypes": []any{"Ingress"},
			"ingress": []any{map[string]any{"from": []any{map[string]any{"podSelector": map[string]any{}}}, "ports": []any{map[string]any{"port": int64(5432)}}}}}),
			[]string{`coverage NET-01 NetworkPolicy ledger/db-from-app: NetworkPolicy ledger/db-from-app allows ingress from {"podSelector":{}} on TCP 5432 beyond the bundle's allowances`}},
		{"a NetworkPolicy letting every pod reach another namespace's DNS-labelled pods", obj("networking.k8s.io/v1", "NetworkPolicy", "payments", "dns-elsewhere", map[string]any{
			"podSelector": map[string]any{}, "policyTypes": []any{"Egress"},
			"egress": []any{map[string]any{"to": []any{map[string]any{"namespaceSelector": map[string]any{}, "podSelector": map[string]any{"matchLabels": map[string]any{"k8s-app": "kube-dns"}}}},
				"ports": []any{map[string]any{"protocol": "UDP", "port": int64(53)}}}}}),
			[]string{`coverage NET-01 NetworkPolicy payments/dns-elsewhere: NetworkPolicy payments/dns-elsewhere allows egress to {"namespaceSelector":{},"podSelector":{"matchLabels":{"k8s-app":"kube-dns"}}} on UDP 53 beyond the bundle's allowances`}},
		{"a PolicyException exempting every pod from a ValidatingPolicy", exception("kyverno", "skip-pod-03",
			map[string]any{"kind": "ValidatingPolicy", "name": "payments-soc2-pod-03"}),
			[]string{"foreign CHG-02,POD-03 PolicyException kyverno/skip-pod-03: PolicyException kyverno/skip-pod-03 is not in the bundle and exempts resources from ValidatingPolicy payments-soc2-pod-03: waive through the profile's spec.exceptions"}},
		{"a PolicyException exempting every pod from the image signature check", exception("kyverno", "skip-sup-04",
			map[string]any{"kind": "ImageValidatingPolicy", "name": "payments-soc2-sup-04"}),
			[]string{"foreign CHG-02,SUP-04 PolicyException kyverno/skip-sup-04: PolicyException kyverno/skip-sup-04 is not in the bundle and exempts resources from ImageValidatingPolicy payments-soc2-sup-04: waive through the profile's spec.exceptions"}},
		{"a PolicyException in an application namespace exempting from the PSA labeller", exception("payments", "skip-pod-00",
			map[string]any{"kind": "MutatingPolicy", "name": "payments-soc2-pod-00"}),
			[]string{"foreign CHG-02,POD-00 PolicyException payments/skip-pod-00: PolicyException payments/skip-pod-00 is not in the bundle and exempts resources from MutatingPolicy payments-soc2-pod-00"}},
		{"a namespace-wide PERMISSIVE PeerAuthentication", obj("security.istio.io/v1", "PeerAuthentication", "payments", "permissive", map[string]any{
			"mtls": map[string]any{"mode": "PERMISSIVE"}}),
			[]string{"coverage TLS-01 PeerAuthentication payments/permissive: PeerAuthentication payments/permissive weakens mTLS in namespace payments to PERMISSIVE"}},
		{"a workload's database port taken out of mTLS", obj("security.istio.io/v1", "PeerAuthentication", "ledger", "db-plaintext", map[string]any{
			"selector":      map[string]any{"matchLabels": map[string]any{"app": "db"}},
			"portLevelMtls": map[string]any{"5432": map[string]any{"mode": "DISABLE"}}}),
			[]string{"coverage TLS-01 PeerAuthentication ledger/db-plaintext: PeerAuthentication ledger/db-plaintext weakens mTLS in namespace ledger to DISABLE on port 5432"}},
	}
	for _, tc := range foreign {
		t.Run(tc.name, func(t *testing.T) {
			ri := e.resource(tc.obj.GroupVersionKind(), tc.obj.GetNamespace())
			if _, err := ri.Get(e.ctx, tc.obj.GetName(), metav1.GetOptions{}); err == nil {
				t.Fatalf("%s %s/%s exists before the test creates it", tc.obj.GetKind(), tc.obj.GetNamespace(), tc.obj.GetName())
			}
			e.apply(tc.obj)
			deleted := false
			remove := func() {
				if deleted {
					return
				}
				deleted = true
				if err := ri.Delete(e.ctx, tc.obj.GetName(), metav1.DeleteOptions{}); err != nil {
					t.Fatalf("deleting the foreign object: %v", err)
				}
			}
			defer remove()
			expectOnly(t, e.check(t), tc.want...)
			remove()
			expectConverged(t, e.check(t))
		})
	}
	t.Logf("%d weakening edits (%d to bundle objects, %d foreign objects), each caught and each undone", len(edits)+len(foreign), len(edits), len(foreign))
	if len(edits)+len(foreign) < 30 {
		t.Errorf("%d weakening edits, want at least 30", len(edits)+len(foreign))
	}
}

// TestGitOpsMetadataIsNotDrift writes on every bundle object what the tools that deliver
// and run it write there: Flux's and Argo CD's tracking labels and annotation, kubectl's
// last-applied-configuration, and for the Kyverno policies the autogen status Kyverno
// reports for pod controllers. None of it changes what the object enforces, so verify must
// stay converged; then every object is put back as it was.
func TestGitOpsMetadataIsNotDrift(t *testing.T) {
	e := newEnv(t)
	type saved struct {
		gvk  schema.GroupVersionKind
		orig *unstructured.Unstructured
	}
	var originals []saved
	restore := func() {
		for _, s := range originals {
			ri := e.resource(s.gvk, s.orig.GetNamespace())
			cur, err := ri.Get(e.ctx, s.orig.GetName(), metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			back := s.orig.DeepCopy()
			back.SetResourceVersion(cur.GetResourceVersion())
			cur, err = ri.Update(e.ctx, back, metav1.UpdateOptions{})
			if err != nil {
				t.Fatalf("restoring %s %s: %v", s.gvk.Kind, s.orig.GetName(), err)
			}
			if autogenKinds[s.gvk.Kind] {
				cur.Object["status"] = s.orig.Object["status"]
				if _, err := ri.UpdateStatus(e.ctx, cur, metav1.UpdateOptions{}); err != nil {
					t.Fatalf("restoring the status of %s %s: %v", s.gvk.Kind, s.orig.GetName(), err)
				}
			}
		}
		originals = nil
	}
	defer restore()

	edited := 0
	for _, o := range e.b.Index.Spec.Objects {
		gvk := schema.FromAPIVersionAndKind(o.APIVersion, o.Kind)
		ri := e.resource(gvk, o.Namespace)
		live, err := ri.Get(e.ctx, o.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		originals = append(originals, saved{gvk, live.DeepCopy()})
		objs, err := testenv.DecodeYAML(e.b.Files[o.File])
		if err != nil {
			t.Fatal(err)
		}
		applied, err := objs[0].MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		live.SetLabels(withLabels(orEmpty(live.GetLabels()),
			"kustomize.toolkit.fluxcd.io/name", "payments", "kustomize.toolkit.fluxcd.io/namespace", "flux-system",
			"app.kubernetes.io/instance", "payments"))
		ann := orEmpty(live.GetAnnotations())
		ann["argocd.argoproj.io/tracking-id"] = "payments:" + gvk.Group + "/" + gvk.Kind + ":" + o.Namespace + "/" + o.Name
		ann["kubectl.kubernetes.io/last-applied-configuration"] = string(applied) + "\n"
		live.SetAnnotations(ann)
		live, err = ri.Update(e.ctx, live, metav1.UpdateOptions{})
		if err != nil {
			t.Fatalf("labelling %s %s: %v", o.Kind, o.Name, err)
		}
		if autogenKinds[o.Kind] {
			status, _ := live.Object["status"].(map[string]any)
			status = maps.Clone(status)
			status["autogen"] = map[string]any{"configs": map[string]any{"deployments": autogenConfig(t, live)}}
			live.Object["status"] = status
			if _, err := ri.UpdateStatus(e.ctx, live, metav1.UpdateOptions{}); err != nil {
				t.Fatalf("autogen status of %s %s: %v", o.Kind, o.Name, err)
			}
			// The status must have been stored as written, or the test proves nothing.
			cur, err := ri.Get(e.ctx, o.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if targets, _, _ := unstructured.NestedSlice(cur.Object, "status", "autogen", "configs", "deployments", "targets"); len(targets) != 4 {
				t.Fatalf("%s %s: the API server kept %d autogen targets of 4", o.Kind, o.Name, len(targets))
			}
		}
		edited++
	}
	t.Logf("%d bundle objects carry GitOps and kubectl metadata", edited)
	expectConverged(t, e.check(t))

	restore()
	expectConverged(t, e.check(t))

	t.Run("an expired foreign PolicyException naming a bundle policy", func(t *testing.T) {
		pe := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "policies.kyverno.io/v1", "kind": "PolicyException",
			"metadata": map[string]any{"name": "expired-waiver", "namespace": "kyverno"},
			"spec": map[string]any{
				"policyRefs":      []any{map[string]any{"name": "payments-soc2-pod-03", "kind": "ValidatingPolicy"}},
				"matchConditions": []any{map[string]any{"name": "all", "expression": "true"}},
				"expiresAt":       testNow.Add(-time.Hour).Format(time.RFC3339),
			}}}
		peGVK := schema.GroupVersionKind{Group: "policies.kyverno.io", Version: "v1", Kind: "PolicyException"}
		e.apply(pe)
		defer e.resource(peGVK, "kyverno").Delete(e.ctx, "expired-waiver", metav1.DeleteOptions{})
		expectConverged(t, e.check(t))
		// An hour before it expires, Kyverno honours it: so does verify.
		r, err := e.verify(e.c.Config, testNow.Add(-2*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		expectOnly(t, r, "foreign CHG-02,POD-03 PolicyException kyverno/expired-waiver")
	})
}

// autogenKinds are the Kyverno policy kinds whose status carries autogen configs.
var autogenKinds = map[string]bool{"ValidatingPolicy": true, "ImageValidatingPolicy": true, "MutatingPolicy": true}

// autogenConfig is the status.autogen.configs entry Kyverno writes for a pod policy's
// pod controllers: the policy's spec matching the controllers, its expressions reading the
// pod template.
func autogenConfig(t *testing.T, pol *unstructured.Unstructured) map[string]any {
	t.Helper()
	raw, err := json.Marshal(pol.Object["spec"])
	if err != nil {
		t.Fatal(err)
	}
	var spec map[string]any
	if err := json.Unmarshal([]byte(strings.ReplaceAll(string(raw), "object.spec.", "object.spec.template.spec.")), &spec); err != nil {
		t.Fatal(err)
	}
	if _, ok := spec["matchConstraints"]; ok {
		unstructured.SetNestedSlice(spec, []any{map[string]any{
			"apiGroups": []any{"apps"}, "apiVersions": []any{"v1"}, "operations": []any{"CREATE", "UPDATE"},
			"resources": []any{"daemonsets", "deployments", "replicasets", "statefulsets"},
		}}, "matchConstraints", "resourceRules")
	}
	var targets []any
	for _, r := range []string{"daemonsets", "deployments", "replicasets", "statefulsets"} {
		kind := map[string]string{"daemonsets": "DaemonSet", "deployments": "Deployment", "replicasets": "ReplicaSet", "statefulsets": "StatefulSet"}[r]
		targets = append(targets, map[string]any{"group": "apps", "version": "v1", "resource": r, "kind": kind})
	}
	return map[string]any{"spec": spec, "targets": targets}
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
