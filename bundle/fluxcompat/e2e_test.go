package fluxcompat

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	fluxoci "github.com/fluxcd/pkg/oci"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"bulwark.dev/bulwark/bundle"
	"bulwark.dev/bulwark/bundle/gitops"
	"bulwark.dev/bulwark/bundle/oci"
	"bulwark.dev/bulwark/bundle/signature"
	"bulwark.dev/bulwark/catalogue"
	"bulwark.dev/bulwark/generators"
	"bulwark.dev/bulwark/internal/testenv"
	"bulwark.dev/bulwark/profile"
	"bulwark.dev/bulwark/verify"
)

var (
	ociRepoGVK = schema.GroupVersionKind{Group: "source.toolkit.fluxcd.io", Version: "v1", Kind: "OCIRepository"}
	kustGVK    = schema.GroupVersionKind{Group: "kustomize.toolkit.fluxcd.io", Version: "v1", Kind: "Kustomization"}
)

// source does what source-controller does for an OCIRepository, with Flux's own OCI client:
// pull the referenced artifact, verify its cosign signature with the keys of spec.verify,
// pack it as a Flux artifact, serve it over HTTP on 127.0.0.1, and record it in the status.
// source-controller itself cannot be built from the Go module proxy (its fluxcd/pkg
// dependencies are not served), so the test stands in for it with the same libraries.
type source struct {
	t      *testing.T
	client *testenv.Client
	dir    string
	url    string
	mu     sync.Mutex
	served map[string]string // digest -> file
}

func newSource(t *testing.T, client *testenv.Client) *source {
	s := &source{t: t, client: client, dir: t.TempDir(), served: map[string]string{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir(s.dir)), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	s.url = "http://" + ln.Addr().String()
	return s
}

func (s *source) reconcile(ctx context.Context, ns, name string) error {
	ri, err := s.client.Resource(ociRepoGVK, ns)
	if err != nil {
		return err
	}
	repo, err := ri.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	url, _, _ := unstructured.NestedString(repo.Object, "spec", "url")
	tag, _, _ := unstructured.NestedString(repo.Object, "spec", "ref", "tag")
	ref := strings.TrimPrefix(url, "oci://") + ":" + tag
	d, err := registryClient(s.t).Resolve(ctx, ref)
	if err != nil {
		return err
	}
	// As source-controller does, say which generation of the spec the status describes.
	unstructured.SetNestedField(repo.Object, repo.GetGeneration(), "status", "observedGeneration")
	setCond := func(typ, status, reason, msg string) {
		conds, _, _ := unstructured.NestedSlice(repo.Object, "status", "conditions")
		var out []any
		for _, c := range conds {
			if c.(map[string]any)["type"] != typ {
				out = append(out, c)
			}
		}
		out = append(out, map[string]any{"type": typ, "status": status, "reason": reason, "message": msg, "lastTransitionTime": time.Now().UTC().Format(time.RFC3339)})
		unstructured.SetNestedSlice(repo.Object, out, "status", "conditions")
	}
	if secret, found, _ := unstructured.NestedString(repo.Object, "spec", "verify", "secretRef", "name"); found {
		sec, err := s.client.Kube.CoreV1().Secrets(ns).Get(ctx, secret, metav1.GetOptions{})
		if err != nil {
			return err
		}
		verified := false
		for k, v := range sec.Data {
			if !strings.HasSuffix(k, ".pub") {
				continue
			}
			verifier, err := signature.LoadVerifier(v)
			if err != nil {
				return err
			}
			if signature.Verify(ctx, registryClient(s.t), d, verifier) == nil {
				verified = true
			}
		}
		if !verified {
			// As source-controller does: keep serving the last verified artifact.
			setCond("SourceVerified", "False", "VerificationError", "no valid cosign signature for "+d.DigestStr())
			setCond("Ready", "False", "VerificationError", "signature verification failed for "+tag+"@"+d.DigestStr())
			_, err := ri.UpdateStatus(ctx, repo, metav1.UpdateOptions{})
			return err
		}
		setCond("SourceVerified", "True", "Succeeded", "verified signature of revision "+tag+"@"+d.DigestStr())
	}
	s.mu.Lock()
	file, ok := s.served[d.DigestStr()]
	s.mu.Unlock()
	if !ok {
		extract := filepath.Join(s.dir, "x-"+d.DigestStr()[7:19])
		c := fluxoci.NewClient(fluxoci.DefaultOptions())
		if _, err := c.Pull(ctx, d.String(), extract); err != nil {
			return fmt.Errorf("pulling %s with Flux's client: %w", d, err)
		}
		file = d.DigestStr()[7:] + ".tar.gz"
		if err := c.Build(filepath.Join(s.dir, file), extract, nil); err != nil {
			return err
		}
		s.mu.Lock()
		s.served[d.DigestStr()] = file
		s.mu.Unlock()
	}
	data, err := os.ReadFile(filepath.Join(s.dir, file))
	if err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	unstructured.SetNestedMap(repo.Object, map[string]any{
		"path": "ocirepository/" + ns + "/" + name + "/" + file, "url": s.url + "/" + file,
		"revision": tag + "@" + d.DigestStr(), "digest": "sha256:" + hex.EncodeToString(sum[:]),
		"size": int64(len(data)), "lastUpdateTime": time.Now().UTC().Format(time.RFC3339),
	}, "status", "artifact")
	setCond("Ready", "True", "Succeeded", "stored artifact for digest '"+tag+"@"+d.DigestStr()+"'")
	_, err = ri.UpdateStatus(ctx, repo, metav1.UpdateOptions{})
	return err
}

// markReady writes what the absent Kyverno and cert-manager would: policy and issuer
// statuses, and the namespace labels of the POD-00 and TLS-02 MutatingPolicies.
func markReady(ctx context.Context, t *testing.T, client *testenv.Client, b *bundle.Bundle) {
	sensitive := map[string]bool{}
	for _, n := range b.Index.Spec.Scope.Namespaces.SensitiveInclude {
		sensitive[n] = true
	}
	for _, n := range b.Index.Spec.Scope.Namespaces.Include {
		ns, err := client.Kube.CoreV1().Namespaces().Get(ctx, n, metav1.GetOptions{})
		if err != nil {
			continue
		}
		level := "baseline"
		if sensitive[n] {
			level = "restricted"
		}
		if ns.Labels["pod-security.kubernetes.io/enforce"] != level {
			ns.Labels["pod-security.kubernetes.io/enforce"] = level
			ns.Labels["istio-injection"] = "enabled"
			client.Kube.CoreV1().Namespaces().Update(ctx, ns, metav1.UpdateOptions{})
		}
	}
	for _, o := range b.Index.Spec.Objects {
		var status map[string]any
		switch {
		case strings.HasPrefix(o.APIVersion, "policies.kyverno.io/") && o.Kind != "PolicyException":
			status = map[string]any{"conditionStatus": map[string]any{"ready": true}}
		case o.Kind == "ClusterIssuer" || o.Kind == "Certificate":
			status = map[string]any{"conditions": []any{map[string]any{"type": "Ready", "status": "True", "reason": "Ready"}}}
		default:
			continue
		}
		gv, _ := schema.ParseGroupVersion(o.APIVersion)
		ri, err := client.Resource(gv.WithKind(o.Kind), o.Namespace)
		if err != nil {
			t.Fatal(err)
		}
		obj, err := ri.Get(ctx, o.Name, metav1.GetOptions{})
		if err != nil {
			continue // not applied yet; the next round marks it
		}
		obj.Object["status"] = status
		ri.UpdateStatus(ctx, obj, metav1.UpdateOptions{})
	}
}

// TestGitOpsEndToEnd: push a signed bundle, sync it with Flux's kustomize-controller, see
// verify converge; release 1.1.0 and see verify follow; push an unsigned 1.2.0 and see the
// source refuse it and verify report the stuck revision.
func TestGitOpsEndToEnd(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := testenv.StartCluster(t)
	testenv.InstallCRDs(t, c.Config)
	client := testenv.NewClient(c.Config)
	client.Namespaces(t, "flux-system", "payments", "ledger", "legacy-batch", "istio-system", "cert-manager", "kyverno")
	reg := testenv.StartRegistry(t, testenv.RegistryOptions{})
	kcLog := testenv.KustomizeController(t, c)

	cat, _ := catalogue.Load()
	p, err := profile.Load(filepath.Join("..", "..", "examples", "payments.yaml"), profile.LoadOptions{KnownControls: cat.IDSet()})
	if err != nil {
		t.Fatal(err)
	}
	priv, pub, err := signature.GenerateKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := signature.LoadSigner(priv, nil)
	repo := reg.Ref("policies/payments")
	release := func(version string, sign bool) (*bundle.Bundle, string) {
		b, err := generators.Build(p, cat, version)
		if err != nil {
			t.Fatal(err)
		}
		d, err := registryClient(t).Push(ctx, b, repo+":"+version, oci.PushOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if sign {
			if err := signature.Sign(ctx, registryClient(t), d, signer); err != nil {
				t.Fatal(err)
			}
		}
		return b, d.DigestStr()
	}

	// What `bulwark gitops flux --verify-key` prints, applied as a user would.
	opts := gitops.Options{Ref: "oci://" + repo + ":1.0.0", Name: "payments", VerifySecret: "cosign-pub", VerifyKey: pub, Insecure: true, Interval: time.Minute}
	ocirepo, kust, err := gitops.Flux(opts)
	if err != nil {
		t.Fatal(err)
	}
	kust.Spec.Interval = metav1.Duration{Duration: 5 * time.Second}
	for _, obj := range []any{gitops.VerifyKeySecret(opts), ocirepo, kust} {
		u := toUnstructured(t, obj)
		if err := client.Apply(ctx, u, false); err != nil {
			t.Fatalf("applying %s: %v", u.GetKind(), err)
		}
	}

	src := newSource(t, client)
	// The controllers' loop: the source reconciles, the absent policy engines report ready.
	var current *bundle.Bundle
	var curMu sync.Mutex
	go func() {
		for ctx.Err() == nil {
			if err := src.reconcile(ctx, "flux-system", "payments"); err != nil && ctx.Err() == nil {
				t.Logf("source: %v", err)
			}
			curMu.Lock()
			if current != nil {
				markReady(ctx, t, client, current)
			}
			curMu.Unlock()
			time.Sleep(500 * time.Millisecond)
		}
	}()
	converge := func(b *bundle.Bundle, digest string, wait time.Duration) *verify.Report {
		curMu.Lock()
		current = b
		curMu.Unlock()
		r, err := verify.Wait(ctx, c.Config, b, verify.Options{Cluster: "e2e", Digest: digest, Flux: &verify.NamespacedName{Namespace: "flux-system", Name: "payments"}}, wait, nil)
		if err != nil {
			t.Fatalf("verify: %v\nkustomize-controller:\n%s", err, testenv.Tail(kcLog, 20))
		}
		return r
	}
	setTag := func(tag string) {
		ri, _ := client.Resource(ociRepoGVK, "flux-system")
		obj, err := ri.Get(ctx, "payments", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		unstructured.SetNestedField(obj.Object, tag, "spec", "ref", "tag")
		if _, err := ri.Update(ctx, obj, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	b1, d1 := release("1.0.0", true)
	if r := converge(b1, d1, 3*time.Minute); !r.Converged {
		t.Fatalf("1.0.0 did not converge:\n%s\nkustomize-controller:\n%s", failures(r), testenv.Tail(kcLog, 30))
	}

	// 1.1.0 drops a control: Flux prunes its policy and verify follows the new digest.
	p.Spec.Controls.Disable = append(p.Spec.Controls.Disable, "AVL-02")
	b2, d2 := release("1.1.0", true)
	setTag("1.1.0")
	if r := converge(b2, d2, 3*time.Minute); !r.Converged {
		t.Fatalf("1.1.0 did not converge:\n%s\nkustomize-controller:\n%s", failures(r), testenv.Tail(kcLog, 30))
	}
	vp, _ := client.Resource(schema.GroupVersionKind{Group: "policies.kyverno.io", Version: "v1", Kind: "ValidatingPolicy"}, "")
	if _, err := vp.Get(ctx, "payments-soc2-avl-02", metav1.GetOptions{}); err == nil {
		t.Error("Flux did not prune the policy 1.1.0 dropped")
	}

	// An unsigned 1.2.0 is refused at the source; verify reports the cluster stuck at 1.1.0.
	b3, d3 := release("1.2.0", false)
	setTag("1.2.0")
	r := converge(b3, d3, 10*time.Second)
	if r.Converged {
		t.Fatal("verify converged on an unsigned bundle")
	}
	stuck := false
	for _, f := range r.Findings {
		if f.Check == verify.CheckGitOps && f.Status == verify.Fail && strings.Contains(f.Message, "1.1.0@"+d2) {
			stuck = true
		}
	}
	if !stuck {
		t.Errorf("verify does not report the stuck revision 1.1.0:\n%s", failures(r))
	}
	ri, _ := client.Resource(ociRepoGVK, "flux-system")
	obj, _ := ri.Get(ctx, "payments", metav1.GetOptions{})
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	refused := false
	for _, c := range conds {
		m := c.(map[string]any)
		if m["type"] == "SourceVerified" && m["status"] == "False" {
			refused = true
		}
	}
	if !refused {
		t.Error("the source did not refuse the unsigned bundle")
	}
}

func failures(r *verify.Report) string {
	var out []string
	for _, f := range r.Findings {
		if f.Status == verify.Fail {
			out = append(out, string(f.Check)+" "+strings.Join(f.Controls, ",")+": "+f.Message)
		}
	}
	return strings.Join(out, "\n")
}

func toUnstructured(t *testing.T, obj any) *unstructured.Unstructured {
	t.Helper()
	objs, err := testenv.DecodeYAML(mustJSON(t, obj))
	if err != nil || len(objs) != 1 {
		t.Fatalf("%v", err)
	}
	return objs[0]
}
