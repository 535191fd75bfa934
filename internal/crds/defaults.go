package crds

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// Defaulter applies the structural-schema defaults of the pinned CRDs to objects, as the API
// server does on every write and read of a custom resource: for each property the schema gives
// a default and the object lacks, the default; then the same inside every property, list item
// and map value, defaults included (k8s.io/apiextensions-apiserver
// pkg/apiserver/schema/defaulting, Default). It is what lets verify compare a live custom
// resource with the bundle's object exactly, not by ignoring keys it does not set.
type Defaulter struct {
	schemas map[schema.GroupVersionKind]*apiextensionsv1.JSONSchemaProps
}

var (
	defaulterOnce sync.Once
	defaulter     *Defaulter
	defaulterErr  error
)

// bundleGroups are the CRD sets of the kinds a bundle ships; Flux's and Argo CD's CRDs, which
// verify only reads status from, are not parsed (a third of the start-up cost).
var bundleGroups = []string{"kyverno", "istio", "certmanager"}

// Defaults returns the Defaulter of the CRDs of the kinds a bundle ships, read once.
func Defaults() (*Defaulter, error) {
	defaulterOnce.Do(func() { defaulter, defaulterErr = newDefaulter() })
	return defaulter, defaulterErr
}

func newDefaulter() (*Defaulter, error) {
	all, err := Files(bundleGroups...)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	sort.Strings(names)
	d := &Defaulter{schemas: map[schema.GroupVersionKind]*apiextensionsv1.JSONSchemaProps{}}
	for _, n := range names {
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(all[n]), 64<<10)
		for {
			var crd apiextensionsv1.CustomResourceDefinition
			if err := dec.Decode(&crd); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				return nil, fmt.Errorf("CRD file %s: %w", n, err)
			}
			if crd.Spec.Names.Kind == "" {
				continue
			}
			for _, v := range crd.Spec.Versions {
				if v.Schema != nil && v.Schema.OpenAPIV3Schema != nil {
					d.schemas[schema.GroupVersionKind{Group: crd.Spec.Group, Version: v.Name, Kind: crd.Spec.Names.Kind}] = v.Schema.OpenAPIV3Schema
				}
			}
		}
	}
	return d, nil
}

// Knows reports whether a pinned CRD defines the kind at that version.
func (d *Defaulter) Knows(gvk schema.GroupVersionKind) bool {
	_, ok := d.schemas[gvk]
	return ok
}

// Default returns a copy of obj (a decoded JSON or YAML object of kind gvk) with the CRD's
// defaults applied; obj is not changed. A kind no pinned CRD defines comes back unchanged.
func (d *Defaulter) Default(gvk schema.GroupVersionKind, obj map[string]any) (map[string]any, error) {
	out := runtime.DeepCopyJSON(jsonSafe(obj).(map[string]any))
	s, ok := d.schemas[gvk]
	if !ok {
		return out, nil
	}
	if err := applyDefaults(out, s); err != nil {
		return nil, fmt.Errorf("%s: %w", gvk.Kind, err)
	}
	return out, nil
}

func applyDefaults(x any, s *apiextensionsv1.JSONSchemaProps) error {
	if s == nil {
		return nil
	}
	switch v := x.(type) {
	case map[string]any:
		keys := make([]string, 0, len(s.Properties))
		for k := range s.Properties {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			prop := s.Properties[k]
			if cur, found := v[k]; (!found || (cur == nil && !prop.Nullable)) && prop.Default != nil {
				def, err := decodeDefault(prop.Default.Raw)
				if err != nil {
					return fmt.Errorf("default of %s: %w", k, err)
				}
				v[k] = def
			}
		}
		for k, val := range v {
			if prop, ok := s.Properties[k]; ok {
				if err := applyDefaults(val, &prop); err != nil {
					return err
				}
			} else if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
				if err := applyDefaults(val, s.AdditionalProperties.Schema); err != nil {
					return err
				}
			}
		}
	case []any:
		if s.Items != nil && s.Items.Schema != nil {
			for i := range v {
				if err := applyDefaults(v[i], s.Items.Schema); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func decodeDefault(raw []byte) (any, error) {
	var v any
	if err := utilyaml.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	return jsonSafe(v), nil
}

// jsonSafe turns the int64 and []interface{} shapes YAML decoding gives into what
// runtime.DeepCopyJSON accepts (int64, float64, string, bool, map[string]any, []any, nil).
func jsonSafe(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = jsonSafe(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonSafe(e)
		}
		return out
	case int:
		return int64(x)
	case int32:
		return int64(x)
	case float32:
		return float64(x)
	}
	return v
}
