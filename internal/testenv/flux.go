package testenv

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// KustomizeControllerUser is the identity kustomize-controller has in a Flux install: the
// flux-system/kustomize-controller service account. Policies that let only the GitOps
// identity change what it applies (Bulwark's CHG-02) recognise it by this name.
const KustomizeControllerUser = "system:serviceaccount:flux-system:kustomize-controller"

// KustomizeController runs Flux's kustomize-controller (built by tools/kustomize) as a local
// process against the cluster: leader election off, every listener on 127.0.0.1. It returns
// the path of its log, for failure messages.
//
// It authenticates as KustomizeControllerUser (a client certificate for that service-account
// user name), which RBAC binds to cluster-admin, as Flux's install does (its
// cluster-reconciler ClusterRoleBinding): not as the test's system:masters admin, so
// admission webhooks see the requests a real Flux would send.
func KustomizeController(t testing.TB, c *Cluster) string {
	t.Helper()
	bin := filepath.Join(ToolsBin(t, "kustomize"), "kustomize-controller")
	kube := kubernetes.NewForConfigOrDie(c.Config)
	ctx := context.Background()
	created := func(obj any, err error) {
		t.Helper()
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("creating kustomize-controller's %T: %v", obj, err)
		}
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "flux-system"}}
	_, err := kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	created(ns, err)
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "kustomize-controller", Namespace: "flux-system"}}
	_, err = kube.CoreV1().ServiceAccounts("flux-system").Create(ctx, sa, metav1.CreateOptions{})
	created(sa, err)
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "cluster-reconciler-flux-system"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "kustomize-controller", Namespace: "flux-system"}},
	}
	_, err = kube.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{})
	created(binding, err)
	user := c.UserConfig(t, KustomizeControllerUser, "system:serviceaccounts", "system:serviceaccounts:flux-system")
	kubeconfig := c.WriteKubeconfig(t, "kustomize-controller", user)
	env := append(cleanEnv("KUBECONFIG="), "KUBECONFIG="+kubeconfig, "RUNTIME_NAMESPACE=flux-system")
	cmd := process(t, "kustomize-controller", env, bin,
		fmt.Sprintf("--metrics-addr=127.0.0.1:%d", freePort(t)),
		fmt.Sprintf("--health-addr=127.0.0.1:%d", freePort(t)),
		"--enable-leader-election=false", "--watch-all-namespaces=true", "--no-remote-bases=true",
		"--requeue-dependency=2s", "--log-level=info")
	t.Cleanup(func() { stop(cmd) })
	return cmd.Stdout.(*os.File).Name()
}

// SourceController runs Flux's source-controller (built by tools/source) as a local process
// against the cluster, and returns once it answers its readiness probe and its artifact
// server accepts requests. Leader election is off and every listener is on 127.0.0.1: the
// metrics, health and artifact servers (the artifact URLs it writes into statuses point at
// the last), and no events server. Artifacts are stored in a scratch directory. It returns
// the path of its log, for failure messages. The cluster needs the "flux" CRDs installed:
// the controller starts a reconciler for every source kind and exits if one is missing.
func SourceController(t testing.TB, c *Cluster) string {
	t.Helper()
	bin := filepath.Join(ToolsBin(t, "source"), "source-controller")
	storage := tempDir(t, "", "source-storage")
	t.Cleanup(func() { _ = os.RemoveAll(storage) })
	storageAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	healthAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	// It takes KUBECONFIG only from the environment, and METRICS_ADDR and EVENTS_ADDR there
	// as flag defaults.
	env := append(cleanEnv("KUBECONFIG=", "RUNTIME_NAMESPACE=", "METRICS_ADDR=", "EVENTS_ADDR="),
		"KUBECONFIG="+c.Kubeconfig, "RUNTIME_NAMESPACE=flux-system")
	cmd := process(t, "source-controller", env, bin,
		"--storage-path="+storage, "--storage-addr="+storageAddr, "--storage-adv-addr="+storageAddr,
		fmt.Sprintf("--metrics-addr=127.0.0.1:%d", freePort(t)), "--health-addr="+healthAddr,
		"--events-addr=", "--enable-leader-election=false", "--watch-all-namespaces=true",
		"--requeue-dependency=2s", "--log-level=info")
	t.Cleanup(func() { stop(cmd) })
	logPath := cmd.Stdout.(*os.File).Name()

	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	client := &http.Client{Timeout: 2 * time.Second}
	answers := func(url string, wantOK bool) bool {
		resp, err := client.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return !wantOK || resp.StatusCode == http.StatusOK
	}
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			t.Fatalf("source-controller exited during start:\n%s", tail(logPath, 30))
		default:
		}
		// Any answer from the artifact server will do: it has nothing stored yet.
		if answers("http://"+healthAddr+"/readyz", true) && answers("http://"+storageAddr+"/", false) {
			return logPath
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("source-controller was not ready within a minute (health %s, storage %s):\n%s", healthAddr, storageAddr, tail(logPath, 30))
	return ""
}

// Tail returns the last lines of a log file.
func Tail(path string, n int) string { return tail(path, n) }
