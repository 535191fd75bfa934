package meta

import (
	"testing"

	"github.com/google/cel-go/cel"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"bulwark.dev/bulwark/profile"
)

// eval compiles and runs expr with ns bound as namespaceObject.
func eval(t *testing.T, expr string, ns map[string]any) bool {
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
	var in any = ns
	if ns == nil {
		in = nil
	}
	out, _, err := prg.Eval(map[string]any{"namespaceObject": in})
	if err != nil {
		t.Fatalf("eval %q: %v", expr, err)
	}
	return out.Value().(bool)
}

func ns(name string, labels map[string]any) map[string]any {
	md := map[string]any{"name": name}
	if labels != nil {
		md["labels"] = labels
	}
	return map[string]any{"metadata": md}
}

func TestInScopeCEL(t *testing.T) {
	p := &profile.Profile{Spec: profile.Spec{Namespaces: profile.Namespaces{
		Include: []string{"payments"},
		Exclude: []string{"kube-system", "legacy"},
		Selector: &metav1.LabelSelector{
			MatchLabels: map[string]string{"bulwark.dev/scope": "app"},
			MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "tier", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"sandbox"}},
				{Key: "team", Operator: metav1.LabelSelectorOpExists},
			},
		},
		Sensitive:        &metav1.LabelSelector{MatchLabels: map[string]string{"data": "confidential"}},
		SensitiveInclude: []string{"payments"},
	}}}
	cases := []struct {
		name      string
		ns        map[string]any
		in, sens  bool
		skipNamed bool
	}{
		{"named", ns("payments", nil), true, true, false},
		{"named, skipped for generation", ns("payments", nil), false, true, true},
		{"selected", ns("shop", map[string]any{"bulwark.dev/scope": "app", "team": "x"}), true, false, false},
		{"selected and sensitive", ns("vault", map[string]any{"bulwark.dev/scope": "app", "team": "x", "data": "confidential"}), true, true, false},
		{"selector NotIn refuses", ns("sb", map[string]any{"bulwark.dev/scope": "app", "team": "x", "tier": "sandbox"}), false, false, false},
		{"selector Exists missing", ns("shop", map[string]any{"bulwark.dev/scope": "app"}), false, false, false},
		{"no labels", ns("other", nil), false, false, false},
		{"excluded despite labels", ns("legacy", map[string]any{"bulwark.dev/scope": "app", "team": "x"}), false, false, false},
		{"cluster-scoped object", nil, false, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := eval(t, InScopeCEL("namespaceObject", p, tc.skipNamed), tc.ns); got != tc.in {
				t.Errorf("in scope = %v, want %v", got, tc.in)
			}
			if got := eval(t, SensitiveCEL("namespaceObject", p), tc.ns); got != tc.sens {
				t.Errorf("sensitive = %v, want %v", got, tc.sens)
			}
		})
	}
}

func TestCELLiteral(t *testing.T) {
	cases := []struct {
		in   any
		want string
	}{
		{"it's \"quoted\"\n", `"it's \"quoted\"\n"`},
		{[]any{"a", 1.0, true}, `["a", 1, true]`},
		{map[string]any{"b": 2.5, "a": nil}, `{"a": null, "b": 2.5}`},
		{int64(7), "7"},
	}
	for _, tc := range cases {
		got, err := CELLiteral(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("CELLiteral(%#v) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if _, err := CELLiteral(struct{}{}); err == nil {
		t.Error("CELLiteral accepted a struct")
	}
	// A value that looks like CEL stays a string.
	if got := eval(t, CELString(`") || true || ("`)+` == "\") || true || (\""`, nil); !got {
		t.Error("quoted injection attempt did not stay a string")
	}
}

func TestSelectorCEL(t *testing.T) {
	labelled := ns("shop", map[string]any{"tier": "gold", "team": "a"})
	bare := ns("shop", nil)
	cases := []struct {
		name string
		sel  *metav1.LabelSelector
		ns   map[string]any
		want bool
	}{
		{"nil selects nothing", nil, labelled, false},
		{"empty selects everything", &metav1.LabelSelector{}, bare, true},
		{"matchLabels hit", &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "gold"}}, labelled, true},
		{"matchLabels other value", &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "silver"}}, labelled, false},
		{"matchLabels no labels", &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "gold"}}, bare, false},
		{"In hit", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"silver", "gold"}}}}, labelled, true},
		{"In miss", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"silver"}}}}, labelled, false},
		{"NotIn without the label", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"gold"}}}}, bare, true},
		{"NotIn with the value", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"gold"}}}}, labelled, false},
		{"DoesNotExist", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpDoesNotExist}}}, bare, true},
		{"DoesNotExist present", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpDoesNotExist}}}, labelled, false},
		{"all terms must hold", &metav1.LabelSelector{
			MatchLabels:      map[string]string{"tier": "gold"},
			MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "team", Operator: metav1.LabelSelectorOpIn, Values: []string{"b"}}},
		}, labelled, false},
		{"key needing quotes", &metav1.LabelSelector{MatchLabels: map[string]string{`we"ird`: `v\al`}}, ns("x", map[string]any{`we"ird`: `v\al`}), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := eval(t, SelectorCEL("namespaceObject", tc.sel), tc.ns); got != tc.want {
				t.Errorf("SelectorCEL = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestInScopeWithoutSelectorOrNames(t *testing.T) {
	cases := []struct {
		name string
		n    profile.Namespaces
		ns   map[string]any
		want bool
	}{
		{"nothing in scope", profile.Namespaces{}, ns("payments", nil), false},
		{"names only", profile.Namespaces{Include: []string{"payments"}}, ns("payments", nil), true},
		{"names only, other", profile.Namespaces{Include: []string{"payments"}}, ns("shop", map[string]any{"a": "b"}), false},
		{"selector only", profile.Namespaces{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}}, ns("shop", map[string]any{"a": "b"}), true},
		{"exclude wins over include", profile.Namespaces{Include: []string{"payments"}, Exclude: []string{"payments"}}, ns("payments", nil), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := &profile.Profile{Spec: profile.Spec{Namespaces: tc.n}}
			if got := eval(t, InScopeCEL("namespaceObject", p, false), tc.ns); got != tc.want {
				t.Errorf("in scope = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestExcludeSelector(t *testing.T) {
	if sel := ExcludeSelector(&profile.Profile{}); sel != nil {
		t.Errorf("no exclusions gave selector %v, want none", sel)
	}
	p := &profile.Profile{Spec: profile.Spec{Namespaces: profile.Namespaces{Exclude: []string{"kube-system", "kyverno"}}}}
	sel, err := metav1.LabelSelectorAsSelector(ExcludeSelector(p))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"kube-system": false, "kyverno": false, "payments": true} {
		if got := sel.Matches(labels.Set{"kubernetes.io/metadata.name": name}); got != want {
			t.Errorf("namespace %s matches = %v, want %v", name, got, want)
		}
	}
}
