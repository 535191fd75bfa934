package argocdcompat

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"

	"bulwark.dev/bulwark/bundle"
	"bulwark.dev/bulwark/bundle/gitops"
	"bulwark.dev/bulwark/internal/testenv"
	"bulwark.dev/bulwark/pipeline"
	"bulwark.dev/bulwark/verify"
)

// argoModule is the Argo CD module whose binary the loop runs.
const argoModule = "github.com/argoproj/argo-cd/v3"

var (
	appGVK     = schema.GroupVersionKind{Group: "argoproj.io", Version: "v1alpha1", Kind: "Application"}
	projectGVK = schema.GroupVersionKind{Group: "argoproj.io", Version: "v1alpha1", Kind: "AppProject"}
)

// argocdControllerUser is the identity the application controller has in Argo CD's
// install: the argocd/argocd-application-controller service account, bound to cluster-admin
// (its argocd-application-controller ClusterRole grants every verb on everything).
const argocdControllerUser = "system:serviceaccount:argocd:argocd-application-controller"

// argocdBinary builds Argo CD's multi-call binary (github.com/argoproj/argo-cd/v3/cmd, the
// one its image ships as /usr/local/bin/argocd) with this module's dependency graph, once:
// it is cached outside the checkout under ~/.cache/bulwark/tools/argocd-<go.sum hash>, as
// tools/build.sh caches the other tools. BULWARK_TOOLS_ARGOCD names a directory that
// already holds it.
func argocdBinary(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("BULWARK_TOOLS_ARGOCD"); dir != "" {
		return filepath.Join(dir, "argocd")
	}
	sum, err := os.ReadFile("go.sum")
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(sum)
	cache := os.Getenv("TOOLS_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			t.Fatal(err)
		}
		cache = filepath.Join(home, ".cache", "bulwark", "tools")
	}
	dir := filepath.Join(cache, "argocd-"+hex.EncodeToString(h[:8]))
	bin := filepath.Join(dir, "argocd")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	tmp := fmt.Sprintf("%s.tmp-%d", bin, os.Getpid())
	cmd := exec.Command("go", "build", "-trimpath", "-o", tmp, argoModule+"/cmd")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building Argo CD: %v\n%s", err, out)
	}
	if err := os.Rename(tmp, bin); err != nil {
		t.Fatal(err)
	}
	t.Logf("built Argo CD in %s", time.Since(start).Round(time.Second))
	return bin
}

// moduleDir is where the Go module cache holds Argo CD's module (for its CRDs).
func moduleDir(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", argoModule).Output()
	if err != nil || strings.TrimSpace(string(out)) == "" {
		t.Fatalf("locating %s: %v", argoModule, err)
	}
	return strings.TrimSpace(string(out))
}

func loopFreePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// argoProcess is one Argo CD component running as a local process.
type argoProcess struct {
	name   string
	log    string
	exited chan struct{}
}

// startArgo runs the argocd binary as component (ARGOCD_BINARY_NAME) with args, its output
// in a log printed when the test fails, stopped (SIGTERM, then SIGKILL) at cleanup.
func startArgo(t *testing.T, bin, component string, env []string, args ...string) *argoProcess {
	t.Helper()
	logf, err := os.CreateTemp("", "bulwark-argoloop-"+component+"-*.log")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), append([]string{"ARGOCD_BINARY_NAME=" + component}, env...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", component, err)
	}
	p := &argoProcess{name: component, log: logf.Name(), exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-p.exited
		}
		if t.Failed() {
			t.Logf("%s log:\n%s", component, testenv.Tail(p.log, 60))
		}
		logf.Close()
		_ = os.Remove(p.log)
	})
	return p
}

// alive fails the test if the process has exited.
func (p *argoProcess) alive(t *testing.T) {
	t.Helper()
	select {
	case <-p.exited:
		t.Fatalf("%s exited:\n%s", p.name, testenv.Tail(p.log, 60))
	default:
	}
}

// waitListening waits until addr accepts TCP connections.
func (p *argoProcess) waitListening(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		p.alive(t)
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s does not listen on %s after a minute:\n%s", p.name, addr, testenv.Tail(p.log, 40))
}

// installArgoCRDs creates Argo CD v3.6.1's Application and AppProject CRDs, from its
// module's manifests/crds.
func installArgoCRDs(t *testing.T, client *testenv.Client) {
	t.Helper()
	dir := filepath.Join(moduleDir(t), "manifests", "crds")
	crdGVK := schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"}
	ri, err := client.Resource(crdGVK, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"application-crd.yaml", "appproject-crd.yaml"} {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		objs, err := testenv.DecodeYAML(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, o := range objs {
			if _, err := ri.Create(context.Background(), o, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatalf("creating CRD %s: %v", o.GetName(), err)
			}
		}
	}
	// Wait until both kinds are served.
	deadline := time.Now().Add(time.Minute)
	for _, gvk := range []schema.GroupVersionKind{appGVK, projectGVK} {
		for {
			ri, err := client.Resource(gvk, "argocd")
			if err == nil {
				if _, err = ri.List(context.Background(), metav1.ListOptions{}); err == nil {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s is not served: %v", gvk.Kind, err)
			}
			client.Mapper.Reset()
			time.Sleep(200 * time.Millisecond)
		}
	}
}

// argoSettings creates what Argo CD's components read in their namespace, as its install
// manifests do (manifests/base/config): argocd-cm, argocd-rbac-cm, argocd-cmd-params-cm and
// argocd-secret, labelled app.kubernetes.io/part-of=argocd (the settings manager's informers
// select on that label); the default AppProject (Argo CD's API server creates it on start,
// and no API server runs here); the controller's service account bound to cluster-admin;
// and the repository Secret for the plain-HTTP registry.
func argoSettings(t *testing.T, kube kubernetes.Interface, client *testenv.Client, repoURL string) {
	t.Helper()
	ctx := context.Background()
	must := func(what string, err error) {
		t.Helper()
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("creating %s: %v", what, err)
		}
	}
	part := map[string]string{"app.kubernetes.io/part-of": "argocd"}
	for _, n := range []string{"argocd-cm", "argocd-rbac-cm", "argocd-cmd-params-cm"} {
		_, err := kube.CoreV1().ConfigMaps("argocd").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: n, Namespace: "argocd", Labels: part}}, metav1.CreateOptions{})
		must(n, err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	_, err := kube.CoreV1().Secrets("argocd").Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "argocd-secret", Namespace: "argocd", Labels: part},
		Data:       map[string][]byte{"server.secretkey": []byte(hex.EncodeToString(key))},
	}, metav1.CreateOptions{})
	must("argocd-secret", err)
	_, err = kube.CoreV1().Secrets("argocd").Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "bulwark-registry", Namespace: "argocd",
			Labels: map[string]string{"argocd.argoproj.io/secret-type": "repository"}},
		StringData: map[string]string{"type": "oci", "name": "bulwark", "url": repoURL, "insecureOCIForceHttp": "true"},
	}, metav1.CreateOptions{})
	must("the repository Secret", err)
	_, err = kube.CoreV1().ServiceAccounts("argocd").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "argocd-application-controller", Namespace: "argocd"}}, metav1.CreateOptions{})
	must("the controller's service account", err)
	_, err = kube.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "argocd-application-controller"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "argocd-application-controller", Namespace: "argocd"}},
	}, metav1.CreateOptions{})
	must("the controller's ClusterRoleBinding", err)
	pri, err := client.Resource(projectGVK, "argocd")
	if err != nil {
		t.Fatal(err)
	}
	_, err = pri.Create(ctx, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
		"metadata": map[string]any{"name": "default", "namespace": "argocd"},
		"spec": map[string]any{
			"sourceRepos":              []any{"*"},
			"destinations":             []any{map[string]any{"server": "*", "namespace": "*"}},
			"clusterResourceWhitelist": []any{map[string]any{"group": "*", "kind": "*"}},
		},
	}}, metav1.CreateOptions{})
	must("the default AppProject", err)
}

// appState is what Argo CD's controller wrote in an Application's status.
type appState struct{ sync, revision, health, message string }

func readApp(t *testing.T, client *testenv.Client, name string) appState {
	t.Helper()
	ri, err := client.Resource(appGVK, "argocd")
	if err != nil {
		t.Fatal(err)
	}
	app, err := ri.Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var s appState
	s.sync, _, _ = unstructured.NestedString(app.Object, "status", "sync", "status")
	s.revision, _, _ = unstructured.NestedString(app.Object, "status", "sync", "revision")
	s.health, _, _ = unstructured.NestedString(app.Object, "status", "health", "status")
	conds, _, _ := unstructured.NestedSlice(app.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok {
			s.message += fmt.Sprintf(" [%v: %v]", m["type"], m["message"])
		}
	}
	if op, ok, _ := unstructured.NestedString(app.Object, "status", "operationState", "message"); ok {
		s.message += " [operation: " + op + "]"
	}
	return s
}

// waitSynced waits until Argo CD reports the Application Synced and Healthy at digest.
func waitSynced(t *testing.T, client *testenv.Client, name, digest string, timeout time.Duration, procs ...*argoProcess) time.Duration {
	t.Helper()
	start := time.Now()
	var last appState
	for time.Since(start) < timeout {
		for _, p := range procs {
			p.alive(t)
		}
		last = readApp(t, client, name)
		if last.sync == "Synced" && last.health == "Healthy" && last.revision == digest {
			return time.Since(start)
		}
		time.Sleep(time.Second)
	}
	t.Fatalf("Application %s is not Synced/Healthy at %s after %s: sync %q revision %q health %q%s", name, digest, timeout, last.sync, last.revision, last.health, last.message)
	return 0
}

type loopProgress struct{ t *testing.T }

func (p loopProgress) Write(b []byte) (int, error) {
	p.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// TestArgoCDLoop runs the whole loop with Argo CD's real application controller and
// repo-server (v3.6.1, local processes on 127.0.0.1, Redis in-process) and Kyverno's real
// controllers against a real kube-apiserver and registry: the Application `bulwark gitops
// argocd` prints follows a semver range on the registry; Argo CD resolves it to the pushed
// digest, applies the bundle and reports it Synced and Healthy (every status here is
// written by Argo CD's or Kyverno's controllers, none by the test); verify's Argo CD check
// passes at that digest and verify converges. A newer version pushed is followed.
func TestArgoCDLoop(t *testing.T) {
	kustomizeOnPath(t)
	bin := argocdBinary(t)
	start := time.Now()
	c := testenv.StartCluster(t)
	kyv := testenv.StartKyverno(t, c)
	client := testenv.NewClient(c.Config)
	kube := kubernetes.NewForConfigOrDie(c.Config)
	client.Namespaces(t, "argocd", "shop", "search")
	installArgoCRDs(t, client)
	t.Logf("cluster and Kyverno serving after %s", time.Since(start).Round(time.Millisecond))

	reg := testenv.StartRegistry(t, testenv.RegistryOptions{})
	repo := reg.Ref("policies/brownfield")
	argoSettings(t, kube, client, "oci://"+repo)

	redis, err := miniredis.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(redis.Close)
	// miniredis counts TTLs down only when told to: without this, Argo CD's caches (the OCI
	// tags the repo-server lists to resolve a semver range among them) would never expire
	// and a new version would never be seen.
	tick := time.NewTicker(time.Second)
	tickDone := make(chan struct{})
	t.Cleanup(func() { tick.Stop(); close(tickDone) })
	go func() {
		for {
			select {
			case <-tick.C:
				redis.FastForward(time.Second)
			case <-tickDone:
				return
			}
		}
	}()

	repoAddr := fmt.Sprintf("127.0.0.1:%d", loopFreePort(t))
	_, repoPort, _ := net.SplitHostPort(repoAddr)
	// The repo-server's git credential socket defaults to /tmp/reposerver-ask-pass.sock
	// (util/askpass/common.go): one per test, so runs side by side do not share it.
	askpass := filepath.Join(t.TempDir(), "ask-pass.sock")
	rs := startArgo(t, bin, "argocd-repo-server", []string{"ARGOCD_GPG_ENABLED=false", "ARGOCD_ASK_PASS_SOCK=" + askpass},
		"--disable-tls", "--client-ca-path=", "--address", "127.0.0.1", "--port", repoPort,
		"--metrics-address", "127.0.0.1", "--metrics-port", fmt.Sprint(loopFreePort(t)),
		"--redis", redis.Addr(), "--parallelismlimit", "2",
		// The tags of a repository are cached this long (default 3m, the reconciliation
		// timeout): a new version is seen within it.
		"--revision-cache-expiration", "15s", "--loglevel", "info")
	rs.waitListening(t, repoAddr)

	// ARGOCD_FAKE_IN_CLUSTER makes the in-cluster destination https://kubernetes.default.svc
	// the cluster of KUBECONFIG (v1alpha1.Cluster.rawRestConfig), as Argo CD's own e2e
	// tests and `argocd admin` run outside a pod.
	user := c.UserConfig(t, argocdControllerUser, "system:serviceaccounts", "system:serviceaccounts:argocd")
	kubeconfig := c.WriteKubeconfig(t, "argocd-application-controller", user)
	ac := startArgo(t, bin, "argocd-application-controller",
		[]string{"KUBECONFIG=" + kubeconfig, "ARGOCD_FAKE_IN_CLUSTER=true"},
		"--namespace", "argocd", "--kubeconfig", kubeconfig,
		"--repo-server", repoAddr, "--repo-server-plaintext",
		"--redis", redis.Addr(), "--metrics-port", fmt.Sprint(loopFreePort(t)),
		"--app-resync", "10", "--status-processors", "2", "--operation-processors", "2", "--loglevel", "info")

	release := func(version string) (*bundle.Bundle, string) {
		b, err := pipeline.BuildFile(filepath.Join("..", "..", "examples", "brownfield-audit.yaml"), nil, version)
		if err != nil {
			t.Fatal(err)
		}
		return b, push(t, b, repo+":"+version).DigestStr()
	}
	b1, d1 := release("1.0.0")

	printed := printArgoCD(t, gitops.Options{Ref: "oci://" + repo, Semver: ">=1.0.0"})
	parseApplication(t, printed)
	objs, err := testenv.DecodeYAML(printed)
	if err != nil || len(objs) != 1 {
		t.Fatalf("the printed Application: %v (%d objects)", err, len(objs))
	}
	app := objs[0]
	ari, err := client.Resource(appGVK, "argocd")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ari.Create(context.Background(), app, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating the printed Application: %v\n%s", err, printed)
	}
	took := waitSynced(t, client, app.GetName(), d1, 5*time.Minute, rs, ac)
	t.Logf("Argo CD: Application %s Synced and Healthy at %s %s after it was created", app.GetName(), d1, took.Round(time.Millisecond))

	// Every bundle object is in the cluster, applied by Argo CD.
	checkApplied := func(b *bundle.Bundle) {
		t.Helper()
		for _, o := range b.Index.Spec.Objects {
			gv, _ := schema.ParseGroupVersion(o.APIVersion)
			ri, err := client.Resource(gv.WithKind(o.Kind), o.Namespace)
			if err != nil {
				t.Errorf("%s %s: %v", o.Kind, o.Name, err)
				continue
			}
			if _, err := ri.Get(context.Background(), o.Name, metav1.GetOptions{}); err != nil {
				t.Errorf("%s %s/%s is not in the cluster: %v", o.Kind, o.Namespace, o.Name, err)
			}
		}
		t.Logf("all %d bundle objects are in the cluster", len(b.Index.Spec.Objects))
	}
	checkApplied(b1)

	converge := func(b *bundle.Bundle, digest string) {
		t.Helper()
		vstart := time.Now()
		r, err := verify.Wait(context.Background(), c.Config, b, verify.Options{Cluster: "argoloop", Digest: digest,
			ArgoCD: &verify.NamespacedName{Namespace: "argocd", Name: app.GetName()}}, 3*time.Minute, loopProgress{t})
		if err != nil {
			t.Fatal(err)
		}
		gitopsPass := false
		for _, f := range r.Findings {
			if f.Check == verify.CheckGitOps && f.Status == verify.Pass && strings.Contains(f.Message, digest) {
				gitopsPass = true
			}
			if f.Status == verify.Fail {
				t.Errorf("verify: %s %v: %s", f.Check, f.Object, f.Message)
			}
		}
		if !gitopsPass {
			t.Errorf("verify's Argo CD check did not pass at %s", digest)
		}
		if !r.Converged {
			t.Fatalf("verify --argocd argocd/%s did not converge at %s\nKyverno:\n%s", app.GetName(), digest, kyv.Logs(20))
		}
		t.Logf("verify --argocd argocd/%s converged at %s in %s", app.GetName(), digest, time.Since(vstart).Round(time.Millisecond))
	}
	converge(b1, d1)

	// A new version is followed: the semver range resolves to it on a later refresh.
	b2, d2 := release("1.1.0")
	took = waitSynced(t, client, app.GetName(), d2, 5*time.Minute, rs, ac)
	t.Logf("Argo CD followed 1.1.0: Synced and Healthy at %s %s after the push", d2, took.Round(time.Millisecond))
	checkApplied(b2)
	converge(b2, d2)
}
