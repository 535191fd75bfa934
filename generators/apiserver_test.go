package generators

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"

	"bulwark.dev/bulwark/internal/testenv"
)

// TestRealAPIServerAcceptsEveryManifest applies every object of every example bundle to a
// real kube-apiserver holding the upstream Kyverno, Istio and cert-manager CRDs, by
// server-side dry-run: the server runs its schema, CEL and admission validation.
func TestRealAPIServerAcceptsEveryManifest(t *testing.T) {
	c := testenv.StartCluster(t)
	testenv.InstallCRDs(t, c.Config)
	ctx := context.Background()
	kube := kubernetes.NewForConfigOrDie(c.Config)
	dyn := dynamic.NewForConfigOrDie(c.Config)
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(discovery.NewDiscoveryClientForConfigOrDie(c.Config)))

	apply := func(obj *unstructured.Unstructured) error {
		mapping, err := mapper.RESTMapping(obj.GroupVersionKind().GroupKind(), obj.GroupVersionKind().Version)
		if err != nil {
			return err
		}
		data, err := obj.MarshalJSON()
		if err != nil {
			return err
		}
		ri := dyn.Resource(mapping.Resource)
		force := true
		opts := metav1.PatchOptions{FieldManager: "bulwark-test", Force: &force, DryRun: []string{metav1.DryRunAll}}
		if ns := obj.GetNamespace(); ns != "" {
			_, err = ri.Namespace(ns).Patch(ctx, obj.GetName(), types.ApplyPatchType, data, opts)
		} else {
			_, err = ri.Patch(ctx, obj.GetName(), types.ApplyPatchType, data, opts)
		}
		return err
	}

	created := map[string]bool{}
	for _, name := range []string{"saas-starter", "payments", "brownfield-audit"} {
		t.Run(name, func(t *testing.T) {
			p, cat := loadExample(t, name)
			b, err := Build(p, cat, "1.0.0")
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range b.Index.Spec.Objects {
				if o.Namespace != "" && !created[o.Namespace] {
					_, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: o.Namespace}}, metav1.CreateOptions{})
					if err != nil && !apierrors.IsAlreadyExists(err) {
						t.Fatal(err)
					}
					created[o.Namespace] = true
				}
				objs, err := testenv.DecodeYAML(b.Files[o.File])
				if err != nil || len(objs) != 1 {
					t.Fatalf("%s: %v (%d objects)", o.File, err, len(objs))
				}
				if err := apply(objs[0]); err != nil {
					t.Errorf("%s refused by the API server: %v", o.File, err)
				}
			}
		})
	}

	// The check has teeth: objects the upstream schemas forbid are refused.
	broken := map[string]string{
		"PeerAuthentication with an unknown mode": `{"apiVersion":"security.istio.io/v1","kind":"PeerAuthentication","metadata":{"name":"bad","namespace":"payments"},"spec":{"mtls":{"mode":"STRONG"}}}`,
		"ValidatingPolicy with a bad action":      `{"apiVersion":"policies.kyverno.io/v1","kind":"ValidatingPolicy","metadata":{"name":"bad"},"spec":{"validationActions":["Block"],"validations":[{"expression":"true"}]}}`,
		"ClusterIssuer with an unknown field":     `{"apiVersion":"cert-manager.io/v1","kind":"ClusterIssuer","metadata":{"name":"bad"},"spec":{"ca":{"secretName":"x"},"colour":"blue"}}`,
	}
	for what, js := range broken {
		objs, err := testenv.DecodeYAML([]byte(js))
		if err != nil {
			t.Fatal(err)
		}
		if err := apply(objs[0]); err == nil || !(apierrors.IsInvalid(err) || apierrors.IsBadRequest(err) || strings.Contains(err.Error(), "field not declared in schema")) {
			t.Errorf("%s was not refused: %v", what, err)
		}
	}
}
