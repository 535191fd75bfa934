package testenv

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// Client reaches any kind the cluster serves, for tests that create arbitrary objects.
type Client struct {
	Kube   kubernetes.Interface
	Dyn    dynamic.Interface
	Mapper *restmapper.DeferredDiscoveryRESTMapper
}

// NewClient builds a client for cfg.
func NewClient(cfg *rest.Config) *Client {
	return &Client{
		Kube:   kubernetes.NewForConfigOrDie(cfg),
		Dyn:    dynamic.NewForConfigOrDie(cfg),
		Mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(discovery.NewDiscoveryClientForConfigOrDie(cfg))),
	}
}

// Resource returns the dynamic client of a kind, namespaced when ns is set.
func (c *Client) Resource(gvk schema.GroupVersionKind, ns string) (dynamic.ResourceInterface, error) {
	m, err := c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, err
	}
	if ns != "" {
		return c.Dyn.Resource(m.Resource).Namespace(ns), nil
	}
	return c.Dyn.Resource(m.Resource), nil
}

// Apply server-side applies obj, as GitOps tools do; dryRun leaves the cluster unchanged
// but runs every schema, CEL and admission check.
func (c *Client) Apply(ctx context.Context, obj *unstructured.Unstructured, dryRun bool) error {
	ri, err := c.Resource(obj.GroupVersionKind(), obj.GetNamespace())
	if err != nil {
		return err
	}
	data, err := obj.MarshalJSON()
	if err != nil {
		return err
	}
	force := true
	opts := metav1.PatchOptions{FieldManager: "bulwark-test", Force: &force}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	_, err = ri.Patch(ctx, obj.GetName(), types.ApplyPatchType, data, opts)
	return err
}

// CreateStrict dry-run creates obj with strict field validation: unknown fields fail.
func (c *Client) CreateStrict(ctx context.Context, obj *unstructured.Unstructured) error {
	ri, err := c.Resource(obj.GroupVersionKind(), obj.GetNamespace())
	if err != nil {
		return err
	}
	_, err = ri.Create(ctx, obj, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldValidation: "Strict"})
	return err
}

// Namespaces creates namespaces that do not exist yet.
func (c *Client) Namespaces(t testing.TB, names ...string) {
	t.Helper()
	for _, n := range names {
		_, err := c.Kube.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
}
