package verify

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"bulwark.dev/bulwark/profile"
)

// scope decides, from the bundle index alone, which namespaces are in scope now and which
// of those are in the sensitive tier. It mirrors what the bundle's policies select at
// admission: exclusion wins, then a name in include or a label match on the selector.
type scope struct {
	include, exclude, sensitiveInclude map[string]bool
	selector, sensitive                labels.Selector
}

func set(items []string) map[string]bool {
	m := map[string]bool{}
	for _, s := range items {
		m[s] = true
	}
	return m
}

// newScope compiles the index's namespace scope. An absent selector selects nothing; an
// empty one ({}) selects every namespace, as in Kubernetes.
func newScope(n profile.Namespaces) (*scope, error) {
	s := &scope{include: set(n.Include), exclude: set(n.Exclude), sensitiveInclude: set(n.SensitiveInclude),
		selector: labels.Nothing(), sensitive: labels.Nothing()}
	var err error
	if n.Selector != nil {
		if s.selector, err = metav1.LabelSelectorAsSelector(n.Selector); err != nil {
			return nil, fmt.Errorf("bundle scope: namespaces.selector: %w", err)
		}
	}
	if n.Sensitive != nil {
		if s.sensitive, err = metav1.LabelSelectorAsSelector(n.Sensitive); err != nil {
			return nil, fmt.Errorf("bundle scope: namespaces.sensitive: %w", err)
		}
	}
	return s, nil
}

// inScope reports whether a namespace with this name and these labels is governed.
func (s *scope) inScope(name string, l map[string]string) bool {
	if s.exclude[name] {
		return false
	}
	return s.include[name] || s.selector.Matches(labels.Set(l))
}

// isSensitive reports whether an in-scope namespace is in the stricter tier.
func (s *scope) isSensitive(name string, l map[string]string) bool {
	return s.inScope(name, l) && (s.sensitiveInclude[name] || s.sensitive.Matches(labels.Set(l)))
}
