package scope

import (
	"fmt"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"bulwark.dev/bulwark/catalogue"
	"bulwark.dev/bulwark/profile"
)

// Scope is a profile's namespace scope. The zero Scope selects nothing.
type Scope struct {
	n profile.Namespaces
}

// New returns the scope of a profile's (defaulted) namespaces.
func New(n profile.Namespaces) Scope { return Scope{n: n} }

// Matcher evaluates the scope in Go.
type Matcher struct {
	include, exclude, sensitiveInclude map[string]bool
	selector, sensitive                labels.Selector
}

func set(items []string) map[string]bool {
	m := make(map[string]bool, len(items))
	for _, s := range items {
		m[s] = true
	}
	return m
}

// Matcher compiles the scope for Go evaluation. An absent selector selects nothing; an
// empty one ({}) selects every namespace, as in Kubernetes and as SelectorCEL renders it.
func (s Scope) Matcher() (*Matcher, error) {
	n := s.n
	m := &Matcher{include: set(n.Include), exclude: set(n.Exclude), sensitiveInclude: set(n.SensitiveInclude),
		selector: labels.Nothing(), sensitive: labels.Nothing()}
	var err error
	if n.Selector != nil {
		if m.selector, err = metav1.LabelSelectorAsSelector(n.Selector); err != nil {
			return nil, fmt.Errorf("namespaces.selector: %w", err)
		}
	}
	if n.Sensitive != nil {
		if m.sensitive, err = metav1.LabelSelectorAsSelector(n.Sensitive); err != nil {
			return nil, fmt.Errorf("namespaces.sensitive: %w", err)
		}
	}
	return m, nil
}

// Excluded reports whether the namespace is excluded by name, whatever its labels.
func (m *Matcher) Excluded(name string) bool { return m.exclude[name] }

// InScope reports whether a namespace with this name and these labels is governed.
func (m *Matcher) InScope(name string, l map[string]string) bool {
	if m.exclude[name] {
		return false
	}
	return m.include[name] || m.selector.Matches(labels.Set(l))
}

// Sensitive reports whether a namespace is in scope and in the sensitive tier.
func (m *Matcher) Sensitive(name string, l map[string]string) bool {
	return m.InScope(name, l) && (m.sensitiveInclude[name] || m.sensitive.Matches(labels.Set(l)))
}

// HasSensitiveTier reports whether the profile selects a sensitive tier at all.
func (s Scope) HasSensitiveTier() bool {
	return s.n.Sensitive != nil || len(s.n.SensitiveInclude) > 0
}

// InScopeCEL is the CEL condition that the namespace object ns (e.g. "namespaceObject", or
// "object" for a policy on Namespaces) is in scope. skipIncluded leaves the named namespaces
// out, for generating policies whose objects the bundle already ships statically.
func (s Scope) InScopeCEL(ns string, skipIncluded bool) string {
	n := s.n
	name := ns + ".metadata.name"
	var picks []string
	if len(n.Include) > 0 && !skipIncluded {
		picks = append(picks, fmt.Sprintf("%s in %s", name, catalogue.CELList(n.Include)))
	}
	if n.Selector != nil {
		picks = append(picks, "("+SelectorCEL(ns, n.Selector)+")")
	}
	if len(picks) == 0 {
		return "false"
	}
	cond := strings.Join(picks, " || ")
	if skipIncluded && len(n.Include) > 0 {
		cond = fmt.Sprintf("!(%s in %s) && (%s)", name, catalogue.CELList(n.Include), cond)
	}
	if len(n.Exclude) > 0 {
		cond = fmt.Sprintf("!(%s in %s) && (%s)", name, catalogue.CELList(n.Exclude), cond)
	} else if len(picks) > 1 {
		// Without the exclusion's parentheses, && would bind the null check to the first
		// pick only, and the selector would be evaluated on a cluster-scoped object.
		cond = "(" + cond + ")"
	}
	return fmt.Sprintf("%s != null && %s", ns, cond)
}

// SensitiveCEL is the CEL condition that namespace object ns is selected for the sensitive
// tier. Policies conjoin it with InScopeCEL, as Matcher.Sensitive does.
func (s Scope) SensitiveCEL(ns string) string {
	n := s.n
	var picks []string
	if len(n.SensitiveInclude) > 0 {
		picks = append(picks, fmt.Sprintf("%s.metadata.name in %s", ns, catalogue.CELList(n.SensitiveInclude)))
	}
	if n.Sensitive != nil {
		picks = append(picks, "("+SelectorCEL(ns, n.Sensitive)+")")
	}
	if len(picks) == 0 {
		return "false"
	}
	return fmt.Sprintf("%s != null && (%s)", ns, strings.Join(picks, " || "))
}

// ExcludeSelector keeps the excluded namespaces away from a webhook entirely.
func (s Scope) ExcludeSelector() *metav1.LabelSelector {
	if len(s.n.Exclude) == 0 {
		return nil
	}
	return &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
		Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: append([]string(nil), s.n.Exclude...),
	}}}
}

// SelectorCEL renders a label selector as a CEL condition on the labels of obj (a CEL
// expression for an object, e.g. "namespaceObject"). A nil selector matches nothing; an
// empty one matches everything.
func SelectorCEL(obj string, sel *metav1.LabelSelector) string {
	if sel == nil {
		return "false"
	}
	labels := obj + ".metadata.labels"
	has := func(k string) string {
		return fmt.Sprintf("(has(%s.metadata.labels) && %s in %s)", obj, catalogue.CELString(k), labels)
	}
	var terms []string
	keys := make([]string, 0, len(sel.MatchLabels))
	for k := range sel.MatchLabels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		terms = append(terms, fmt.Sprintf("(%s && %s[%s] == %s)", has(k), labels, catalogue.CELString(k), catalogue.CELString(sel.MatchLabels[k])))
	}
	for _, r := range sel.MatchExpressions {
		k := catalogue.CELString(r.Key)
		switch r.Operator {
		case metav1.LabelSelectorOpIn:
			terms = append(terms, fmt.Sprintf("(%s && %s[%s] in %s)", has(r.Key), labels, k, catalogue.CELList(r.Values)))
		case metav1.LabelSelectorOpNotIn:
			terms = append(terms, fmt.Sprintf("(!%s || !(%s[%s] in %s))", has(r.Key), labels, k, catalogue.CELList(r.Values)))
		case metav1.LabelSelectorOpExists:
			terms = append(terms, has(r.Key))
		case metav1.LabelSelectorOpDoesNotExist:
			terms = append(terms, "!"+has(r.Key))
		}
	}
	if len(terms) == 0 {
		return "true"
	}
	return strings.Join(terms, " && ")
}
