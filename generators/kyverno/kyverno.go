package kyverno

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	kyvernov1 "github.com/kyverno/api/api/policies.kyverno.io/v1"
	"github.com/kyverno/api/api/policies.kyverno.io/v1alpha1"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	admissionv1alpha1 "k8s.io/api/admissionregistration/v1alpha1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"bulwark.dev/bulwark/api"
	"bulwark.dev/bulwark/catalogue"
	"bulwark.dev/bulwark/generators/generated"
	"bulwark.dev/bulwark/profile"
	"bulwark.dev/bulwark/scope"
)

// APIVersion of every object this package emits.
const APIVersion = "policies.kyverno.io/v1"

// ExceptionNamespace is where PolicyExceptions live: the namespace Kyverno is installed in
// by default. Kyverno reads CEL PolicyExceptions from the namespace named by its
// --exceptionNamespace flag, or from every namespace when the flag is unset (the Helm
// chart's default, features.policyExceptions.namespace: ""); clusters that restrict it
// name Kyverno's own namespace, which only the platform team can write to, so exceptions
// here are honoured in both set-ups.
const ExceptionNamespace = "kyverno"

// meshEnrolmentControl is the control whose MutatingPolicy enrols namespaces in the mesh.
const meshEnrolmentControl = "TLS-02"

// podControllers are the workload kinds a Pod rule is extended to. ReplicaSets are left
// out: Deployments own them, and a bare ReplicaSet's Pods are still checked on admission.
var podControllers = []string{"cronjobs", "daemonsets", "deployments", "jobs", "statefulsets"}

// backgroundControllerAggregation is the label that adds a ClusterRole's rules to Kyverno's
// background controller, which performs mutateExisting.
const backgroundControllerAggregation = "rbac.kyverno.io/aggregate-to-background-controller"

// Generate emits the Kyverno policies for every enabled control the profile can realise.
func Generate(p *profile.Profile, cat *catalogue.Catalogue) ([]generated.Object, error) {
	var out []generated.Object
	policyRefs := map[string][]v1alpha1.PolicyRef{} // control id -> its policies, for exceptions
	var labellers []string                          // controls whose MutatingPolicies label namespaces
	for i := range cat.Controls {
		c := &cat.Controls[i]
		if !p.ControlEnabled(c.ID) || !realises(c) || skipReason(p, c) != "" {
			continue
		}
		if c.Rule != nil && c.Realises("kyverno") {
			vps, err := validatingPolicies(p, c)
			if err != nil {
				return nil, fmt.Errorf("control %s: %w", c.ID, err)
			}
			for _, vp := range vps {
				out = append(out, generated.Object{Dir: api.DirKyverno, Object: vp, Controls: []string{c.ID}})
				policyRefs[c.ID] = append(policyRefs[c.ID], v1alpha1.PolicyRef{Name: vp.Name, Kind: "ValidatingPolicy"})
			}
		}
		if r, ok := realisers[c.ID]; ok {
			for _, o := range r.objects(p, cat, c.ID) {
				out = append(out, generated.Object{Dir: api.DirKyverno, Object: o, Controls: []string{c.ID}})
				if r.policyKind != "" {
					policyRefs[c.ID] = append(policyRefs[c.ID], v1alpha1.PolicyRef{Name: o.GetName(), Kind: r.policyKind})
				}
			}
			if r.labelsNamespaces {
				labellers = append(labellers, c.ID)
			}
		}
	}
	if len(labellers) > 0 {
		out = append(out, generated.Object{Dir: api.DirKyverno, Object: namespaceLabellerRole(p), Controls: labellers})
	}
	for _, e := range p.Spec.Exceptions {
		if pe, waived := exception(p, e, policyRefs); pe != nil {
			// Traced to the controls whose policies it waives: an exception naming a control
			// the bundle does not realise must not make the bundle claim it.
			out = append(out, generated.Object{Dir: api.DirKyverno, Object: pe, Controls: waived})
		}
	}
	return out, nil
}

// realiser is how this generator realises a control in code rather than from the
// catalogue's rule.
type realiser struct {
	// objects builds the control's policies.
	objects func(p *profile.Profile, cat *catalogue.Catalogue, id string) []generated.KubeObject
	// labelsNamespaces: the policy mutates existing namespaces, which needs the ClusterRole
	// that lets Kyverno's background controller label them.
	labelsNamespaces bool
	// policyKind is the kind a PolicyException for the control must name, if any.
	policyKind string
}

// realisers are the controls whose policies this generator writes in code. Every other
// control it realises comes from the catalogue's rule; a catalogue test holds the two to
// the catalogue's realisedBy (Realised).
var realisers = map[string]realiser{
	"POD-00":             {objects: one(psaLabels), labelsNamespaces: true},
	meshEnrolmentControl: {objects: one(meshEnrolment), labelsNamespaces: true},
	"SUP-04":             {objects: imageSignatures, policyKind: "ImageValidatingPolicy"},
}

// one adapts a builder of a single policy to realiser.objects.
func one[T generated.KubeObject](f func(p *profile.Profile, cat *catalogue.Catalogue, id string) T) func(*profile.Profile, *catalogue.Catalogue, string) []generated.KubeObject {
	return func(p *profile.Profile, cat *catalogue.Catalogue, id string) []generated.KubeObject {
		return []generated.KubeObject{f(p, cat, id)}
	}
}

// need is what a conditional control requires of the profile, and what to say when the
// profile does not give it.
type need struct {
	met    func(*profile.Profile) bool
	reason string
	// when says what the profile must give, for 'bulwark controls show'.
	when string
}

// Reasons a control is not realised, shared with the other generators that skip the same
// controls for the same profile gaps.
const (
	ReasonNoSensitiveTier = "no sensitive tier: neither spec.namespaces.sensitive nor spec.namespaces.sensitiveInclude is set"
	ReasonNoMesh          = "no mesh: spec.mesh.provider is not istio"
	ReasonNoIssuers       = "no issuers in spec.tls.issuers"
)

// needs are the controls that act only when the profile gives them something to act on.
var needs = map[string]need{
	"TLS-01": {meshIstio, ReasonNoMesh, whenMesh},
	"TLS-02": {meshIstio, ReasonNoMesh, whenMesh},
	"TLS-03": {func(p *profile.Profile) bool {
		return p.Spec.TLS.RequireIngressTLS == nil || *p.Spec.TLS.RequireIngressTLS
	}, "spec.tls.requireIngressTLS is false", "spec.tls.requireIngressTLS is not false (the default is true)"},
	"TLS-04": {func(p *profile.Profile) bool { return len(p.Spec.TLS.Issuers) > 0 }, ReasonNoIssuers, "spec.tls.issuers names at least one issuer"},
	"SUP-01": {func(p *profile.Profile) bool { return len(p.Spec.Images.AllowedRegistries) > 0 },
		"no registries in spec.images.allowedRegistries", "spec.images.allowedRegistries names at least one registry"},
	"SUP-04": {func(p *profile.Profile) bool { return len(p.Spec.Images.SignatureKeys) > 0 },
		"no trusted keys in spec.images.signatureKeys", "spec.images.signatureKeys names at least one key"},
}

func meshIstio(p *profile.Profile) bool { return p.Spec.Mesh.Provider == profile.MeshIstio }

const whenMesh = "spec.mesh.provider is istio"

// WhenSensitive is the condition of a sensitive-tier control.
const WhenSensitive = "the profile has a sensitive tier (spec.namespaces.sensitive or spec.namespaces.sensitiveInclude)"

// When says what a profile must give a control for this generator to realise it: the
// sensitive tier for sensitive-tier controls, and the needs table's conditions; nil when
// the control is realised whenever it is enabled.
func When(c *catalogue.Control) []string {
	var out []string
	if c.SensitiveOnly() {
		out = append(out, WhenSensitive)
	}
	if n, ok := needs[c.ID]; ok {
		out = append(out, n.when)
	}
	return out
}

// Realised lists the controls this generator realises in code (not from a catalogue rule).
func Realised() []string { return sortedKeys(realisers) }

// Conditional lists the controls that act only when the profile gives them something to act on.
func Conditional() []string { return sortedKeys(needs) }

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// realises reports whether this generator realises the control at all; skipReason says
// whether a profile gives it something to act on. POD-00's namespace labels are realised as
// a MutatingPolicy (the psa realisation).
func realises(c *catalogue.Control) bool {
	return c.Realises("kyverno") || c.Realises("psa")
}

// skipReason says why the profile gives an enabled control nothing to act on, or "" when
// it does.
func skipReason(p *profile.Profile, c *catalogue.Control) string {
	if c.SensitiveOnly() && !scope.New(p.Spec.Namespaces).HasSensitiveTier() {
		return ReasonNoSensitiveTier
	}
	if n, ok := needs[c.ID]; ok && !n.met(p) {
		return n.reason
	}
	return ""
}

// NotRealised returns, for every enabled control this generator realises in general but
// skips for this profile, the reason it skips it.
func NotRealised(p *profile.Profile, cat *catalogue.Catalogue) map[string]string {
	out := map[string]string{}
	for i := range cat.Controls {
		c := &cat.Controls[i]
		if !p.ControlEnabled(c.ID) || !realises(c) {
			continue
		}
		if r := skipReason(p, c); r != "" {
			out[c.ID] = r
		}
	}
	return out
}

func actions(p *profile.Profile, id string) []admissionv1.ValidationAction {
	if p.EnforcementFor(id) == profile.Audit {
		return []admissionv1.ValidationAction{admissionv1.Audit}
	}
	return []admissionv1.ValidationAction{admissionv1.Deny}
}

func ptr[T any](v T) *T { return &v }

func typeMeta(kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: APIVersion, Kind: kind}
}

// paramValue resolves a parameter: the profile's setting, else the profile field the
// catalogue names, else the catalogue default.
func paramValue(p *profile.Profile, c *catalogue.Control, prm catalogue.Param) (any, error) {
	if v, ok := p.Param(c.ID, prm.Name); ok {
		return v, nil
	}
	switch prm.From {
	case "":
		return prm.Default, nil
	case "spec.images.allowedRegistries":
		return p.Spec.Images.AllowedRegistries, nil
	case "spec.tls.issuers":
		names := make([]string, 0, len(p.Spec.TLS.Issuers))
		for _, is := range p.Spec.TLS.Issuers {
			names = append(names, is.Name)
		}
		return names, nil
	}
	// A catalogue naming a field this generator cannot read would otherwise fall back to
	// the default silently, and the policy would enforce something the profile never said.
	return nil, fmt.Errorf("parameter %s: unknown profile field %q", prm.Name, prm.From)
}

// validatingPolicies builds the control's ValidatingPolicy from its rule. Kyverno extends a
// policy to Pod controllers only when it matches core v1 pods alone, so an autogen rule's
// further resources (pods/ephemeralcontainers, which kubectl debug updates with the whole
// Pod as its object) go in a companion policy, named after the subresource, with the same
// conditions and validations, no autogen and no background scan: the main policy already
// scans every Pod, ephemeral containers included.
func validatingPolicies(p *profile.Profile, c *catalogue.Control) ([]*kyvernov1.ValidatingPolicy, error) {
	r := c.Rule
	var vars []admissionv1.Variable
	for _, prm := range c.Params {
		v, err := paramValue(p, c, prm)
		if err != nil {
			return nil, err
		}
		lit, err := catalogue.CELParam(prm, v)
		if err != nil {
			return nil, fmt.Errorf("parameter %s: %w", prm.Name, err)
		}
		vars = append(vars, admissionv1.Variable{Name: prm.Name, Expression: lit})
	}
	for _, v := range r.Variables {
		vars = append(vars, admissionv1.Variable{Name: v.Name, Expression: v.Expression})
	}
	var conds []admissionv1.MatchCondition
	if !c.ClusterScoped() {
		conds = append(conds, admissionv1.MatchCondition{Name: "in-scope", Expression: scope.New(p.Spec.Namespaces).InScopeCEL("namespaceObject", false)})
	}
	if c.SensitiveOnly() {
		conds = append(conds, admissionv1.MatchCondition{Name: "sensitive-tier", Expression: scope.New(p.Spec.Namespaces).SensitiveCEL("namespaceObject")})
	}
	for _, m := range r.MatchConditions {
		conds = append(conds, admissionv1.MatchCondition{Name: m.Name, Expression: m.Expression})
	}
	var validations []admissionv1.Validation
	for _, v := range r.Validations {
		validations = append(validations, admissionv1.Validation{Expression: v.Expression, Message: v.Message, MessageExpression: v.MessageExpression})
	}
	resources, companions := r.Resources, []catalogue.ResourceRule(nil)
	if r.Autogen {
		resources, companions = r.Resources[:1], r.Resources[1:]
	}
	match := func(rules []catalogue.ResourceRule) *admissionv1.MatchResources {
		m := &admissionv1.MatchResources{ResourceRules: resourceRules(rules)}
		if !c.ClusterScoped() {
			// Excluded namespaces never reach the policy; cluster-scoped controls (RBAC, the
			// policy plane) hold everywhere, including where the exceptions live.
			m.NamespaceSelector = scope.New(p.Spec.Namespaces).ExcludeSelector()
		}
		return m
	}
	spec := kyvernov1.ValidatingPolicySpec{
		MatchConstraints: match(resources),
		MatchConditions:  conds,
		Variables:        vars,
		Validations:      validations,
		ValidationAction: actions(p, c.ID),
		EvaluationConfiguration: &v1alpha1.EvaluationConfiguration{
			Admission: &v1alpha1.AdmissionConfiguration{Enabled: ptr(true)},
			// A rule that judges the requester cannot be judged in a background scan.
			Background: &v1alpha1.BackgroundConfiguration{Enabled: ptr(!r.AdmissionOnly)},
		},
	}
	if r.Autogen {
		spec.AutogenConfiguration = &v1alpha1.ValidatingPolicyAutogenConfiguration{
			PodControllers: &v1alpha1.PodControllersGenerationConfiguration{Controllers: append([]string(nil), podControllers...)},
		}
		if !podsOnly(resources) {
			return nil, fmt.Errorf("autogen rule's first resource is not core v1 pods alone, which Kyverno would not extend to Pod controllers")
		}
	} else if podsOnly(r.Resources) {
		// Kyverno extends a Pods-only policy to every Pod controller unless it lists no
		// controllers, and the typed API drops an empty list when serialised.
		return nil, fmt.Errorf("rule matches only Pods but has autogen off, which Kyverno would not honour")
	}
	out := []*kyvernov1.ValidatingPolicy{{
		TypeMeta:   typeMeta("ValidatingPolicy"),
		ObjectMeta: metav1.ObjectMeta{Name: generated.PolicyName(p, c.ID)},
		Spec:       spec,
	}}
	for _, rr := range companions {
		suffix, err := subresourceSuffix(rr)
		if err != nil {
			return nil, err
		}
		cs := *spec.DeepCopy()
		cs.MatchConstraints = match([]catalogue.ResourceRule{rr})
		cs.AutogenConfiguration = nil
		cs.EvaluationConfiguration.Background = &v1alpha1.BackgroundConfiguration{Enabled: ptr(false)}
		out = append(out, &kyvernov1.ValidatingPolicy{
			TypeMeta:   typeMeta("ValidatingPolicy"),
			ObjectMeta: metav1.ObjectMeta{Name: generated.PolicyName(p, c.ID) + "-" + suffix},
			Spec:       cs,
		})
	}
	return out, nil
}

// subresourceSuffix names the companion policy for a resource rule on one core v1 pods
// subresource: pods/ephemeralcontainers gives "ephemeralcontainers".
func subresourceSuffix(rr catalogue.ResourceRule) (string, error) {
	if len(rr.Resources) != 1 || !strings.HasPrefix(rr.Resources[0], "pods/") ||
		len(rr.APIGroups) != 1 || rr.APIGroups[0] != "" || len(rr.APIVersions) != 1 || rr.APIVersions[0] != "v1" {
		return "", fmt.Errorf("autogen rule's further resource rule %+v is not one core v1 pods subresource", rr)
	}
	return strings.TrimPrefix(rr.Resources[0], "pods/"), nil
}

func resourceRules(rules []catalogue.ResourceRule) []admissionv1.NamedRuleWithOperations {
	var out []admissionv1.NamedRuleWithOperations
	for _, rr := range rules {
		ops := []admissionv1.OperationType{admissionv1.Create, admissionv1.Update}
		if len(rr.Operations) > 0 {
			ops = nil
			for _, o := range rr.Operations {
				ops = append(ops, admissionv1.OperationType(o))
			}
		}
		out = append(out, admissionv1.NamedRuleWithOperations{RuleWithOperations: admissionv1.RuleWithOperations{
			Operations: ops,
			Rule: admissionv1.Rule{
				APIGroups:   append([]string(nil), rr.APIGroups...),
				APIVersions: append([]string(nil), rr.APIVersions...),
				Resources:   append([]string(nil), rr.Resources...),
			},
		}})
	}
	return out
}

// podsOnly mirrors Kyverno's test for extending a policy to Pod controllers: exactly one
// rule, for core v1 pods.
func podsOnly(rules []catalogue.ResourceRule) bool {
	if len(rules) != 1 {
		return false
	}
	r := rules[0]
	return len(r.APIGroups) == 1 && r.APIGroups[0] == "" && len(r.APIVersions) == 1 && r.APIVersions[0] == "v1" &&
		len(r.Resources) == 1 && r.Resources[0] == "pods"
}

var namespaceRule = []admissionv1.NamedRuleWithOperations{{RuleWithOperations: admissionv1.RuleWithOperations{
	Operations: []admissionv1.OperationType{admissionv1.Create, admissionv1.Update},
	Rule:       admissionv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"namespaces"}},
}}}

// namespaceLabeller is a MutatingPolicy that sets labels on in-scope namespaces, on
// admission and, through mutateExisting, on namespaces that already exist.
func namespaceLabeller(name string, p *profile.Profile, labels string, vars []admissionv1.Variable) *kyvernov1.MutatingPolicy {
	return &kyvernov1.MutatingPolicy{
		TypeMeta:   typeMeta("MutatingPolicy"),
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: kyvernov1.MutatingPolicySpec{
			MatchConstraints: &admissionv1.MatchResources{ResourceRules: namespaceRule},
			MatchConditions:  []admissionv1.MatchCondition{{Name: "in-scope", Expression: scope.New(p.Spec.Namespaces).InScopeCEL("object", false)}},
			Variables:        vars,
			Mutations: []admissionv1alpha1.Mutation{{
				PatchType:          admissionv1alpha1.PatchTypeApplyConfiguration,
				ApplyConfiguration: &admissionv1alpha1.ApplyConfiguration{Expression: "Object{metadata: Object.metadata{labels: " + labels + "}}"},
			}},
			EvaluationConfiguration: &v1alpha1.MutatingPolicyEvaluationConfiguration{
				Admission:                   &v1alpha1.AdmissionConfiguration{Enabled: ptr(true)},
				MutateExistingConfiguration: &v1alpha1.MutateExistingConfiguration{Enabled: ptr(true)},
			},
		},
	}
}

// psaLabels labels in-scope namespaces for Pod Security Admission: warn and audit at
// restricted, every mode pinned to the catalogue's Kubernetes version, and enforce at the
// level podSecurity computes, lowered in an excepted namespace until its exception ends.
// The policy records the levels in AnnotationPodSecurity, for verify.
func psaLabels(p *profile.Profile, cat *catalogue.Catalogue, id string) *kyvernov1.MutatingPolicy {
	ps := podSecurity(p, cat, id)
	normal := fmt.Sprintf("'%s'", ps.Enforce)
	if ps.EnforceSensitive != ps.Enforce {
		normal = fmt.Sprintf("(%s) ? '%s' : '%s'", scope.New(p.Spec.Namespaces).SensitiveCEL("object"), ps.EnforceSensitive, ps.Enforce)
	}
	vars := []admissionv1.Variable{{Name: "normalLevel", Expression: normal}}
	// A namespace in several exceptions gets the lowest level: the privileged ones first.
	// time.now() makes a lowered level lapse when the namespace or the policy is next
	// admitted after the exception's end; verify finds a namespace still lowered.
	level := "variables.normalLevel"
	for _, want := range []string{api.PSSBaseline, api.PSSPrivileged} {
		for i := len(ps.Exceptions) - 1; i >= 0; i-- {
			e := ps.Exceptions[i]
			if e.Enforce != want {
				continue
			}
			cond := fmt.Sprintf("object.metadata.name in %s && time.now() < timestamp('%s')", catalogue.CELList(e.Namespaces), e.Until.UTC().Format(time.RFC3339))
			if want == api.PSSBaseline {
				cond += " && variables.normalLevel == 'restricted'"
			}
			level = fmt.Sprintf("(%s) ? '%s' : %s", cond, want, level)
		}
	}
	vars = append(vars, admissionv1.Variable{Name: "enforceLevel", Expression: level})
	labels := fmt.Sprintf(`{%q: variables.enforceLevel, %q: %q, %q: %q, %q: %q, %q: %q, %q: %q}`,
		api.LabelPSAEnforce, api.LabelPSAEnforceVersion, ps.Version,
		api.LabelPSAWarn, ps.Warn, api.LabelPSAWarnVersion, ps.Version,
		api.LabelPSAAudit, ps.Audit, api.LabelPSAAuditVersion, ps.Version)
	mp := namespaceLabeller(generated.PolicyName(p, id), p, labels, vars)
	record, err := json.Marshal(ps)
	if err != nil {
		panic(err) // strings and times only
	}
	mp.Annotations = map[string]string{api.AnnotationPodSecurity: string(record)}
	return mp
}

// podSecurity is the Pod Security Admission levels of the profile. A namespace enforces
// the strictest level all of whose checks the profile enforces: every POD control of that
// level or below enabled, realised, in Enforce mode and not widened beyond the standard by
// its parameters, and POD-00 itself in Enforce mode.
// An Audit control must not deny through Pod Security Admission either, so an Audit
// profile enforces privileged. The sensitive tier may reach restricted, the rest at most
// baseline. Warn and audit stay restricted: they never deny.
func podSecurity(p *profile.Profile, cat *catalogue.Catalogue, id string) api.PodSecurity {
	allowed := api.PSSRestricted
	if p.EnforcementFor(id) == profile.Audit {
		allowed = api.PSSPrivileged
	}
	pssLevel := map[string]string{} // control id -> its Pod Security Standards level
	for i := range cat.Controls {
		c := &cat.Controls[i]
		lvl := c.References.PSSLevel
		if lvl == "" {
			continue
		}
		pssLevel[c.ID] = lvl
		if !p.ControlEnabled(c.ID) || skipReason(p, c) != "" || p.EnforcementFor(c.ID) == profile.Audit || widens(p, c) {
			// Not enforced at its level: enforce at most the level below.
			if below := api.PSSLevels[api.PSSRank(lvl)-1]; api.PSSRank(below) < api.PSSRank(allowed) {
				allowed = below
			}
		}
	}
	ps := api.PodSecurity{
		Version:          "v" + cat.Kubernetes,
		EnforceSensitive: allowed,
		Enforce:          minLevel(allowed, api.PSSBaseline),
		Warn:             api.PSSRestricted,
		Audit:            api.PSSRestricted,
	}
	for _, e := range p.Spec.Exceptions {
		lowered := ""
		for _, cid := range e.Controls {
			var l string
			switch {
			case cid == id:
				l = api.PSSPrivileged // Pod Security Admission itself is waived
			case pssLevel[cid] != "":
				l = api.PSSLevels[api.PSSRank(pssLevel[cid])-1]
			default:
				continue
			}
			if lowered == "" {
				lowered = l
			}
			lowered = minLevel(lowered, l)
		}
		if lowered == "" || api.PSSRank(lowered) >= api.PSSRank(ps.EnforceSensitive) {
			continue // waives no check Pod Security Admission enforces
		}
		ps.Exceptions = append(ps.Exceptions, api.PodSecurityException{
			Name: e.Name, Namespaces: append([]string(nil), e.Namespaces...), Enforce: lowered, Until: exceptionEnd(e),
		})
	}
	return ps
}

// widens reports whether the profile's parameters let the control admit more than the
// catalogue's defaults, the Pod Security Standard's own values: a list with a value the
// default lacks, any other parameter set to another value. Pod Security Admission would
// still deny what the control was widened to admit.
func widens(p *profile.Profile, c *catalogue.Control) bool {
	for _, prm := range c.Params {
		v, ok := p.Param(c.ID, prm.Name)
		if !ok {
			continue
		}
		if prm.Type != "stringList" {
			if fmt.Sprint(v) != fmt.Sprint(prm.Default) {
				return true
			}
			continue
		}
		def := map[string]bool{}
		for _, d := range asList(prm.Default) {
			def[d] = true
		}
		for _, x := range asList(v) {
			if !def[x] {
				return true
			}
		}
	}
	return false
}

func asList(v any) []string {
	switch l := v.(type) {
	case []string:
		return l
	case []any:
		out := make([]string, len(l))
		for i, x := range l {
			out[i] = fmt.Sprint(x)
		}
		return out
	}
	return []string{fmt.Sprint(v)}
}

func minLevel(a, b string) string {
	if api.PSSRank(a) < api.PSSRank(b) {
		return a
	}
	return b
}

// exceptionEnd is the instant an exception stops holding: the end of its expiry day, UTC.
func exceptionEnd(e profile.Exception) time.Time {
	return e.Expires.Time.AddDate(0, 0, 1).UTC().Truncate(24 * time.Hour)
}

// meshEnrolment labels in-scope namespaces for Istio sidecar injection.
func meshEnrolment(p *profile.Profile, _ *catalogue.Catalogue, _ string) *kyvernov1.MutatingPolicy {
	return namespaceLabeller(generated.PolicyName(p, meshEnrolmentControl)+"-enrol", p, `{"istio-injection": "enabled"}`, nil)
}

// namespaceLabellerRole lets Kyverno's background controller write namespaces, which its
// default role (Helm chart v1.19) only reads: without it mutateExisting cannot label the
// namespaces that existed before the policies. The chart's background-controller
// ClusterRole aggregates every ClusterRole carrying backgroundControllerAggregation.
func namespaceLabellerRole(p *profile.Profile) *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{
		TypeMeta: metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "ClusterRole"},
		ObjectMeta: metav1.ObjectMeta{
			Name:   p.Metadata.Name + "-kyverno-namespace-labeller",
			Labels: map[string]string{backgroundControllerAggregation: "true"},
		},
		Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{""},
			Resources: []string{"namespaces"},
			Verbs:     []string{"patch", "update"},
		}},
	}
}

// imageSignatures requires every image from the allowed registries to be signed with one
// of the profile's cosign keys.
//
// Kyverno extends it to Pod controllers only while it matches core v1 pods alone, so a
// companion policy with the same checks matches the UPDATE of pods/ephemeralcontainers that
// kubectl debug sends.
func imageSignatures(p *profile.Profile, _ *catalogue.Catalogue, id string) []generated.KubeObject {
	main := imageSignaturesFor(p, id, generated.PolicyName(p, id), catalogue.ResourceRule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}})
	eph := imageSignaturesFor(p, id, generated.PolicyName(p, id)+"-ephemeralcontainers",
		catalogue.ResourceRule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods/ephemeralcontainers"}, Operations: []string{"UPDATE"}})
	return []generated.KubeObject{main, eph}
}

func imageSignaturesFor(p *profile.Profile, id, name string, rr catalogue.ResourceRule) *kyvernov1.ImageValidatingPolicy {
	var refs []v1alpha1.MatchImageReference
	for _, r := range p.Spec.Images.AllowedRegistries {
		refs = append(refs, v1alpha1.MatchImageReference{Glob: strings.TrimSuffix(r, "/") + "/*"})
	}
	if len(refs) == 0 {
		refs = []v1alpha1.MatchImageReference{{Glob: "*"}}
	}
	var attestors []v1alpha1.Attestor
	var names []string
	for _, k := range p.Spec.Images.SignatureKeys {
		attestors = append(attestors, v1alpha1.Attestor{Name: k.Name, Cosign: &v1alpha1.Cosign{
			Key:   &v1alpha1.Key{Data: strings.TrimSpace(k.PublicKey) + "\n"},
			CTLog: &v1alpha1.CTLog{InsecureIgnoreTlog: true, InsecureIgnoreSCT: true},
		}})
		names = append(names, "attestors."+k.Name)
	}
	return &kyvernov1.ImageValidatingPolicy{
		TypeMeta:   typeMeta("ImageValidatingPolicy"),
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: kyvernov1.ImageValidatingPolicySpec{
			MatchConstraints: &admissionv1.MatchResources{
				NamespaceSelector: scope.New(p.Spec.Namespaces).ExcludeSelector(),
				ResourceRules:     resourceRules([]catalogue.ResourceRule{rr}),
			},
			MatchConditions:      []admissionv1.MatchCondition{{Name: "in-scope", Expression: scope.New(p.Spec.Namespaces).InScopeCEL("namespaceObject", false)}},
			ValidationAction:     actions(p, id),
			MatchImageReferences: refs,
			Attestors:            attestors,
			// The Go types serialise both without omitempty; null would fail the CRD schema.
			FailurePolicy: ptr(admissionv1.Fail),
			Attestations:  []v1alpha1.Attestation{},
			Validations: []admissionv1.Validation{{
				// images maps each extractor (containers, initContainers, ephemeralContainers)
				// to the images matchImageReferences selected: every one must be signed.
				// Kyverno's validationConfigurations.required (default true) refuses an
				// unchecked image too, but only this check names SUP-04 in the denial.
				Expression: fmt.Sprintf("images.all(kind, images[kind].all(image, verifyImageSignatures(image, [%s]) > 0))", strings.Join(names, ", ")),
				Message:    "SUP-04: images must be signed with one of the profile's keys",
			}},
		},
	}
}

// exception waives the named controls' policies in the named namespaces until the expiry
// day ends; Kyverno itself stops honouring it then. It also returns the controls whose
// policies it names.
func exception(p *profile.Profile, e profile.Exception, policies map[string][]v1alpha1.PolicyRef) (*kyvernov1.PolicyException, []string) {
	var refs []v1alpha1.PolicyRef
	var waived []string
	ids := append([]string(nil), e.Controls...)
	sort.Strings(ids)
	for _, id := range ids {
		if r, ok := policies[id]; ok {
			refs = append(refs, r...)
			waived = append(waived, id)
		}
	}
	if len(refs) == 0 {
		return nil, nil // every waived control is disabled or not generated: nothing to except
	}
	end := metav1.NewTime(exceptionEnd(e))
	annotations := map[string]string{
		api.AnnotationReason:  e.Reason,
		api.AnnotationExpires: e.Expires.String(),
	}
	if e.Ticket != "" {
		annotations[api.AnnotationTicket] = e.Ticket
	}
	return &kyvernov1.PolicyException{
		TypeMeta: typeMeta("PolicyException"),
		ObjectMeta: metav1.ObjectMeta{
			Name:        p.Metadata.Name + "-" + e.Name,
			Namespace:   ExceptionNamespace,
			Annotations: annotations,
		},
		Spec: kyvernov1.PolicyExceptionSpec{
			PolicyRefs: refs,
			MatchConditions: []admissionv1.MatchCondition{{
				Name: "excepted-namespaces",
				// object is null on DELETE, oldObject on CREATE.
				Expression: fmt.Sprintf("(object != null ? object : oldObject).metadata.?namespace.orValue(\"\") in %s", catalogue.CELList(e.Namespaces)),
			}},
			ExpiresAt: &end,
		},
	}, waived
}
