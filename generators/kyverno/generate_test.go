package kyverno

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/google/cel-go/cel"
	kyvernov1 "github.com/kyverno/api/api/policies.kyverno.io/v1"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	rbacv1 "k8s.io/api/rbac/v1"

	"bulwark.dev/bulwark/api"
	"bulwark.dev/bulwark/catalogue"
	"bulwark.dev/bulwark/generators/generated"
	"bulwark.dev/bulwark/generators/internal/golden"
	"bulwark.dev/bulwark/profile"
)

// payments loads the catalogue and a fresh copy of the payments example, for tests that
// change it.
func payments(t *testing.T) (*profile.Profile, *catalogue.Catalogue) {
	t.Helper()
	cat, err := catalogue.Load()
	if err != nil {
		t.Fatal(err)
	}
	return golden.Examples(t, cat.IDSet())["payments"], cat
}

func generate(t *testing.T, p *profile.Profile, cat *catalogue.Catalogue) map[string]generated.Object {
	t.Helper()
	objs, err := Generate(p, cat)
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[string]generated.Object{}
	for _, o := range objs {
		key := o.Object.GetObjectKind().GroupVersionKind().Kind + "/" + o.Object.GetName()
		if _, dup := byKey[key]; dup {
			t.Fatalf("%s generated twice", key)
		}
		byKey[key] = o
	}
	return byKey
}

func TestGenerateSkipsWhatTheProfileGivesNothingToActOn(t *testing.T) {
	cases := []struct {
		name    string
		change  func(p *profile.Profile)
		absent  []string
		present []string
	}{
		{"as written", func(*profile.Profile) {}, nil, []string{
			"ValidatingPolicy/payments-soc2-tls-01", "ValidatingPolicy/payments-soc2-tls-02", "MutatingPolicy/payments-soc2-tls-02-enrol",
			"ValidatingPolicy/payments-soc2-tls-03", "ValidatingPolicy/payments-soc2-tls-04", "ImageValidatingPolicy/payments-soc2-sup-04",
			"ValidatingPolicy/payments-soc2-sup-01", "ValidatingPolicy/payments-soc2-sup-03", "ValidatingPolicy/payments-soc2-avl-03",
			"MutatingPolicy/payments-soc2-pod-00", "ClusterRole/payments-soc2-kyverno-namespace-labeller",
		}},
		{"no mesh", func(p *profile.Profile) { p.Spec.Mesh.Provider = profile.MeshNone },
			[]string{"ValidatingPolicy/payments-soc2-tls-01", "ValidatingPolicy/payments-soc2-tls-02", "MutatingPolicy/payments-soc2-tls-02-enrol"},
			[]string{"MutatingPolicy/payments-soc2-pod-00", "ClusterRole/payments-soc2-kyverno-namespace-labeller"}},
		{"ingress TLS not required", func(p *profile.Profile) { f := false; p.Spec.TLS.RequireIngressTLS = &f },
			[]string{"ValidatingPolicy/payments-soc2-tls-03"}, []string{"ValidatingPolicy/payments-soc2-tls-05"}},
		{"no issuers", func(p *profile.Profile) { p.Spec.TLS.Issuers = nil },
			[]string{"ValidatingPolicy/payments-soc2-tls-04"}, []string{"ValidatingPolicy/payments-soc2-tls-05"}},
		{"no signature keys", func(p *profile.Profile) { p.Spec.Images.SignatureKeys = nil },
			[]string{"ImageValidatingPolicy/payments-soc2-sup-04"}, []string{"ValidatingPolicy/payments-soc2-sup-01"}},
		{"no registry allowlist", func(p *profile.Profile) { p.Spec.Images.AllowedRegistries = nil },
			[]string{"ValidatingPolicy/payments-soc2-sup-01"}, []string{"ValidatingPolicy/payments-soc2-sup-02"}},
		{"no sensitive tier", func(p *profile.Profile) { p.Spec.Namespaces.Sensitive = nil; p.Spec.Namespaces.SensitiveInclude = nil },
			[]string{"ValidatingPolicy/payments-soc2-sup-03", "ValidatingPolicy/payments-soc2-avl-03"}, []string{"ValidatingPolicy/payments-soc2-sup-02"}},
		{"POD-00 and TLS-02 disabled", func(p *profile.Profile) { p.Spec.Controls.Disable = []string{"POD-00", "TLS-02"} },
			[]string{"MutatingPolicy/payments-soc2-pod-00", "MutatingPolicy/payments-soc2-tls-02-enrol", "ValidatingPolicy/payments-soc2-tls-02", "ClusterRole/payments-soc2-kyverno-namespace-labeller"},
			[]string{"ValidatingPolicy/payments-soc2-pod-01"}},
		{"POD-10 disabled", func(p *profile.Profile) { p.Spec.Controls.Disable = []string{"POD-10"} },
			[]string{"ValidatingPolicy/payments-soc2-pod-10"}, []string{"ValidatingPolicy/payments-soc2-pod-16", "PolicyException/payments-soc2-sec-142"}},
		{"every control an exception waives disabled", func(p *profile.Profile) { p.Spec.Controls.Disable = []string{"POD-10", "POD-16"} },
			[]string{"PolicyException/payments-soc2-sec-142"}, []string{"PolicyException/payments-soc2-sec-177"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, cat := payments(t)
			tc.change(p)
			got := generate(t, p, cat)
			for _, k := range tc.absent {
				if _, ok := got[k]; ok {
					t.Errorf("%s generated, want it skipped", k)
				}
			}
			for _, k := range tc.present {
				if _, ok := got[k]; !ok {
					t.Errorf("%s missing", k)
				}
			}
		})
	}
}

// TestOnlyKyvernoRealisationsBecomePolicies checks that verify-only and network-only
// controls yield no Kyverno object, and every rule-bearing Kyverno control yields one.
func TestOnlyKyvernoRealisationsBecomePolicies(t *testing.T) {
	p, cat := payments(t)
	got := generate(t, p, cat)
	for _, c := range cat.Controls {
		_, has := got["ValidatingPolicy/"+generated.PolicyName(p, c.ID)]
		want := c.Rule != nil && c.Realises("kyverno") && p.ControlEnabled(c.ID)
		if c.ID == "TLS-01" || c.ID == "TLS-02" || c.SensitiveOnly() || strings.HasPrefix(c.ID, "SUP") || strings.HasPrefix(c.ID, "TLS") {
			continue // conditional on profile fields; covered above
		}
		if has != want {
			t.Errorf("%s: ValidatingPolicy generated = %v, want %v (realised by %v)", c.ID, has, want, c.RealisedBy)
		}
	}
	for _, id := range []string{"NET-01", "LOG-01", "LOG-02"} {
		for k, o := range got {
			if slices.Contains(o.Controls, id) {
				t.Errorf("%s realises %s, which Kyverno does not", k, id)
			}
		}
	}
}

func variable(vp *kyvernov1.ValidatingPolicy, name string) string {
	for _, v := range vp.Spec.Variables {
		if v.Name == name {
			return v.Expression
		}
	}
	return "<unset>"
}

func TestParamsResolveProfileThenFieldThenDefault(t *testing.T) {
	cases := []struct {
		name   string
		change func(p *profile.Profile)
		policy string
		param  string
		want   string
	}{
		{"catalogue default", func(p *profile.Profile) { delete(p.Spec.Controls.Params, "TLS-05") }, "payments-soc2-tls-05", "maxDuration", `"2160h"`},
		{"profile param", func(p *profile.Profile) {
			p.Spec.Controls.Params["TLS-05"] = map[string]any{"maxDuration": "720h"}
		}, "payments-soc2-tls-05", "maxDuration", `"720h"`},
		{"from a profile field", func(*profile.Profile) {}, "payments-soc2-sup-01", "allowedRegistries", `["ghcr.io/acme/", "registry.acme.example/payments/"]`},
		{"issuer names", func(*profile.Profile) {}, "payments-soc2-tls-04", "approvedIssuers", `["letsencrypt", "internal-ca", "bootstrap"]`},
		{"profile param beats the field", func(p *profile.Profile) {
			p.Spec.Controls.Params["SUP-01"] = map[string]any{"allowedRegistries": []any{`quay.io/"odd"/`}}
		}, "payments-soc2-sup-01", "allowedRegistries", `["quay.io/\"odd\"/"]`},
		{"string list default", func(*profile.Profile) {}, "payments-soc2-chg-02", "allowedIdentities",
			`["system:serviceaccount:flux-system:kustomize-controller", "system:serviceaccount:argocd:argocd-application-controller"]`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, cat := payments(t)
			tc.change(p)
			o, ok := generate(t, p, cat)["ValidatingPolicy/"+tc.policy]
			if !ok {
				t.Fatalf("%s not generated", tc.policy)
			}
			if got := variable(o.Object.(*kyvernov1.ValidatingPolicy), tc.param); got != tc.want {
				t.Errorf("variables.%s = %s, want %s", tc.param, got, tc.want)
			}
		})
	}
}

func TestBadParamsAndRulesAreErrors(t *testing.T) {
	pods := []catalogue.ResourceRule{{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}}}
	rule := func(r []catalogue.ResourceRule, autogen bool) *catalogue.Rule {
		return &catalogue.Rule{Resources: r, Autogen: autogen, Validations: []catalogue.Validation{{Expression: "true", Message: "X-01"}}}
	}
	kyverno := []catalogue.Realisation{{Generator: "kyverno", Kinds: []string{"ValidatingPolicy"}}}
	cases := []struct {
		name    string
		control catalogue.Control
		param   any
		wantErr string
	}{
		{"unknown profile field", catalogue.Control{ID: "X-01", RealisedBy: kyverno, Rule: rule(pods, true),
			Params: []catalogue.Param{{Name: "p", Type: "stringList", From: "spec.nowhere"}}}, nil, "unknown profile field"},
		{"wrong param type", catalogue.Control{ID: "X-01", RealisedBy: kyverno, Rule: rule(pods, true),
			Params: []catalogue.Param{{Name: "p", Type: "duration", Default: "1h"}}}, "forever", "parameter p"},
		{"pods rule without autogen", catalogue.Control{ID: "X-01", RealisedBy: kyverno, Rule: rule(pods, false)}, nil, "autogen off"},
		{"fine", catalogue.Control{ID: "X-01", RealisedBy: kyverno, Rule: rule(pods, true),
			Params: []catalogue.Param{{Name: "p", Type: "duration", Default: "1h"}}}, "2h", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := payments(t)
			if tc.param != nil {
				p.Spec.Controls.Params["X-01"] = map[string]any{"p": tc.param}
			}
			_, err := Generate(p, &catalogue.Catalogue{Controls: []catalogue.Control{tc.control}})
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "X-01")):
				t.Errorf("error = %v, want one naming X-01 and containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestActionsFollowEnforcement(t *testing.T) {
	p, cat := payments(t)
	p.Spec.Enforcement = profile.Audit
	p.Spec.Controls.Enforcement = map[string]profile.Enforcement{"POD-03": profile.Enforce}
	got := generate(t, p, cat)
	for k, o := range got {
		var actions []admissionv1.ValidationAction
		switch x := o.Object.(type) {
		case *kyvernov1.ValidatingPolicy:
			actions = x.Spec.ValidationAction
		case *kyvernov1.ImageValidatingPolicy:
			actions = x.Spec.ValidationAction
		default:
			continue
		}
		want := admissionv1.Audit
		if o.Controls[0] == "POD-03" {
			want = admissionv1.Deny
		}
		if len(actions) != 1 || actions[0] != want {
			t.Errorf("%s: validationActions %v, want [%s]", k, actions, want)
		}
	}
}

// TestScopeConditions checks the shape that the engine tests exercise: namespaced controls
// keep excluded namespaces out with a selector and check scope in CEL, sensitive ones also
// check the tier, and cluster-scoped ones carry no namespace condition at all.
func TestScopeConditions(t *testing.T) {
	p, cat := payments(t)
	got := generate(t, p, cat)
	checked := 0
	for _, c := range cat.Controls {
		o, ok := got["ValidatingPolicy/"+generated.PolicyName(p, c.ID)]
		if !ok {
			continue
		}
		checked++
		spec := o.Object.(*kyvernov1.ValidatingPolicy).Spec
		var names []string
		for _, m := range spec.MatchConditions {
			names = append(names, m.Name)
		}
		hasSelector := spec.MatchConstraints.NamespaceSelector != nil
		switch {
		case c.ClusterScoped():
			if hasSelector || slices.Contains(names, "in-scope") || slices.Contains(names, "sensitive-tier") {
				t.Errorf("%s is cluster-scoped but has namespace conditions %v (selector %v)", c.ID, names, hasSelector)
			}
		default:
			if !hasSelector || !slices.Contains(names, "in-scope") {
				t.Errorf("%s lacks its scope: conditions %v, selector %v", c.ID, names, hasSelector)
			}
			if has := slices.Contains(names, "sensitive-tier"); has != c.SensitiveOnly() {
				t.Errorf("%s: sensitive-tier condition present = %v, tier %q", c.ID, has, c.Tier)
			}
		}
		if (spec.AutogenConfiguration != nil) != c.Rule.Autogen {
			t.Errorf("%s: autogen configured = %v, rule.autogen %v", c.ID, spec.AutogenConfiguration != nil, c.Rule.Autogen)
		}
		// Background scans for every rule but those judging the requester, which a scan lacks.
		if spec.EvaluationConfiguration == nil || spec.EvaluationConfiguration.Background == nil || *spec.EvaluationConfiguration.Background.Enabled == c.Rule.AdmissionOnly {
			t.Errorf("%s: background scanning on = %v, admissionOnly %v", c.ID, spec.EvaluationConfiguration != nil && spec.EvaluationConfiguration.Background != nil && *spec.EvaluationConfiguration.Background.Enabled, c.Rule.AdmissionOnly)
		}
		for _, v := range spec.Validations {
			if !strings.Contains(v.Message+v.MessageExpression, c.ID) {
				t.Errorf("%s: message %q does not name the control", c.ID, v.Message+v.MessageExpression)
			}
		}
	}
	if checked < 30 {
		t.Fatalf("only %d ValidatingPolicies", checked)
	}
}

func TestEveryObjectIsTypedAndTraced(t *testing.T) {
	cat, err := catalogue.Load()
	if err != nil {
		t.Fatal(err)
	}
	for name, p := range golden.Examples(t, cat.IDSet()) {
		objs, err := Generate(p, cat)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			gvk := o.Object.GetObjectKind().GroupVersionKind()
			if gvk.Kind == "" || gvk.Version == "" || len(o.Controls) == 0 || o.Dir != api.DirKyverno {
				t.Errorf("%s: %s %s has kind %q version %q controls %v dir %q", name, gvk.Kind, o.Object.GetName(), gvk.Kind, gvk.Version, o.Controls, o.Dir)
			}
			if gvk.Group != "policies.kyverno.io" && gvk.Group != rbacv1.GroupName {
				t.Errorf("%s: unexpected group %s", name, gvk.Group)
			}
			for k := range o.Object.GetLabels() {
				if k == api.LabelManagedBy || k == api.LabelProfile || k == api.LabelVersion {
					t.Errorf("%s: %s sets %s, which the root generator owns", name, o.Object.GetName(), k)
				}
			}
		}
	}
}

func TestExceptions(t *testing.T) {
	p, cat := payments(t)
	got := generate(t, p, cat)
	o, ok := got["PolicyException/payments-soc2-sec-142"]
	if !ok {
		t.Fatal("exception SEC-142 not generated")
	}
	pe := o.Object.(*kyvernov1.PolicyException)
	if pe.Namespace != ExceptionNamespace {
		t.Errorf("namespace %q, want %q", pe.Namespace, ExceptionNamespace)
	}
	var refs []string
	for _, r := range pe.Spec.PolicyRefs {
		refs = append(refs, r.Kind+"/"+r.Name)
		if _, ok := got[r.Kind+"/"+r.Name]; !ok {
			t.Errorf("exception refers to %s/%s, which is not generated", r.Kind, r.Name)
		}
	}
	// A waiver covers both of a control's policies: the pods one and its kubectl debug companion.
	if want := []string{"ValidatingPolicy/payments-soc2-pod-10", "ValidatingPolicy/payments-soc2-pod-10-ephemeralcontainers",
		"ValidatingPolicy/payments-soc2-pod-16", "ValidatingPolicy/payments-soc2-pod-16-ephemeralcontainers"}; !slices.Equal(refs, want) {
		t.Errorf("policyRefs %v, want %v", refs, want)
	}
	want := map[string]string{api.AnnotationReason: p.Spec.Exceptions[0].Reason, api.AnnotationTicket: "SEC-142", api.AnnotationExpires: "2027-09-30"}
	for k, v := range want {
		if pe.Annotations[k] != v {
			t.Errorf("annotation %s = %q, want %q", k, pe.Annotations[k], v)
		}
	}
	// Kyverno stops honouring it when the expiry day is over, not at its start.
	if pe.Spec.ExpiresAt == nil || pe.Spec.ExpiresAt.UTC().Format("2006-01-02T15:04:05Z") != "2027-10-01T00:00:00Z" {
		t.Errorf("expiresAt %v, want 2027-10-01T00:00:00Z", pe.Spec.ExpiresAt)
	}
	if !slices.Equal(o.Controls, []string{"POD-10", "POD-16"}) {
		t.Errorf("controls %v", o.Controls)
	}

	// SUP-04 is waived through its ImageValidatingPolicy; no ticket means no ticket annotation.
	p.Spec.Exceptions = []profile.Exception{{Name: "img", Controls: []string{"SUP-04", "NET-01"}, Namespaces: []string{"ledger"}, Reason: "r", Expires: p.Spec.Exceptions[0].Expires}}
	pe = generate(t, p, cat)["PolicyException/payments-soc2-img"].Object.(*kyvernov1.PolicyException)
	var imgRefs []string
	for _, r := range pe.Spec.PolicyRefs {
		imgRefs = append(imgRefs, r.Kind+"/"+r.Name)
	}
	if want := []string{"ImageValidatingPolicy/payments-soc2-sup-04", "ImageValidatingPolicy/payments-soc2-sup-04-ephemeralcontainers"}; !slices.Equal(imgRefs, want) {
		t.Errorf("policyRefs %v, want the SUP-04 ImageValidatingPolicies only", imgRefs)
	}
	if _, ok := pe.Annotations[api.AnnotationTicket]; ok {
		t.Error("empty ticket annotation written")
	}
}

// TestExceptionConditionHoldsForEveryOperation evaluates the exception's namespace test
// as CEL: Kyverno hands it a null object on DELETE and a null oldObject on CREATE.
func TestExceptionConditionHoldsForEveryOperation(t *testing.T) {
	p, cat := payments(t)
	pe := generate(t, p, cat)["PolicyException/payments-soc2-sec-142"].Object.(*kyvernov1.PolicyException)
	env, err := cel.NewEnv(cel.Variable("object", cel.DynType), cel.Variable("oldObject", cel.DynType), cel.OptionalTypes())
	if err != nil {
		t.Fatal(err)
	}
	ast, iss := env.Compile(pe.Spec.MatchConditions[0].Expression)
	if iss.Err() != nil {
		t.Fatal(iss.Err())
	}
	prg, err := env.Program(ast)
	if err != nil {
		t.Fatal(err)
	}
	in := func(ns string) map[string]any {
		md := map[string]any{"name": "x"}
		if ns != "" {
			md["namespace"] = ns
		}
		return map[string]any{"metadata": md}
	}
	cases := []struct {
		name              string
		object, oldObject any
		want              bool
	}{
		{"create there", in("legacy-batch"), nil, true},
		{"update there", in("legacy-batch"), in("legacy-batch"), true},
		{"delete there", nil, in("legacy-batch"), true},
		{"create elsewhere", in("payments"), nil, false},
		{"delete elsewhere", nil, in("payments"), false},
		{"cluster-scoped", in(""), nil, false},
	}
	for _, tc := range cases {
		out, _, err := prg.Eval(map[string]any{"object": tc.object, "oldObject": tc.oldObject})
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if out.Value() != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, out.Value(), tc.want)
		}
	}
}

func podSecurityOf(t *testing.T, p *profile.Profile, cat *catalogue.Catalogue) api.PodSecurity {
	t.Helper()
	o, ok := generate(t, p, cat)["MutatingPolicy/"+p.Metadata.Name+"-pod-00"]
	if !ok {
		t.Fatal("no POD-00 MutatingPolicy")
	}
	var ps api.PodSecurity
	if err := json.Unmarshal([]byte(o.Object.GetAnnotations()[api.AnnotationPodSecurity]), &ps); err != nil {
		t.Fatal(err)
	}
	return ps
}

// TestPodSecurityLevels: a namespace enforces the strictest level whose POD controls are
// all enabled, in Enforce mode and no wider than the standard.
func TestPodSecurityLevels(t *testing.T) {
	tests := []struct {
		name               string
		change             func(*profile.Profile)
		enforce, sensitive string
	}{
		{"every control enforced", func(*profile.Profile) {}, "baseline", "restricted"},
		{"an Audit profile", func(p *profile.Profile) { p.Spec.Enforcement = profile.Audit }, "privileged", "privileged"},
		{"POD-00 in Audit mode", func(p *profile.Profile) {
			p.Spec.Controls.Enforcement = map[string]profile.Enforcement{"POD-00": profile.Audit}
		}, "privileged", "privileged"},
		{"a restricted control disabled", func(p *profile.Profile) { p.Spec.Controls.Disable = append(p.Spec.Controls.Disable, "POD-16") }, "baseline", "baseline"},
		{"a baseline control disabled", func(p *profile.Profile) { p.Spec.Controls.Disable = append(p.Spec.Controls.Disable, "POD-01") }, "privileged", "privileged"},
		{"a baseline list widened", func(p *profile.Profile) {
			p.Spec.Controls.Params = map[string]map[string]any{"POD-04": {"allowedCapabilities": []any{"CHOWN", "SYS_ADMIN"}}}
		}, "privileged", "privileged"},
		{"a baseline list narrowed", func(p *profile.Profile) {
			p.Spec.Controls.Params = map[string]map[string]any{"POD-04": {"allowedCapabilities": []any{"CHOWN"}}}
		}, "baseline", "restricted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, cat := payments(t)
			tt.change(p)
			ps := podSecurityOf(t, p, cat)
			if ps.Enforce != tt.enforce || ps.EnforceSensitive != tt.sensitive || ps.Warn != "restricted" || ps.Audit != "restricted" || ps.Version != "v"+cat.Kubernetes {
				t.Errorf("%+v, want enforce %s, %s in the sensitive tier, warn and audit restricted, version v%s", ps, tt.enforce, tt.sensitive, cat.Kubernetes)
			}
		})
	}
}
