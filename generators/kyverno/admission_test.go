package kyverno_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"bulwark.dev/bulwark/bundle/oci"
	"bulwark.dev/bulwark/bundle/signature"
	"bulwark.dev/bulwark/catalogue"
	"bulwark.dev/bulwark/generators"
	"bulwark.dev/bulwark/generators/internal/golden"
	"bulwark.dev/bulwark/internal/testenv"
	"bulwark.dev/bulwark/profile"
)

// These tests run Kyverno's real admission, background and reports controllers (v1.19.1,
// local processes built by tools/kyverno) against a real kube-apiserver, apply an example
// bundle's objects as Flux would, and watch Kyverno enforce them. Every policy status they
// read is written by Kyverno, every NetworkPolicy and label by Kyverno's controllers, every
// PolicyReport by its reports controller; the tests write none of them.

// realKyverno is a cluster running the Kyverno controllers with one example bundle applied.
type realKyverno struct {
	c      *testenv.Cluster
	k      *testenv.KyvernoControllers
	client *testenv.Client
}

// setup shapes startRealKyverno's cluster and bundle.
type setup struct {
	// skip names bundle objects (Kind/name) not applied, with the reason, which is logged.
	skip map[string]string
	// only, when set, names the only bundle objects applied.
	only []string
	// mutate changes the example profile before the bundle is built.
	mutate func(*profile.Profile)
	// before creates objects that exist before the bundle, as on a brownfield cluster.
	before func(*testenv.Client)
	// podSecurity keeps the API server's PodSecurity admission plugin on, for tests of
	// what the bundle's Pod Security labels make it do.
	podSecurity bool
}

// startRealKyverno starts a cluster and Kyverno, runs opts.before, applies the objects of
// the example's bundle that opts selects, and waits until Kyverno reports every policy
// ready.
//
// The kube-apiserver runs without its PodSecurity admission plugin unless opts.podSecurity.
// The bundle's own MutatingPolicy labels every namespace in scope for Pod Security
// Admission, and with the plugin on, a privileged pod would be refused by PSA before
// Kyverno's webhook sees it: the refusal would prove nothing about the bundle's Kyverno
// policies.
func startRealKyverno(t *testing.T, example string, opts setup) *realKyverno {
	t.Helper()
	var flags []string
	if !opts.podSecurity {
		flags = append(flags, "--disable-admission-plugins=PodSecurity")
	}
	c := testenv.StartClusterWith(t, flags...)
	k := testenv.StartKyverno(t, c)
	// The bundles also hold Istio and cert-manager kinds, and some policies match them.
	testenv.InstallCRDs(t, c.Config, "istio", "certmanager")
	r := &realKyverno{c: c, k: k, client: testenv.NewClient(c.Config)}
	if opts.before != nil {
		opts.before(r.client)
	}

	cat, err := catalogue.Load()
	if err != nil {
		t.Fatal(err)
	}
	p := golden.Examples(t, cat.IDSet())[example]
	if opts.mutate != nil {
		opts.mutate(p)
	}
	b, err := generators.Build(p, cat, "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var applied []*unstructured.Unstructured
	for _, o := range b.Index.Spec.Objects {
		if why, ok := opts.skip[o.Kind+"/"+o.Name]; ok {
			t.Logf("not applied: %s/%s: %s", o.Kind, o.Name, why)
			continue
		}
		if opts.only != nil && !slices.Contains(opts.only, o.Kind+"/"+o.Name) {
			continue
		}
		objs, err := testenv.DecodeYAML(b.Files[o.File])
		if err != nil || len(objs) != 1 {
			t.Fatalf("%s: %v (%d objects)", o.File, err, len(objs))
		}
		if o.Namespace != "" {
			r.client.Namespaces(t, o.Namespace)
		}
		if err := r.client.Apply(ctx, objs[0], false); err != nil {
			t.Fatalf("applying %s: %v", o.File, err)
		}
		applied = append(applied, objs[0])
	}
	for _, name := range append(slices.Collect(maps.Keys(opts.skip)), opts.only...) {
		found := false
		for _, o := range b.Index.Spec.Objects {
			found = found || o.Kind+"/"+o.Name == name
		}
		if !found {
			t.Fatalf("skip names %s, which the bundle does not hold", name)
		}
	}
	start := time.Now()
	k.WaitPoliciesReady(t, r.client, applied, 3*time.Minute)
	t.Logf("Kyverno reported every policy of %s ready %s after the last apply", example, time.Since(start).Round(time.Millisecond))
	return r
}

var (
	podGVK    = schema.GroupVersionKind{Version: "v1", Kind: "Pod"}
	netpolGVK = schema.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicy"}
	reportGVK = schema.GroupVersionKind{Group: "wgpolicyk8s.io", Version: "v1alpha2", Kind: "PolicyReport"}
)

// compliantPod passes every Pod control of the payments profile, even in its sensitive
// tier (the catalogue's POD-03 admit fixture, which meets Pod Security restricted).
func compliantPod(name, namespace string) *unstructured.Unstructured {
	return obj(fmt.Sprintf(`{"apiVersion": "v1", "kind": "Pod",
		"metadata": {"name": %q, "namespace": %q, "labels": {"app.kubernetes.io/name": "app", "owner": "payments-team"}},
		"spec": {"automountServiceAccountToken": false,
			"securityContext": {"runAsNonRoot": true, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
			"containers": [{"name": "app", "image": "ghcr.io/acme/app@sha256:%s",
				"resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
				"securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "capabilities": {"drop": ["ALL"]}}}],
			"volumes": [{"name": "tmp", "emptyDir": {}}]}}`, name, namespace, strings.Repeat("0", 64)))
}

func obj(js string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON([]byte(js)); err != nil {
		panic(err)
	}
	return u
}

func container(pod *unstructured.Unstructured) map[string]any {
	cs, _, _ := unstructured.NestedSlice(pod.Object, "spec", "containers")
	return cs[0].(map[string]any)
}

func (r *realKyverno) create(o *unstructured.Unstructured) error {
	ri, err := r.client.Resource(o.GroupVersionKind(), o.GetNamespace())
	if err != nil {
		return err
	}
	_, err = ri.Create(context.Background(), o, metav1.CreateOptions{})
	return err
}

// deniedByKyverno fails unless err is Kyverno's admission webhook refusing the request
// with one of controls' ids in the message. Kyverno registers a webhook per policy and the
// API server calls them concurrently, reporting whichever refusal comes first: a request
// that violates several controls may name any of them.
func deniedByKyverno(t *testing.T, what string, err error, controls ...string) {
	t.Helper()
	if !kyvernoDenial(err) {
		if err == nil {
			t.Errorf("%s was admitted; want it denied by Kyverno for %v", what, controls)
		} else {
			t.Errorf("%s was refused, but not by Kyverno's admission webhook: %v", what, err)
		}
		return
	}
	for _, c := range controls {
		if strings.Contains(err.Error(), c+":") {
			t.Logf("%s denied: %v", what, err)
			return
		}
	}
	t.Errorf("%s was denied by Kyverno without naming %v: %v", what, controls, err)
}

func kyvernoDenial(err error) bool {
	return err != nil && strings.Contains(err.Error(), "admission webhook") && strings.Contains(err.Error(), "kyverno") &&
		strings.Contains(err.Error(), "denied the request")
}

// unreachableSignatures are the payments bundle's SUP-04 policies. They verify cosign
// signatures of ghcr.io/acme/* and registry.acme.example/* images: Kyverno would fetch them
// from those registries, which this machine cannot reach (only the Go module proxy is). With
// them applied, every compliant pod would be refused for a network error, not for a control.
// TestRealKyvernoVerifiesImageSignatures runs them against a registry on 127.0.0.1.
var unreachableSignatures = map[string]string{
	"ImageValidatingPolicy/payments-soc2-sup-04":                     "verifies signatures in registries this machine cannot reach; see TestRealKyvernoVerifiesImageSignatures",
	"ImageValidatingPolicy/payments-soc2-sup-04-ephemeralcontainers": "verifies signatures in registries this machine cannot reach; see TestRealKyvernoVerifiesImageSignatures",
}

// TestRealKyvernoEnforcesPaymentsBundle applies the payments bundle (Enforce) to a cluster
// running Kyverno's controllers and checks what the admission webhook, the background
// controller and Kyverno's MutatingPolicy engine do with it.
func TestRealKyvernoEnforcesPaymentsBundle(t *testing.T) {
	t.Parallel() // own cluster and Kyverno; most of a start is waiting
	r := startRealKyverno(t, "payments", setup{skip: unreachableSignatures})
	ctx := context.Background()
	// shop joins the scope by label; payments, ledger and legacy-batch are named.
	shop := &unstructured.Unstructured{}
	shop.SetAPIVersion("v1")
	shop.SetKind("Namespace")
	shop.SetName("shop")
	shop.SetLabels(map[string]string{"bulwark.dev/scope": "app"})
	if err := r.create(shop); err != nil {
		t.Fatal(err)
	}
	r.client.Namespaces(t, "flux-system", "sandbox")

	t.Run("denied", func(t *testing.T) {
		privileged := compliantPod("privileged", "payments")
		c := container(privileged)
		c["securityContext"] = map[string]any{"privileged": true, "readOnlyRootFilesystem": true, "capabilities": map[string]any{"drop": []any{"ALL"}}}
		unstructured.SetNestedSlice(privileged.Object, []any{c}, "spec", "containers")
		// The API server refuses privileged with allowPrivilegeEscalation: false, so a
		// privileged pod violates POD-15 too.
		deniedByKyverno(t, "a privileged pod in payments", r.create(privileged), "POD-03", "POD-15")
		// POD-03 on its own: a PolicyException, as a team would write one, waives POD-15 for
		// one pod name, which leaves POD-03 the only control that pod violates. Kyverno
		// compiles exceptions into its policies asynchronously: until it has, POD-15 may
		// still answer first.
		exc := obj(`{"apiVersion": "policies.kyverno.io/v1", "kind": "PolicyException",
			"metadata": {"name": "test-privileged-only", "namespace": "kyverno"},
			"spec": {"policyRefs": [{"kind": "ValidatingPolicy", "name": "payments-soc2-pod-15"}],
				"matchConditions": [{"name": "this-pod", "expression": "(object != null ? object : oldObject).metadata.name == 'privileged-only'"}]}}`)
		if err := r.create(exc); err != nil {
			t.Fatal(err)
		}
		privileged.SetName("privileged-only")
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(500 * time.Millisecond) {
			err := r.create(privileged)
			if !kyvernoDenial(err) || strings.Contains(err.Error(), "POD-03:") || time.Now().After(deadline) {
				deniedByKyverno(t, "a privileged pod in payments, POD-15 waived", err, "POD-03")
				break
			}
		}

		unlisted := compliantPod("unlisted", "payments")
		c = container(unlisted)
		c["image"] = "docker.io/library/nginx@sha256:" + strings.Repeat("1", 64)
		unstructured.SetNestedSlice(unlisted.Object, []any{c}, "spec", "containers")
		deniedByKyverno(t, "a pod from docker.io in payments", r.create(unlisted), "SUP-01")

		latest := compliantPod("latest", "shop")
		c = container(latest)
		c["image"] = "ghcr.io/acme/app:latest"
		unstructured.SetNestedSlice(latest.Object, []any{c}, "spec", "containers")
		deniedByKyverno(t, "a :latest image in shop", r.create(latest), "SUP-02")

		plain := obj(`{"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "plain", "namespace": "payments"},
			"spec": {"rules": [{"host": "pay.acme.example", "http": {"paths": [{"path": "/", "pathType": "Prefix",
				"backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}}`)
		deniedByKyverno(t, "an Ingress without TLS in payments", r.create(plain), "TLS-03")

		// SEC-142 waives POD-10 (run as non-root) in legacy-batch only.
		root := compliantPod("root", "payments")
		unstructured.RemoveNestedField(root.Object, "spec", "securityContext", "runAsNonRoot")
		deniedByKyverno(t, "a pod not required to run as non-root in payments", r.create(root), "POD-10")
	})

	t.Run("admitted", func(t *testing.T) {
		for _, ns := range []string{"payments", "shop", "legacy-batch"} {
			if err := r.create(compliantPod("compliant", ns)); err != nil {
				t.Errorf("a compliant pod in %s was refused: %v", ns, err)
			}
		}
		tls := obj(`{"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "tls", "namespace": "payments"},
			"spec": {"rules": [{"host": "pay.acme.example", "http": {"paths": [{"path": "/", "pathType": "Prefix",
				"backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}],
				"tls": [{"hosts": ["pay.acme.example"], "secretName": "pay-tls"}]}}`)
		if err := r.create(tls); err != nil {
			t.Errorf("an Ingress with TLS was refused: %v", err)
		}
		// The excluded and the out-of-scope namespace: the bundle leaves them alone.
		for _, ns := range []string{"flux-system", "sandbox"} {
			p := compliantPod("privileged", ns)
			c := container(p)
			c["securityContext"] = map[string]any{"privileged": true}
			c["image"] = "docker.io/library/nginx:latest"
			unstructured.SetNestedSlice(p.Object, []any{c}, "spec", "containers")
			if err := r.create(p); err != nil {
				t.Errorf("a privileged :latest pod in %s (not in scope) was refused: %v", ns, err)
			}
		}
		// The exception's namespace.
		root := compliantPod("root", "legacy-batch")
		unstructured.RemoveNestedField(root.Object, "spec", "securityContext", "runAsNonRoot")
		if err := r.create(root); err != nil {
			t.Errorf("SEC-142 did not waive POD-10 in legacy-batch: %v", err)
		}
	})

	t.Run("a namespace labelled into scope", func(t *testing.T) {
		ns, err := r.client.Kube.CoreV1().Namespaces().Create(ctx, namespace("newapp", nil), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if l := ns.Labels["pod-security.kubernetes.io/enforce"]; l != "" {
			t.Fatalf("an out-of-scope namespace got Pod Security labels: %v", ns.Labels)
		}
		ns.Labels["bulwark.dev/scope"] = "app"
		ns, err = r.client.Kube.CoreV1().Namespaces().Update(ctx, ns, metav1.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		wantLabels(t, ns.Name, ns.Labels, map[string]string{
			"pod-security.kubernetes.io/enforce": "baseline",
			"pod-security.kubernetes.io/warn":    "restricted",
			"pod-security.kubernetes.io/audit":   "restricted",
			"istio-injection":                    "enabled",
		})
		r.waitNetworkPolicies(t, ns.Name, "payments-soc2-net-01")

		// The sensitive tier by label: restricted is enforced.
		vault, err := r.client.Kube.CoreV1().Namespaces().Create(ctx, namespace("vault", map[string]string{
			"bulwark.dev/scope": "app", "bulwark.dev/data-class": "confidential"}), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		wantLabels(t, vault.Name, vault.Labels, map[string]string{"pod-security.kubernetes.io/enforce": "restricted"})
		r.waitNetworkPolicies(t, vault.Name, "payments-soc2-net-01")
	})

	t.Run("the named namespaces", func(t *testing.T) {
		// Created while the bundle was being applied, before or after the MutatingPolicy was
		// ready: Kyverno labels them at admission or, for those that predate it, in the
		// background (mutateExisting). The bundle carries their NetworkPolicies itself.
		want := map[string]string{"payments": "restricted", "ledger": "restricted", "legacy-batch": "baseline"}
		deadline := time.Now().Add(2 * time.Minute)
		for name, level := range want {
			for {
				ns, err := r.client.Kube.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if ns.Labels["pod-security.kubernetes.io/enforce"] == level {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("namespace %s: Pod Security enforce label %q, want %q (labels %v)", name, ns.Labels["pod-security.kubernetes.io/enforce"], level, ns.Labels)
				}
				time.Sleep(250 * time.Millisecond)
			}
		}
	})
}

func wantLabels(t *testing.T, ns string, got, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("namespace %s: label %s=%q, want %q (Kyverno's MutatingPolicy sets it; labels: %v)", ns, k, got[k], v, got)
		}
	}
}

// waitNetworkPolicies waits until Kyverno's background controller has generated the
// default-deny and DNS NetworkPolicies in ns from the GeneratingPolicy policy.
func (r *realKyverno) waitNetworkPolicies(t *testing.T, ns, policy string) {
	t.Helper()
	ri, err := r.client.Resource(netpolGVK, ns)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	deadline := time.Now().Add(2 * time.Minute)
	for _, name := range []string{"bulwark-default-deny", "bulwark-allow-dns"} {
		for {
			np, err := ri.Get(ctx, name, metav1.GetOptions{})
			if err == nil {
				types, _, _ := unstructured.NestedStringSlice(np.Object, "spec", "policyTypes")
				switch name {
				case "bulwark-default-deny":
					if strings.Join(types, ",") != "Ingress,Egress" {
						t.Errorf("%s/%s policyTypes %v, want Ingress,Egress", ns, name, types)
					}
				case "bulwark-allow-dns":
					if !strings.Contains(fmt.Sprint(np.Object["spec"]), "port:53") {
						t.Errorf("%s/%s does not allow port 53: %v", ns, name, np.Object["spec"])
					}
				}
				if got := np.GetLabels()["generate.kyverno.io/policy-name"]; got != policy {
					t.Errorf("%s/%s not generated by Kyverno from %s (labels %v)", ns, name, policy, np.GetLabels())
				}
				break
			}
			if !apierrors.IsNotFound(err) {
				t.Fatal(err)
			}
			if time.Now().After(deadline) {
				t.Fatalf("Kyverno's background controller generated no NetworkPolicy %s in %s", name, ns)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
}

func namespace(name string, labels map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}

// TestRealKyvernoReportsBrownfieldAudit applies the brownfield-audit bundle (Audit, IAM-04
// Enforce) to a cluster where a non-compliant pod already runs, and reads the PolicyReport
// Kyverno's reports controller writes for it. The API server's PodSecurity admission is on:
// Audit must mean audit there too.
func TestRealKyvernoReportsBrownfieldAudit(t *testing.T) {
	t.Parallel() // own cluster and Kyverno; most of a start is waiting
	var existing *unstructured.Unstructured
	r := startRealKyverno(t, "brownfield-audit", setup{podSecurity: true, before: func(c *testenv.Client) {
		c.Namespaces(t, "shop")
		existing = compliantPod("legacy", "shop")
		ct := container(existing)
		ct["securityContext"] = map[string]any{"privileged": true}
		unstructured.SetNestedSlice(existing.Object, []any{ct}, "spec", "containers")
		ri, err := c.Resource(podGVK, "shop")
		if err != nil {
			t.Fatal(err)
		}
		if existing, err = ri.Create(context.Background(), existing, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}})

	t.Run("the existing pod's PolicyReport", func(t *testing.T) {
		// Alone the report shows in about a minute; on a loaded 2-core machine (three Kyverno
		// installs in parallel) the background scan has taken over 3 minutes to cover every
		// policy, having first reported the few that were ready at its first pass.
		r.waitReportedFailing(t, existing, "brownfield-audit-pod-03", "POD-03:", 6*time.Minute)
	})

	t.Run("audit admits, the enforced control denies", func(t *testing.T) {
		// Kyverno's background controller labels shop, which predates the bundle, for Pod
		// Security Admission: wait for it, so that PSA judges the pod by the bundle's labels.
		ctx := context.Background()
		deadline := time.Now().Add(2 * time.Minute)
		var shop *corev1.Namespace
		for {
			var err error
			if shop, err = r.client.Kube.CoreV1().Namespaces().Get(ctx, "shop", metav1.GetOptions{}); err != nil {
				t.Fatal(err)
			}
			if shop.Labels["pod-security.kubernetes.io/warn"] == "restricted" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("Kyverno did not label shop for Pod Security Admission: %v", shop.Labels)
			}
			time.Sleep(250 * time.Millisecond)
		}
		p := compliantPod("new-privileged", "shop")
		ct := container(p)
		ct["securityContext"] = map[string]any{"privileged": true}
		unstructured.SetNestedSlice(p.Object, []any{ct}, "spec", "containers")
		// Pod Security Admission warns (and audits) at restricted but does not deny.
		warnings := &warningRecorder{}
		cfg := rest.CopyConfig(r.c.Config)
		cfg.WarningHandler = warnings
		dyn, err := dynamic.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		created, err := dyn.Resource(schema.GroupVersionResource{Version: "v1", Resource: "pods"}).Namespace("shop").Create(ctx, p, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("Audit mode refused a privileged pod (shop labels %v): %v", shop.Labels, err)
		}
		if !warnings.contains("PodSecurity") {
			t.Errorf("Pod Security Admission did not warn about the privileged pod: %q", warnings.messages())
		}
		wantLabels(t, "shop", shop.Labels, map[string]string{
			"pod-security.kubernetes.io/enforce":         "privileged",
			"pod-security.kubernetes.io/enforce-version": "v1.37",
			"pod-security.kubernetes.io/warn-version":    "v1.37",
			"pod-security.kubernetes.io/audit":           "restricted",
		})
		// IAM-04 stays Enforce: no workloads in the default namespace.
		deniedByKyverno(t, "a pod in default", r.create(compliantPod("app", "default")), "IAM-04")
		// And Kyverno reports the admitted pod's violation.
		r.waitReportedFailing(t, created, "brownfield-audit-pod-03", "POD-03:", 3*time.Minute)
	})
}

// warningRecorder collects the warnings the API server returns.
type warningRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warningRecorder) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, text)
}

func (w *warningRecorder) messages() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.msgs...)
}

func (w *warningRecorder) contains(s string) bool {
	for _, m := range w.messages() {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}

// waitReportedFailing waits until the PolicyReport Kyverno's reports controller writes for
// pod has a failing result for policy whose message contains msg.
func (r *realKyverno) waitReportedFailing(t *testing.T, pod *unstructured.Unstructured, policy, msg string, timeout time.Duration) {
	t.Helper()
	ns := pod.GetNamespace()
	ri, err := r.client.Resource(reportGVK, ns)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	deadline := time.Now().Add(timeout)
	for {
		// The reports controller names a resource's report after the resource's UID.
		rep, err := ri.Get(ctx, string(pod.GetUID()), metav1.GetOptions{})
		if err == nil {
			results, _, _ := unstructured.NestedSlice(rep.Object, "results")
			for _, res := range results {
				m, _ := res.(map[string]any)
				if m["policy"] == policy && m["result"] == "fail" {
					if got, _ := m["message"].(string); !strings.Contains(got, msg) {
						t.Errorf("the failing result does not say %q: %v", msg, m)
					}
					t.Logf("PolicyReport %s/%s: %d results, %s fail: %v", rep.GetNamespace(), rep.GetName(), len(results), policy, m["message"])
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("the PolicyReport for %s/%s has no failing result for %s: %v", ns, pod.GetName(), policy, results)
			}
		} else if !apierrors.IsNotFound(err) {
			t.Fatal(err)
		} else if time.Now().After(deadline) {
			list, _ := ri.List(ctx, metav1.ListOptions{})
			var names []string
			if list != nil {
				for _, i := range list.Items {
					names = append(names, i.GetName())
				}
			}
			t.Fatalf("Kyverno's reports controller wrote no PolicyReport for %s/%s (uid %s) in %s; reports in %s: %v", ns, pod.GetName(), pod.GetUID(), timeout, ns, names)
		}
		time.Sleep(time.Second)
	}
}

// TestRealKyvernoVerifiesImageSignatures runs the payments bundle's ImageValidatingPolicy
// (SUP-04) in Kyverno's admission controller against a real registry on 127.0.0.1: the
// profile's registry and key are swapped for the registry's address and a key made here,
// the only changes; the signature is Bulwark's own (signature.Sign, cosign's format).
func TestRealKyvernoVerifiesImageSignatures(t *testing.T) {
	t.Parallel() // own cluster and Kyverno; most of a start is waiting
	ctx := context.Background()
	reg := testenv.StartRegistry(t, testenv.RegistryOptions{})
	priv, pub, err := signature.GenerateKeyPair([]byte("test"))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := signature.LoadSigner(priv, []byte("test"))
	if err != nil {
		t.Fatal(err)
	}
	// Any OCI artifact is an image to Kyverno's verifier: two bundles stand in for images.
	cat, err := catalogue.Load()
	if err != nil {
		t.Fatal(err)
	}
	p := golden.Examples(t, cat.IDSet())["saas-starter"]
	registry, err := oci.New()
	if err != nil {
		t.Fatal(err)
	}
	push := func(repo, version string) string {
		b, err := generators.Build(p, cat, version)
		if err != nil {
			t.Fatal(err)
		}
		d, err := registry.Push(ctx, b, reg.Ref(repo+":"+version), oci.PushOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if repo == "acme/signed" {
			if err := signature.Sign(ctx, registry, d, signer); err != nil {
				t.Fatal(err)
			}
		}
		return d.String()
	}
	signed, unsigned := push("acme/signed", "1.0.0"), push("acme/unsigned", "1.0.0")

	r := startRealKyverno(t, "payments", setup{
		only: []string{"ImageValidatingPolicy/payments-soc2-sup-04", "ImageValidatingPolicy/payments-soc2-sup-04-ephemeralcontainers"},
		mutate: func(p *profile.Profile) {
			p.Spec.Images.AllowedRegistries = []string{reg.Addr + "/acme/"}
			p.Spec.Images.SignatureKeys = []profile.SignatureKey{{Name: "release", PublicKey: string(pub)}}
		},
	})
	r.client.Namespaces(t, "payments")
	pod := func(name, image string) *unstructured.Unstructured {
		p := compliantPod(name, "payments")
		c := container(p)
		c["image"] = image
		unstructured.SetNestedSlice(p.Object, []any{c}, "spec", "containers")
		return p
	}
	if err := r.create(pod("signed", signed)); err != nil {
		t.Errorf("a pod whose image carries the profile key's signature was refused: %v", err)
	}
	deniedByKyverno(t, "a pod whose image is unsigned", r.create(pod("unsigned", unsigned)), "SUP-04")
	// kubectl debug on the signed pod: an UPDATE of pods/ephemeralcontainers.
	pods := r.client.Kube.CoreV1().Pods("payments")
	debug := func(name, image string) error {
		got, err := pods.Get(ctx, "signed", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got.Spec.EphemeralContainers = append(got.Spec.EphemeralContainers, corev1.EphemeralContainer{
			EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: name, Image: image}, TargetContainerName: "app"})
		_, err = pods.UpdateEphemeralContainers(ctx, "signed", got, metav1.UpdateOptions{})
		return err
	}
	deniedByKyverno(t, "an ephemeral container whose image is unsigned", debug("unsigned", unsigned), "SUP-04")
	if err := debug("signed", signed); err != nil {
		t.Errorf("an ephemeral container whose image carries the profile key's signature was refused: %v", err)
	}
}

// TestRealKyvernoDeniesKubectlDebug sends what `kubectl debug` sends: an UPDATE of an
// existing pod's pods/ephemeralcontainers subresource whose object is the whole Pod with
// the new ephemeral container added. A pod control that matched only pods would never see
// it.
func TestRealKyvernoDeniesKubectlDebug(t *testing.T) {
	t.Parallel() // own cluster and Kyverno; most of a start is waiting
	r := startRealKyverno(t, "payments", setup{skip: unreachableSignatures})
	ctx := context.Background()
	if err := r.create(compliantPod("app", "payments")); err != nil {
		t.Fatalf("a compliant pod in payments was refused: %v", err)
	}
	pods := r.client.Kube.CoreV1().Pods("payments")
	debug := func(name string, sc *corev1.SecurityContext) error {
		pod, err := pods.Get(ctx, "app", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		pod.Spec.EphemeralContainers = append(pod.Spec.EphemeralContainers, corev1.EphemeralContainer{
			EphemeralContainerCommon: corev1.EphemeralContainerCommon{
				Name:            name,
				Image:           "ghcr.io/acme/debug@sha256:" + strings.Repeat("1", 64),
				SecurityContext: sc,
			},
			TargetContainerName: "app",
		})
		_, err = pods.UpdateEphemeralContainers(ctx, "app", pod, metav1.UpdateOptions{})
		return err
	}
	hardened := func() *corev1.SecurityContext {
		return &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptrTo(false),
			ReadOnlyRootFilesystem:   ptrTo(true),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		}
	}
	privileged := hardened()
	privileged.Privileged = ptrTo(true)
	privileged.AllowPrivilegeEscalation = nil // the API server refuses privileged with it false
	deniedByKyverno(t, "a privileged ephemeral container in payments", debug("privileged", privileged), "POD-03", "POD-15")
	root := hardened()
	root.RunAsUser = ptrTo(int64(0))
	deniedByKyverno(t, "an ephemeral container running as UID 0 in payments", debug("root", root), "POD-16")
	if err := debug("debugger", hardened()); err != nil {
		t.Errorf("a compliant ephemeral container in payments was refused: %v", err)
	}
	got, err := pods.Get(ctx, "app", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range got.Spec.EphemeralContainers {
		names = append(names, e.Name)
	}
	if !slices.Equal(names, []string{"debugger"}) {
		t.Errorf("ephemeral containers of payments/app = %v, want only the compliant [debugger]", names)
	}
}

func ptrTo[T any](v T) *T { return &v }
