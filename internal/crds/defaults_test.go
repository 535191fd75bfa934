package crds

import (
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// TestDefaultsAsTheAPIServer: the pinned ValidatingPolicy CRD defaults
// spec.evaluation.{admission,background}.enabled to true, but only where the object has the
// enclosing object (the structural defaulting algorithm never creates a parent), and never
// overrides a value the object sets; the input is not modified.
func TestDefaultsAsTheAPIServer(t *testing.T) {
	d, err := Defaults()
	if err != nil {
		t.Fatal(err)
	}
	gvk := schema.GroupVersionKind{Group: "policies.kyverno.io", Version: "v1", Kind: "ValidatingPolicy"}
	if !d.Knows(gvk) || d.Knows(schema.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicy"}) {
		t.Fatal("Knows: want the CRD kinds only")
	}
	in := map[string]any{"spec": map[string]any{"evaluation": map[string]any{"admission": map[string]any{}, "background": map[string]any{"enabled": false}}}}
	out, err := d.Default(gvk, in)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"spec": map[string]any{"evaluation": map[string]any{"admission": map[string]any{"enabled": true}, "background": map[string]any{"enabled": false}}}}
	if !reflect.DeepEqual(out, want) {
		t.Errorf("defaulted:\n got %v\nwant %v", out, want)
	}
	if _, set := in["spec"].(map[string]any)["evaluation"].(map[string]any)["admission"].(map[string]any)["enabled"]; set {
		t.Error("Default modified its input")
	}
	bare := map[string]any{"spec": map[string]any{}}
	if out, _ := d.Default(gvk, bare); !reflect.DeepEqual(out, bare) {
		t.Errorf("a default inside an absent parent was created: %v", out)
	}
}
