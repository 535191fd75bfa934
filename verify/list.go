package verify

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

type errNotServed struct{ gk schema.GroupKind }

func (e errNotServed) Error() string {
	return fmt.Sprintf("the cluster does not serve %s (is its CRD installed?)", e.gk)
}

// list reads every object of a kind (label-selected unless selector is nil) with
// paginated LISTs: one LIST per kind, never a GET per object.
func (v *verifier) list(gk schema.GroupKind, version string, selector labels.Selector) ([]unstructured.Unstructured, error) {
	var versions []string
	if version != "" {
		versions = []string{version}
	}
	m, err := v.mapper.RESTMapping(gk, versions...)
	if err != nil {
		if meta.IsNoMatchError(err) {
			return nil, errNotServed{gk}
		}
		return nil, fmt.Errorf("discovering %s: %w", gk, err)
	}
	opts := metav1.ListOptions{Limit: v.opts.PageSize}
	if selector != nil {
		opts.LabelSelector = selector.String()
	}
	var out []unstructured.Unstructured
	for {
		page, err := v.dyn.Resource(m.Resource).List(v.ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", m.Resource.GroupResource(), err)
		}
		out = append(out, page.Items...)
		if page.GetContinue() == "" {
			break
		}
		opts.Continue = page.GetContinue()
	}
	return out, nil
}
