package scope

import (
	"testing"

	"github.com/google/cel-go/cel"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"bulwark.dev/bulwark/profile"
)

// eval compiles and runs a CEL condition with the namespace bound as namespaceObject, as
// Kyverno binds it; a nil name stands for a cluster-scoped object (no namespace).
func eval(t *testing.T, expr string, name *string, l map[string]string) bool {
	t.Helper()
	env, err := cel.NewEnv(cel.Variable("namespaceObject", cel.DynType))
	if err != nil {
		t.Fatal(err)
	}
	ast, iss := env.Compile(expr)
	if iss != nil && iss.Err() != nil {
		t.Fatalf("compile %q: %v", expr, iss.Err())
	}
	prg, err := env.Program(ast)
	if err != nil {
		t.Fatal(err)
	}
	var in any
	if name != nil {
		md := map[string]any{"name": *name}
		if l != nil {
			lm := map[string]any{}
			for k, v := range l {
				lm[k] = v
			}
			md["labels"] = lm
		}
		in = map[string]any{"metadata": md}
	}
	out, _, err := prg.Eval(map[string]any{"namespaceObject": in})
	if err != nil {
		t.Fatalf("eval %q: %v", expr, err)
	}
	return out.Value().(bool)
}

func sel(ml map[string]string, exprs ...metav1.LabelSelectorRequirement) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: ml, MatchExpressions: exprs}
}

func req(key string, op metav1.LabelSelectorOperator, values ...string) metav1.LabelSelectorRequirement {
	return metav1.LabelSelectorRequirement{Key: key, Operator: op, Values: values}
}

func l(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// TestScopeAgrees is the one table of scope decisions: every case is judged by the CEL the
// generated policies carry (evaluated by cel-go, as Kyverno evaluates it) and by the Go
// matcher verify uses, and both must give the expected answer.
func TestScopeAgrees(t *testing.T) {
	payments := profile.Namespaces{
		Selector: sel(nil, req("bulwark.dev/scope", metav1.LabelSelectorOpIn, "app")),
		Include:  []string{"payments", "ledger"}, Exclude: []string{"kube-system", "istio-system"},
		Sensitive: sel(map[string]string{"bulwark.dev/data-class": "confidential"}), SensitiveInclude: []string{"ledger"},
	}
	rich := profile.Namespaces{
		Include: []string{"payments"}, Exclude: []string{"kube-system", "legacy"},
		Selector: sel(map[string]string{"bulwark.dev/scope": "app"},
			req("tier", metav1.LabelSelectorOpNotIn, "sandbox"), req("team", metav1.LabelSelectorOpExists)),
		Sensitive: sel(map[string]string{"data": "confidential"}), SensitiveInclude: []string{"payments"},
	}
	noExclude := profile.Namespaces{Include: []string{"payments"}, Selector: sel(map[string]string{"a": "b"})}
	tests := []struct {
		name          string
		scope         profile.Namespaces
		ns            string
		labels        map[string]string
		in, sensitive bool
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
		{"named and sensitive", rich, "payments", nil, true, true},
		{"selected with every term", rich, "shop", l("bulwark.dev/scope", "app", "team", "x"), true, false},
		{"selected and sensitive", rich, "vault", l("bulwark.dev/scope", "app", "team", "x", "data", "confidential"), true, true},
		{"NotIn refuses the listed value", rich, "sb", l("bulwark.dev/scope", "app", "team", "x", "tier", "sandbox"), false, false},
		{"Exists refuses a missing key", rich, "shop", l("bulwark.dev/scope", "app"), false, false},
		{"excluded despite labels", rich, "legacy", l("bulwark.dev/scope", "app", "team", "x"), false, false},
		{"no labels", rich, "other", nil, false, false},
		{"nothing in scope", profile.Namespaces{}, "payments", nil, false, false},
		{"names only", profile.Namespaces{Include: []string{"a"}}, "a", nil, true, false},
		{"names only: labels do not matter", profile.Namespaces{Include: []string{"a"}}, "b", l("bulwark.dev/scope", "app"), false, false},
		{"selector only", profile.Namespaces{Selector: sel(map[string]string{"a": "b"})}, "shop", l("a", "b"), true, false},
		{"no exclusions: named", noExclude, "payments", nil, true, false},
		{"no exclusions: selected", noExclude, "shop", l("a", "b"), true, false},
		{"no exclusions: neither", noExclude, "shop", nil, false, false},
		{"empty selector selects all but excluded", profile.Namespaces{Selector: &metav1.LabelSelector{}, Exclude: []string{"kube-system"}}, "anything", nil, true, false},
		{"empty selector still honours exclude", profile.Namespaces{Selector: &metav1.LabelSelector{}, Exclude: []string{"kube-system"}}, "kube-system", nil, false, false},
		{"NotIn keeps unlabelled namespaces", profile.Namespaces{Selector: sel(nil, req("tier", metav1.LabelSelectorOpNotIn, "system"))}, "web", nil, true, false},
		{"NotIn drops the listed value", profile.Namespaces{Selector: sel(nil, req("tier", metav1.LabelSelectorOpNotIn, "system"))}, "infra", l("tier", "system"), false, false},
		{"In, one of several values", profile.Namespaces{Selector: sel(nil, req("tier", metav1.LabelSelectorOpIn, "silver", "gold"))}, "web", l("tier", "gold"), true, false},
		{"Exists with an empty value", profile.Namespaces{Selector: sel(nil, req("team", metav1.LabelSelectorOpExists))}, "web", l("team", ""), true, false},
		{"DoesNotExist refuses the key", profile.Namespaces{Selector: sel(nil, req("legacy", metav1.LabelSelectorOpDoesNotExist))}, "web", l("legacy", "true"), false, false},
		{"DoesNotExist admits its absence", profile.Namespaces{Selector: sel(nil, req("legacy", metav1.LabelSelectorOpDoesNotExist))}, "web", nil, true, false},
		{"matchLabels and expressions both hold", profile.Namespaces{Selector: sel(map[string]string{"env": "prod"}, req("team", metav1.LabelSelectorOpExists))}, "web", l("env", "prod"), false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(tt.scope)
			m, err := s.Matcher()
			if err != nil {
				t.Fatal(err)
			}
			if got := m.InScope(tt.ns, tt.labels); got != tt.in {
				t.Errorf("Go: in scope = %v, want %v", got, tt.in)
			}
			if got := m.Sensitive(tt.ns, tt.labels); got != tt.sensitive {
				t.Errorf("Go: sensitive = %v, want %v", got, tt.sensitive)
			}
			name := tt.ns
			if got := eval(t, s.InScopeCEL("namespaceObject", false), &name, tt.labels); got != tt.in {
				t.Errorf("CEL: in scope = %v, want %v\n%s", got, tt.in, s.InScopeCEL("namespaceObject", false))
			}
			sens := s.InScopeCEL("namespaceObject", false) + " && (" + s.SensitiveCEL("namespaceObject") + ")"
			if got := eval(t, sens, &name, tt.labels); got != tt.sensitive {
				t.Errorf("CEL: sensitive = %v, want %v", got, tt.sensitive)
			}
			// Generating policies leave the named namespaces to the bundle's static objects.
			named := false
			for _, n := range tt.scope.Include {
				named = named || n == tt.ns
			}
			if got := eval(t, s.InScopeCEL("namespaceObject", true), &name, tt.labels); got != (tt.in && !named) {
				t.Errorf("CEL, named skipped: in scope = %v, want %v", got, tt.in && !named)
			}
			// A cluster-scoped object is in no namespace, and so in no scope.
			if eval(t, s.InScopeCEL("namespaceObject", false), nil, nil) || eval(t, s.SensitiveCEL("namespaceObject"), nil, nil) {
				t.Error("CEL: a cluster-scoped object is in scope")
			}
		})
	}
}

func TestSelectorCEL(t *testing.T) {
	name := "shop"
	labelled := l("tier", "gold", "team", "a")
	cases := []struct {
		name   string
		sel    *metav1.LabelSelector
		labels map[string]string
		want   bool
	}{
		{"nil selects nothing", nil, labelled, false},
		{"empty selects everything", &metav1.LabelSelector{}, nil, true},
		{"matchLabels other value", sel(map[string]string{"tier": "silver"}), labelled, false},
		{"matchLabels no labels", sel(map[string]string{"tier": "gold"}), nil, false},
		{"In miss", sel(nil, req("tier", metav1.LabelSelectorOpIn, "silver")), labelled, false},
		{"all terms must hold", sel(map[string]string{"tier": "gold"}, req("team", metav1.LabelSelectorOpIn, "b")), labelled, false},
		// Kubernetes refuses such a key; the CEL must still stay a literal, not an expression.
		{"a key that needs quoting", sel(map[string]string{`we"ird`: `v\al`}), l(`we"ird`, `v\al`), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := eval(t, SelectorCEL("namespaceObject", tc.sel), &name, tc.labels); got != tc.want {
				t.Errorf("SelectorCEL = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestExcludeSelector(t *testing.T) {
	if s := New(profile.Namespaces{}).ExcludeSelector(); s != nil {
		t.Errorf("no exclusions gave selector %v, want none", s)
	}
	got, err := metav1.LabelSelectorAsSelector(New(profile.Namespaces{Exclude: []string{"kube-system", "kyverno"}}).ExcludeSelector())
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"kube-system": false, "kyverno": false, "payments": true} {
		if m := got.Matches(labels.Set{"kubernetes.io/metadata.name": name}); m != want {
			t.Errorf("namespace %s matches = %v, want %v", name, m, want)
		}
	}
}

func TestHasSensitiveTier(t *testing.T) {
	if New(profile.Namespaces{Include: []string{"a"}}).HasSensitiveTier() {
		t.Error("a profile without a sensitive tier has one")
	}
	if !New(profile.Namespaces{SensitiveInclude: []string{"a"}}).HasSensitiveTier() || !New(profile.Namespaces{Sensitive: sel(map[string]string{"a": "b"})}).HasSensitiveTier() {
		t.Error("a profile with a sensitive tier has none")
	}
}
