package verify

import (
	"context"
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"

	"bulwark.dev/bulwark/internal/testenv"
)

// TestMapperAgreesWithClientGo asks a real API server, with CRDs installed, the questions
// verify asks, through the mapper both ways a server can answer discovery (aggregated, and
// the classic per-group-version lists), and holds every answer to client-go's deferred
// discovery RESTMapper's: the same resource, version and scope, and no match where it has
// none; and a kind of an aggregated API that is down is an error, never "not served".
func TestMapperAgreesWithClientGo(t *testing.T) {
	c := testenv.StartCluster(t)
	testenv.InstallCRDs(t, c.Config, "kyverno", "certmanager")
	ctx := context.Background()
	// An aggregated API whose server is not there, as metrics-server is when down: the
	// server marks its version stale, and a kind of it is then unknown, not absent.
	metrics := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
		"metadata": map[string]any{"name": "v1beta1.metrics.k8s.io"},
		"spec": map[string]any{"group": "metrics.k8s.io", "version": "v1beta1", "groupPriorityMinimum": int64(100), "versionPriority": int64(100),
			"insecureSkipTLSVerify": true, "service": map[string]any{"namespace": "kube-system", "name": "metrics-server"}}}}
	if _, err := dynamic.NewForConfigOrDie(c.Config).Resource(schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}).
		Create(ctx, metrics, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	podMetrics := schema.GroupKind{Group: "metrics.k8s.io", Kind: "PodMetrics"}

	type question struct {
		gk       schema.GroupKind
		versions []string
	}
	qs := []question{
		{schema.GroupKind{Kind: "Namespace"}, nil},
		{schema.GroupKind{Kind: "Pod"}, []string{"v1"}},
		{schema.GroupKind{Kind: "ConfigMap"}, []string{"v2", "v1"}},
		{schema.GroupKind{Group: "networking.k8s.io", Kind: "NetworkPolicy"}, nil},
		{schema.GroupKind{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}, []string{"v1"}},
		{schema.GroupKind{Group: "admissionregistration.k8s.io", Kind: "ValidatingAdmissionPolicy"}, nil},
		{schema.GroupKind{Group: "policies.kyverno.io", Kind: "ValidatingPolicy"}, nil},
		{schema.GroupKind{Group: "policies.kyverno.io", Kind: "ValidatingPolicy"}, []string{"v1"}},
		{schema.GroupKind{Group: "cert-manager.io", Kind: "ClusterIssuer"}, []string{"v1"}},
		// No such kind, group or version: no match, never an error.
		{schema.GroupKind{Kind: "NoSuchKind"}, nil},
		{schema.GroupKind{Group: "no.such.group", Kind: "Thing"}, nil},
		{schema.GroupKind{Group: "networking.k8s.io", Kind: "NetworkPolicy"}, []string{"v9"}},
		// A subresource's kind is not a resource of its own.
		{schema.GroupKind{Group: "autoscaling", Kind: "Scale"}, nil},
	}

	rc, err := restClientFor(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	disc, err := discovery.NewDiscoveryClientForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	// Aggregated discovery takes in new CRDs a moment after they are established; both
	// mappers read it once, so wait until the server lists them.
	var oracle meta.RESTMapper
	deadline := time.Now().Add(30 * time.Second)
	for {
		oracle = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc))
		_, err1 := oracle.RESTMapping(schema.GroupKind{Group: "policies.kyverno.io", Kind: "ValidatingPolicy"})
		_, err2 := oracle.RESTMapping(schema.GroupKind{Group: "cert-manager.io", Kind: "ClusterIssuer"})
		groups, _ := disc.ServerGroups()
		listed := false
		for _, g := range groups.Groups {
			listed = listed || g.Name == podMetrics.Group
		}
		if err1 == nil && err2 == nil && listed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server's discovery never listed the CRDs: %v, %v", err1, err2)
		}
		time.Sleep(200 * time.Millisecond)
	}

	for _, mode := range []string{"aggregated", "classic"} {
		t.Run(mode, func(t *testing.T) {
			m := newMapper(ctx, rc)
			if mode == "classic" {
				m.accept = "application/json"
			}
			for _, q := range qs {
				got, gotErr := m.RESTMapping(q.gk, q.versions...)
				want, wantErr := oracle.RESTMapping(q.gk, q.versions...)
				name := fmt.Sprintf("%s %v", q.gk, q.versions)
				if (wantErr != nil) != (gotErr != nil) {
					t.Errorf("%s: error %v, client-go's %v", name, gotErr, wantErr)
					continue
				}
				if wantErr != nil {
					if meta.IsNoMatchError(wantErr) != meta.IsNoMatchError(gotErr) {
						t.Errorf("%s: no-match %v (%v), client-go's %v (%v)", name, meta.IsNoMatchError(gotErr), gotErr, meta.IsNoMatchError(wantErr), wantErr)
					}
					continue
				}
				if got.Resource != want.Resource || got.GroupVersionKind != want.GroupVersionKind || got.Scope.Name() != want.Scope.Name() {
					t.Errorf("%s: %v %v %s, client-go's %v %v %s", name, got.Resource, got.GroupVersionKind, got.Scope.Name(), want.Resource, want.GroupVersionKind, want.Scope.Name())
				}
			}
			if _, err := m.RESTMapping(podMetrics); err == nil || meta.IsNoMatchError(err) {
				t.Errorf("%s of an aggregated API that is down: %v, want a discovery error, not an answer", podMetrics, err)
			}
			if mode == "classic" && !m.legacy {
				t.Error("the server was asked for plain JSON yet the mapper read aggregated discovery")
			}
			if mode == "aggregated" && m.legacy {
				t.Error("the real server answered aggregated discovery with classic lists")
			}
		})
	}
}
