package verify_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"bulwark.dev/bulwark/bundles"
	"bulwark.dev/bulwark/generators"
	"bulwark.dev/bulwark/internal/exitcode"
	"bulwark.dev/bulwark/internal/testenv"
	"bulwark.dev/bulwark/profile"
	"bulwark.dev/bulwark/templates"
	"bulwark.dev/bulwark/verify"
)

// env is a real cluster with the payments bundle applied and the statuses the absent
// controllers (Kyverno, cert-manager, Flux) would write.
type env struct {
	*testenv.Client
	t      testing.TB
	ctx    context.Context
	c      *testenv.Cluster
	p      *profile.Profile
	b      *bundles.Bundle
	digest string
}

// startEnv starts a cluster with the upstream CRDs and builds the example's bundle.
func startEnv(t testing.TB, example string) *env {
	c := testenv.StartCluster(t)
	testenv.InstallCRDs(t, c.Config)
	e := &env{Client: testenv.NewClient(c.Config), t: t, ctx: context.Background(), c: c}
	cat, err := templates.Load()
	if err != nil {
		t.Fatal(err)
	}
	p, err := profile.Load(filepath.Join("..", "examples", example+".yaml"), profile.LoadOptions{KnownControls: cat.IDSet(), Now: time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	e.p = p
	if e.b, err = generators.Build(p, cat, "1.0.0"); err != nil {
		t.Fatal(err)
	}
	d, err := bundles.Digest(e.b, bundles.PackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e.digest = d.String()
	return e
}

func newEnv(t testing.TB) *env {
	e := startEnv(t, "payments")
	// Namespaces as Kyverno's MutatingPolicies would have labelled them.
	psa := func(level string) map[string]string {
		return map[string]string{"pod-security.kubernetes.io/enforce": level, "istio-injection": "enabled"}
	}
	for name, l := range map[string]map[string]string{
		"payments": psa("restricted"), "ledger": psa("restricted"), "legacy-batch": psa("baseline"),
		"istio-system": nil, "cert-manager": nil, "kyverno": nil, "flux-system": nil,
	} {
		e.must(e.Kube.CoreV1().Namespaces().Create(e.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}}, metav1.CreateOptions{}))
	}
	e.applyBundle()
	e.fluxObjects(e.digest)
	return e
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
		case o.Kind == "ClusterIssuer":
			e.setStatus(schema.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: "ClusterIssuer"}, "", o.Name,
				map[string]any{"conditions": []any{map[string]any{"type": "Ready", "status": "True", "reason": "KeyPairVerified"}}})
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

func (e *env) setFlux(served, applied string) {
	e.t.Helper()
	ready := []any{map[string]any{"type": "Ready", "status": "True", "reason": "Succeeded", "message": "ok", "lastTransitionTime": "2026-11-24T00:00:00Z"}}
	e.setStatus(schema.GroupVersionKind{Group: "source.toolkit.fluxcd.io", Version: "v1", Kind: "OCIRepository"}, "flux-system", "payments", map[string]any{
		"conditions": ready,
		"artifact":   map[string]any{"digest": served, "revision": "1.0.0@" + served, "path": "x", "url": "http://x", "lastUpdateTime": "2026-11-24T00:00:00Z"},
	})
	e.setStatus(schema.GroupVersionKind{Group: "kustomize.toolkit.fluxcd.io", Version: "v1", Kind: "Kustomization"}, "flux-system", "payments", map[string]any{
		"conditions": ready, "lastAppliedRevision": "1.0.0@" + applied,
	})
}

func (e *env) verify(cfg *rest.Config, now time.Time) (*verify.Report, error) {
	if now.IsZero() {
		now = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	}
	return verify.Run(e.ctx, cfg, e.b, verify.Options{Cluster: "test", Digest: e.digest, Flux: &verify.NamespacedName{Namespace: "flux-system", Name: "payments"}, Now: now})
}

// failing returns the failing findings, as "CHECK CONTROLS OBJECT: message".
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

// expectOnly asserts the report fails, and every failing finding contains one of wants.
func expectOnly(t *testing.T, r *verify.Report, wants ...string) {
	t.Helper()
	if r.Converged {
		t.Fatalf("converged, want failures naming %v", wants)
	}
	fails := failing(r)
	for _, w := range wants {
		found := false
		for _, f := range fails {
			if strings.Contains(f, w) {
				found = true
			}
		}
		if !found {
			t.Errorf("no failing finding names %q; failures:\n%s", w, strings.Join(fails, "\n"))
		}
	}
	for _, f := range fails {
		ok := false
		for _, w := range wants {
			if strings.Contains(f, w) {
				ok = true
			}
		}
		if !ok {
			t.Errorf("unexpected failure: %s", f)
		}
	}
}

func TestVerifyAgainstRealCluster(t *testing.T) {
	e := newEnv(t)
	check := func(t *testing.T) *verify.Report {
		t.Helper()
		r, err := e.verify(e.c.Config, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	t.Run("converged", func(t *testing.T) {
		r := check(t)
		if !r.Converged {
			t.Fatalf("not converged:\n%s", strings.Join(failing(r), "\n"))
		}
		if r.Stats.Namespaces != 3 || r.Stats.APICalls == 0 {
			t.Errorf("stats %+v", r.Stats)
		}
	})

	t.Run("deleted NetworkPolicy", func(t *testing.T) {
		gvk := schema.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicy"}
		if err := e.resource(gvk, "payments").Delete(e.ctx, "bulwark-default-deny", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		defer e.applyFile("network/payments/networkpolicy-bulwark-default-deny.yaml")
		expectOnly(t, check(t), "present NET-01 NetworkPolicy payments/bulwark-default-deny", "coverage NET-01 Namespace /payments")
	})

	t.Run("weakened PeerAuthentication", func(t *testing.T) {
		gvk := schema.GroupVersionKind{Group: "security.istio.io", Version: "v1", Kind: "PeerAuthentication"}
		pa, err := e.resource(gvk, "istio-system").Get(e.ctx, "default", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		unstructured.SetNestedField(pa.Object, "PERMISSIVE", "spec", "mtls", "mode")
		e.must(e.resource(gvk, "istio-system").Update(e.ctx, pa, metav1.UpdateOptions{}))
		defer e.applyFile("mesh/istio-system/peerauthentication-default.yaml")
		expectOnly(t, check(t), "matching TLS-01 PeerAuthentication istio-system/default", "coverage TLS-01 Namespace")
	})

	t.Run("new namespace in scope without default-deny", func(t *testing.T) {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{
			"bulwark.dev/scope": "app", "pod-security.kubernetes.io/enforce": "baseline", "istio-injection": "enabled"}}}
		e.must(e.Kube.CoreV1().Namespaces().Create(e.ctx, ns, metav1.CreateOptions{}))
		// Namespaces cannot be deleted without a controller manager: take it out of scope.
		defer func() {
			ns, _ := e.Kube.CoreV1().Namespaces().Get(e.ctx, "shop", metav1.GetOptions{})
			delete(ns.Labels, "bulwark.dev/scope")
			e.must(e.Kube.CoreV1().Namespaces().Update(e.ctx, ns, metav1.UpdateOptions{}))
		}()
		expectOnly(t, check(t), "coverage NET-01 Namespace /shop", "coverage NET-02 Namespace /shop")
	})

	t.Run("policy not ready", func(t *testing.T) {
		e.setPolicyReady("ValidatingPolicy", "payments-soc2-pod-03", false)
		defer e.setPolicyReady("ValidatingPolicy", "payments-soc2-pod-03", true)
		expectOnly(t, check(t), "ready POD-03,LOG-02 ValidatingPolicy /payments-soc2-pod-03")
	})

	t.Run("wrong Flux revision", func(t *testing.T) {
		stale := "sha256:" + strings.Repeat("0", 64)
		e.setFlux(stale, stale)
		defer e.setFlux(e.digest, e.digest)
		expectOnly(t, check(t), "gitops CHG-02 OCIRepository flux-system/payments", "gitops CHG-02 Kustomization flux-system/payments")
	})

	t.Run("expired exception", func(t *testing.T) {
		r, err := e.verify(e.c.Config, time.Date(2027, 11, 1, 0, 0, 0, 0, time.UTC))
		if err != nil {
			t.Fatal(err)
		}
		expectOnly(t, r, "exception POD-10,POD-16,CHG-02 : exception sec-142 (SEC-142)")
		warned := false
		for _, f := range r.Findings {
			if f.Status == verify.Warn && strings.Contains(f.Message, "sec-177") {
				warned = true
			}
		}
		if warned {
			t.Error("SEC-177 expires in 2028 and should not be warned about in November 2027")
		}
		r, _ = e.verify(e.c.Config, time.Date(2028, 1, 15, 0, 0, 0, 0, time.UTC))
		for _, f := range r.Findings {
			if f.Status == verify.Warn && strings.Contains(f.Message, "sec-177") {
				warned = true
			}
		}
		if !warned {
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
		expectOnly(t, check(t), "drift NET-03 NetworkPolicy ledger/bulwark-old")
	})

	t.Run("Argo CD application", func(t *testing.T) {
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
			r, err := verify.Run(e.ctx, e.c.Config, e.b, verify.Options{Digest: e.digest, ArgoCD: &verify.NamespacedName{Namespace: "flux-system", Name: "payments"},
				Now: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)})
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		setApp(e.digest, "Synced", "Healthy")
		if r := run(); !r.Converged {
			t.Fatalf("synced application: %v", failing(r))
		}
		setApp("sha256:"+strings.Repeat("1", 64), "Synced", "Healthy")
		expectOnly(t, run(), "gitops CHG-02 Application flux-system/payments")
		setApp(e.digest, "OutOfSync", "Healthy")
		expectOnly(t, run(), "is OutOfSync, not Synced")
	})

	t.Run("wait converges once the cluster catches up", func(t *testing.T) {
		gvk := schema.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicy"}
		if err := e.resource(gvk, "ledger").Delete(e.ctx, "bulwark-allow-dns", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		go func() {
			time.Sleep(1500 * time.Millisecond)
			e.applyFile("network/ledger/networkpolicy-bulwark-allow-dns.yaml")
		}()
		var progress strings.Builder
		r, err := verify.Wait(e.ctx, e.c.Config, e.b, verify.Options{Cluster: "test", Digest: e.digest, Now: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}, 30*time.Second, &progress)
		if err != nil || !r.Converged {
			t.Fatalf("wait: %v, converged %v", err, r != nil && r.Converged)
		}
		if !strings.Contains(progress.String(), "findings failing") {
			t.Errorf("no progress line: %q", progress.String())
		}
		// And it gives up at the deadline with the last report.
		e.setPolicyReady("ValidatingPolicy", "payments-soc2-pod-05", false)
		defer e.setPolicyReady("ValidatingPolicy", "payments-soc2-pod-05", true)
		r, err = verify.Wait(e.ctx, e.c.Config, e.b, verify.Options{Digest: e.digest, Now: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}, 2*time.Second, nil)
		if err != nil || r == nil || r.Converged {
			t.Fatalf("wait past the deadline: err %v, report %v", err, r != nil)
		}
	})

	t.Run("API server audit logging", func(t *testing.T) {
		warned := func(r *verify.Report) bool {
			for _, f := range r.Findings {
				if f.Status == verify.Warn && len(f.Controls) == 1 && f.Controls[0] == "LOG-01" {
					return true
				}
			}
			return false
		}
		if r := check(t); !warned(r) {
			t.Error("with no visible API server pod, LOG-01 must be a warning, not a pass")
		}
		pod := func(args ...string) *corev1.Pod {
			return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "kube-apiserver-node1", Namespace: "kube-system", Labels: map[string]string{"component": "kube-apiserver"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "kube-apiserver", Image: "registry.k8s.io/kube-apiserver:v1.37.2", Command: append([]string{"kube-apiserver"}, args...)}}}}
		}
		e.must(e.Kube.CoreV1().Pods("kube-system").Create(e.ctx, pod("--secure-port=6443"), metav1.CreateOptions{}))
		expectOnly(t, check(t), "coverage LOG-01 Pod kube-system/kube-apiserver-node1")
		e.Kube.CoreV1().Pods("kube-system").Delete(e.ctx, "kube-apiserver-node1", metav1.DeleteOptions{GracePeriodSeconds: new(int64)})
		for i := 0; i < 50; i++ {
			if _, err := e.Kube.CoreV1().Pods("kube-system").Get(e.ctx, "kube-apiserver-node1", metav1.GetOptions{}); err != nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		e.must(e.Kube.CoreV1().Pods("kube-system").Create(e.ctx, pod("--audit-policy-file=/etc/audit/policy.yaml", "--audit-log-path=/var/log/audit.log"), metav1.CreateOptions{}))
		defer e.Kube.CoreV1().Pods("kube-system").Delete(e.ctx, "kube-apiserver-node1", metav1.DeleteOptions{GracePeriodSeconds: new(int64)})
		if r := check(t); !r.Converged || warned(r) {
			t.Errorf("audited API server: converged %v, warned %v", r.Converged, warned(r))
		}
	})

	t.Run("429 with Retry-After is retried", func(t *testing.T) {
		// A proxy in front of the real API server refuses the first namespace LIST.
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
		var refused, lists atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/api/v1/namespaces" && r.Method == http.MethodGet {
				lists.Add(1)
				if refused.CompareAndSwap(0, 1) {
					w.Header().Set("Retry-After", "1")
					http.Error(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"TooManyRequests","code":429}`, http.StatusTooManyRequests)
					return
				}
			}
			proxy.ServeHTTP(w, r)
		}))
		defer srv.Close()
		r, err := e.verify(&rest.Config{Host: srv.URL}, time.Time{})
		if err != nil {
			t.Fatalf("verify through a throttling API server: %v", err)
		}
		if !r.Converged || lists.Load() != 2 {
			t.Fatalf("converged %v after %d namespace LISTs; want the 429 retried once", r.Converged, lists.Load())
		}
	})

	t.Run("unreachable cluster is exit 3 within the timeout", func(t *testing.T) {
		cfg := rest.CopyConfig(e.c.Config)
		cfg.Host = "https://127.0.0.1:1"
		cfg.Timeout = 2 * time.Second
		start := time.Now()
		_, err := e.verify(cfg, time.Time{})
		if exitcode.Of(err, 0) != exitcode.Environment || !strings.Contains(err.Error(), "unreachable") {
			t.Fatalf("error %v (exit %d), want exit 3 naming the cluster unreachable", err, exitcode.Of(err, 0))
		}
		if time.Since(start) > 30*time.Second {
			t.Errorf("took %s", time.Since(start))
		}
	})

	t.Run("forbidden user is exit 3 naming the permission", func(t *testing.T) {
		_, err := e.verify(e.c.UserConfig(t, "nobody"), time.Time{})
		if exitcode.Of(err, 0) != exitcode.Environment || !strings.Contains(err.Error(), "cannot list resource") {
			t.Fatalf("error %v, want exit 3 naming the missing permission", err)
		}
	})

	t.Run("the published read-only role is enough", func(t *testing.T) {
		data, err := os.ReadFile(filepath.Join("..", "examples", "verify-clusterrole.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		objs, err := testenv.DecodeYAML(data)
		if err != nil {
			t.Fatal(err)
		}
		e.apply(objs[0])
		e.must(e.Kube.RbacV1().ClusterRoleBindings().Create(e.ctx, &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "release-verify"},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: objs[0].GetName()},
			Subjects:   []rbacv1.Subject{{Kind: "User", Name: "release-pipeline", APIGroup: "rbac.authorization.k8s.io"}},
		}, metav1.CreateOptions{}))
		// RBAC changes take effect asynchronously in the authorizer's cache.
		var r *verify.Report
		for i := 0; i < 50; i++ {
			if r, err = e.verify(e.c.UserConfig(t, "release-pipeline"), time.Time{}); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Fatal(err)
		}
		if !r.Converged {
			t.Fatalf("not converged as the role's user:\n%s", strings.Join(failing(r), "\n"))
		}
	})
}
