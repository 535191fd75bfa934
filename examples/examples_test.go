package examples

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"

	"bulwark.dev/bulwark/internal/testenv"
)

// TestGitOpsManifestsAreAccepted creates the Flux and Argo CD examples in a real
// kube-apiserver holding the upstream Flux and Argo CD CRDs.
func TestGitOpsManifestsAreAccepted(t *testing.T) {
	c := testenv.StartCluster(t)
	testenv.InstallCRDs(t, c.Config, "flux", "argocd")
	ctx := context.Background()
	kube := kubernetes.NewForConfigOrDie(c.Config)
	for _, ns := range []string{"flux-system", "argocd"} {
		if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	dyn := dynamic.NewForConfigOrDie(c.Config)
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(discovery.NewDiscoveryClientForConfigOrDie(c.Config)))
	files, _ := filepath.Glob(filepath.Join("gitops", "*.yaml"))
	if len(files) < 2 {
		t.Fatalf("found %d GitOps examples", len(files))
	}
	kinds := map[string]bool{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		objs, err := testenv.DecodeYAML(data)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			m, err := mapper.RESTMapping(o.GroupVersionKind().GroupKind(), o.GroupVersionKind().Version)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if _, err := dyn.Resource(m.Resource).Namespace(o.GetNamespace()).Create(ctx, o, metav1.CreateOptions{}); err != nil {
				t.Errorf("%s: %s %s refused: %v", f, o.GetKind(), o.GetName(), err)
			}
			kinds[o.GetKind()] = true
		}
	}
	for _, k := range []string{"OCIRepository", "Kustomization", "Application"} {
		if !kinds[k] {
			t.Errorf("no %s example", k)
		}
	}
}
