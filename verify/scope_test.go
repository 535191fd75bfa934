package verify

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"bulwark.dev/bulwark/profile"
)

func TestScope(t *testing.T) {
	app := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "bulwark.dev/scope", Operator: metav1.LabelSelectorOpIn, Values: []string{"app"}}}}
	confidential := &metav1.LabelSelector{MatchLabels: map[string]string{"bulwark.dev/data-class": "confidential"}}
	payments := profile.Namespaces{
		Selector: app, Include: []string{"payments", "ledger"}, Exclude: []string{"kube-system", "istio-system"},
		Sensitive: confidential, SensitiveInclude: []string{"ledger"},
	}
	l := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name       string
		scope      profile.Namespaces
		ns         string
		labels     map[string]string
		in, strict bool
	}{
		{"included by name, no labels", payments, "payments", nil, true, false},
		{"selected by label", payments, "shop", l("bulwark.dev/scope", "app"), true, false},
		{"selector value not listed", payments, "shop", l("bulwark.dev/scope", "batch"), false, false},
		{"neither named nor selected", payments, "tools", l("team", "x"), false, false},
		{"exclude wins over the selector", payments, "kube-system", l("bulwark.dev/scope", "app"), false, false},
		{"exclude wins over include", profile.Namespaces{Include: []string{"kube-system"}, Exclude: []string{"kube-system"}}, "kube-system", nil, false, false},
		{"sensitive by label", payments, "cards", l("bulwark.dev/scope", "app", "bulwark.dev/data-class", "confidential"), true, true},
		{"sensitive by name", payments, "ledger", nil, true, true},
		{"sensitive label outside scope is not in the tier", payments, "vault", l("bulwark.dev/data-class", "confidential"), false, false},
		{"no selector: names only", profile.Namespaces{Include: []string{"a"}}, "b", l("bulwark.dev/scope", "app"), false, false},
		{"empty selector selects all but excluded", profile.Namespaces{Selector: &metav1.LabelSelector{}, Exclude: []string{"kube-system"}}, "anything", nil, true, false},
		{"NotIn keeps unlabelled namespaces", profile.Namespaces{Selector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "tier", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"system"}}}}}, "web", nil, true, false},
		{"NotIn drops the listed value", profile.Namespaces{Selector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "tier", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"system"}}}}}, "infra", l("tier", "system"), false, false},
		{"Exists", profile.Namespaces{Selector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "team", Operator: metav1.LabelSelectorOpExists}}}}, "web", l("team", ""), true, false},
		{"DoesNotExist", profile.Namespaces{Selector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "legacy", Operator: metav1.LabelSelectorOpDoesNotExist}}}}, "web", l("legacy", "true"), false, false},
		{"matchLabels and expressions both hold", profile.Namespaces{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"},
			MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "team", Operator: metav1.LabelSelectorOpExists}}}}, "web", l("env", "prod"), false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := newScope(tt.scope)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.inScope(tt.ns, tt.labels); got != tt.in {
				t.Errorf("inScope(%s, %v) = %v, want %v", tt.ns, tt.labels, got, tt.in)
			}
			if got := s.isSensitive(tt.ns, tt.labels); got != tt.strict {
				t.Errorf("isSensitive(%s, %v) = %v, want %v", tt.ns, tt.labels, got, tt.strict)
			}
		})
	}
}

func TestScopeRejectsBadSelector(t *testing.T) {
	for _, n := range []profile.Namespaces{
		{Selector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Near"}}}},
		{Sensitive: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: metav1.LabelSelectorOpIn}}}},
		{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"bad key!": "x"}}},
	} {
		if _, err := newScope(n); err == nil {
			t.Errorf("newScope(%+v) accepted an invalid selector", n)
		}
	}
}
