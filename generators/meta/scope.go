package meta

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"bulwark.dev/bulwark/profile"
)

// CELString quotes s as a CEL string literal.
func CELString(s string) string { return strconv.Quote(s) }

// CELList renders strings as a CEL list literal.
func CELList(items []string) string {
	quoted := make([]string, len(items))
	for i, s := range items {
		quoted[i] = CELString(s)
	}
	return "[" + strings.Join(quoted, ", ") + "]"
}

// CELLiteral renders a parameter value (from YAML or JSON) as a CEL literal.
func CELLiteral(v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "null", nil
	case string:
		return CELString(x), nil
	case bool:
		return strconv.FormatBool(x), nil
	case int:
		return strconv.Itoa(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float64:
		if x == float64(int64(x)) {
			return strconv.FormatInt(int64(x), 10), nil
		}
		return strconv.FormatFloat(x, 'g', -1, 64), nil
	case []string:
		return CELList(x), nil
	case []any:
		parts := make([]string, len(x))
		for i, item := range x {
			s, err := CELLiteral(item)
			if err != nil {
				return "", err
			}
			parts[i] = s
		}
		return "[" + strings.Join(parts, ", ") + "]", nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			s, err := CELLiteral(x[k])
			if err != nil {
				return "", err
			}
			parts[i] = CELString(k) + ": " + s
		}
		return "{" + strings.Join(parts, ", ") + "}", nil
	}
	return "", fmt.Errorf("cannot express %T as a CEL literal", v)
}

// SelectorCEL renders a label selector as a CEL condition on the labels of obj (a CEL
// expression for an object, e.g. "namespaceObject"). A nil selector matches nothing.
func SelectorCEL(obj string, sel *metav1.LabelSelector) string {
	if sel == nil {
		return "false"
	}
	labels := obj + ".metadata.labels"
	has := func(k string) string {
		return fmt.Sprintf("(has(%s.metadata.labels) && %s in %s)", obj, CELString(k), labels)
	}
	var terms []string
	keys := make([]string, 0, len(sel.MatchLabels))
	for k := range sel.MatchLabels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		terms = append(terms, fmt.Sprintf("(%s && %s[%s] == %s)", has(k), labels, CELString(k), CELString(sel.MatchLabels[k])))
	}
	for _, r := range sel.MatchExpressions {
		k := CELString(r.Key)
		switch r.Operator {
		case metav1.LabelSelectorOpIn:
			terms = append(terms, fmt.Sprintf("(%s && %s[%s] in %s)", has(r.Key), labels, k, CELList(r.Values)))
		case metav1.LabelSelectorOpNotIn:
			terms = append(terms, fmt.Sprintf("(!%s || !(%s[%s] in %s))", has(r.Key), labels, k, CELList(r.Values)))
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

// InScopeCEL is the CEL condition that the namespace object ns (e.g. "namespaceObject", or
// "object" for a policy on Namespaces) is in the profile's scope: not excluded, and
// included by name or selected by label. skipIncluded leaves the named namespaces out, for
// generating policies whose objects the bundle already ships statically.
func InScopeCEL(ns string, p *profile.Profile, skipIncluded bool) string {
	n := p.Spec.Namespaces
	name := ns + ".metadata.name"
	var picks []string
	if len(n.Include) > 0 && !skipIncluded {
		picks = append(picks, fmt.Sprintf("%s in %s", name, CELList(n.Include)))
	}
	if n.Selector != nil {
		picks = append(picks, "("+SelectorCEL(ns, n.Selector)+")")
	}
	if len(picks) == 0 {
		return "false"
	}
	cond := strings.Join(picks, " || ")
	if skipIncluded && len(n.Include) > 0 {
		cond = fmt.Sprintf("!(%s in %s) && (%s)", name, CELList(n.Include), cond)
	}
	if len(n.Exclude) > 0 {
		cond = fmt.Sprintf("!(%s in %s) && (%s)", name, CELList(n.Exclude), cond)
	}
	return fmt.Sprintf("%s != null && %s", ns, cond)
}

// SensitiveCEL is the CEL condition that namespace object ns is in the sensitive tier.
func SensitiveCEL(ns string, p *profile.Profile) string {
	n := p.Spec.Namespaces
	var picks []string
	if len(n.SensitiveInclude) > 0 {
		picks = append(picks, fmt.Sprintf("%s.metadata.name in %s", ns, CELList(n.SensitiveInclude)))
	}
	if n.Sensitive != nil {
		picks = append(picks, "("+SelectorCEL(ns, n.Sensitive)+")")
	}
	if len(picks) == 0 {
		return "false"
	}
	return fmt.Sprintf("%s != null && (%s)", ns, strings.Join(picks, " || "))
}

// HasSensitiveTier reports whether the profile selects a sensitive tier at all.
func HasSensitiveTier(p *profile.Profile) bool {
	return p.Spec.Namespaces.Sensitive != nil || len(p.Spec.Namespaces.SensitiveInclude) > 0
}

// ExcludeSelector keeps the profile's excluded namespaces away from a webhook entirely.
func ExcludeSelector(p *profile.Profile) *metav1.LabelSelector {
	if len(p.Spec.Namespaces.Exclude) == 0 {
		return nil
	}
	return &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
		Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: append([]string(nil), p.Spec.Namespaces.Exclude...),
	}}}
}

// PolicyName names a control's policy: unique per profile, a valid DNS label.
func PolicyName(p *profile.Profile, controlID string) string {
	return p.Metadata.Name + "-" + strings.ToLower(controlID)
}
