// Package kyverno realises catalogue controls as Kyverno CEL policies (policies.kyverno.io/v1):
// a ValidatingPolicy per rule-bearing control, MutatingPolicies that label in-scope namespaces
// for Pod Security Admission and mesh enrolment, an ImageValidatingPolicy for signatures, and
// a PolicyException per profile exception.
package kyverno

import (
	"fmt"
	"sort"
	"strings"
	"time"

	kyvernov1 "github.com/kyverno/api/api/policies.kyverno.io/v1"
	"github.com/kyverno/api/api/policies.kyverno.io/v1alpha1"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	admissionv1alpha1 "k8s.io/api/admissionregistration/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"bulwark.dev/bulwark/generators/meta"
	"bulwark.dev/bulwark/profile"
	"bulwark.dev/bulwark/templates"
)

// APIVersion of every object this package emits.
const APIVersion = "policies.kyverno.io/v1"

// ExceptionNamespace is where PolicyExceptions live: Kyverno's own namespace, which only
// the platform team can write to.
const ExceptionNamespace = "kyverno"

// Generate emits the Kyverno policies for every enabled control the profile can realise.
func Generate(p *profile.Profile, cat *templates.Catalogue) ([]meta.Object, error) {
	var out []meta.Object
	policyKinds := map[string]string{} // control id -> kind of its policy, for exceptions
	for i := range cat.Controls {
		c := &cat.Controls[i]
		if !p.ControlEnabled(c.ID) || !applicable(p, c) {
			continue
		}
		if c.Rule != nil {
			vp, err := validatingPolicy(p, c)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", c.ID, err)
			}
			out = append(out, meta.Object{Dir: meta.DirKyverno, Object: vp, Controls: []string{c.ID}})
			policyKinds[c.ID] = "ValidatingPolicy"
		}
		switch c.ID {
		case "POD-00":
			out = append(out, meta.Object{Dir: meta.DirKyverno, Object: psaLabels(p, c.ID), Controls: []string{c.ID}})
		case "TLS-02":
			out = append(out, meta.Object{Dir: meta.DirKyverno, Object: meshEnrolment(p), Controls: []string{c.ID}})
		case "SUP-04":
			out = append(out, meta.Object{Dir: meta.DirKyverno, Object: imageSignatures(p, c.ID), Controls: []string{c.ID}})
			policyKinds[c.ID] = "ImageValidatingPolicy"
		}
	}
	for _, e := range p.Spec.Exceptions {
		if pe := exception(p, e, policyKinds); pe != nil {
			out = append(out, meta.Object{Dir: meta.DirKyverno, Object: pe, Controls: append([]string(nil), e.Controls...)})
		}
	}
	return out, nil
}

// applicable reports whether the profile gives the control something to act on.
func applicable(p *profile.Profile, c *templates.Control) bool {
	if c.SensitiveOnly() && !meta.HasSensitiveTier(p) {
		return false
	}
	switch c.ID {
	case "TLS-01", "TLS-02":
		return p.Spec.Mesh.Provider == profile.MeshIstio
	case "TLS-03":
		return p.Spec.TLS.RequireIngressTLS == nil || *p.Spec.TLS.RequireIngressTLS
	case "TLS-04":
		return len(p.Spec.TLS.Issuers) > 0
	case "SUP-01":
		return len(p.Spec.Images.AllowedRegistries) > 0
	case "SUP-04":
		return len(p.Spec.Images.SignatureKeys) > 0
	}
	return c.Rule != nil || c.Realises("kyverno") || c.Realises("psa")
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
func paramValue(p *profile.Profile, c *templates.Control, prm templates.Param) any {
	if v, ok := p.Param(c.ID, prm.Name); ok {
		return v
	}
	switch prm.From {
	case "spec.images.allowedRegistries":
		return p.Spec.Images.AllowedRegistries
	case "spec.tls.issuers":
		names := make([]string, 0, len(p.Spec.TLS.Issuers))
		for _, is := range p.Spec.TLS.Issuers {
			names = append(names, is.Name)
		}
		return names
	}
	return prm.Default
}

func validatingPolicy(p *profile.Profile, c *templates.Control) (*kyvernov1.ValidatingPolicy, error) {
	r := c.Rule
	var vars []admissionv1.Variable
	for _, prm := range c.Params {
		lit, err := templates.CELParam(prm, paramValue(p, c, prm))
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
		conds = append(conds, admissionv1.MatchCondition{Name: "in-scope", Expression: meta.InScopeCEL("namespaceObject", p, false)})
	}
	if c.SensitiveOnly() {
		conds = append(conds, admissionv1.MatchCondition{Name: "sensitive-tier", Expression: meta.SensitiveCEL("namespaceObject", p)})
	}
	for _, m := range r.MatchConditions {
		conds = append(conds, admissionv1.MatchCondition{Name: m.Name, Expression: m.Expression})
	}
	var validations []admissionv1.Validation
	for _, v := range r.Validations {
		validations = append(validations, admissionv1.Validation{Expression: v.Expression, Message: v.Message, MessageExpression: v.MessageExpression})
	}
	spec := kyvernov1.ValidatingPolicySpec{
		MatchConstraints: &admissionv1.MatchResources{
			NamespaceSelector: meta.ExcludeSelector(p),
			ResourceRules:     resourceRules(r.Resources),
		},
		MatchConditions:  conds,
		Variables:        vars,
		Validations:      validations,
		ValidationAction: actions(p, c.ID),
		EvaluationConfiguration: &v1alpha1.EvaluationConfiguration{
			Admission:  &v1alpha1.AdmissionConfiguration{Enabled: ptr(true)},
			Background: &v1alpha1.BackgroundConfiguration{Enabled: ptr(true)},
		},
	}
	if r.Autogen {
		spec.AutogenConfiguration = &v1alpha1.ValidatingPolicyAutogenConfiguration{
			PodControllers: &v1alpha1.PodControllersGenerationConfiguration{
				Controllers: []string{"cronjobs", "daemonsets", "deployments", "jobs", "statefulsets"},
			},
		}
	}
	return &kyvernov1.ValidatingPolicy{
		TypeMeta:   typeMeta("ValidatingPolicy"),
		ObjectMeta: metav1.ObjectMeta{Name: meta.PolicyName(p, c.ID)},
		Spec:       spec,
	}, nil
}

func resourceRules(rules []templates.ResourceRule) []admissionv1.NamedRuleWithOperations {
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
			MatchConditions:  []admissionv1.MatchCondition{{Name: "in-scope", Expression: meta.InScopeCEL("object", p, false)}},
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

// psaLabels enforces Pod Security Admission's baseline level (restricted in the sensitive
// tier) and warns and audits at restricted everywhere in scope.
func psaLabels(p *profile.Profile, id string) *kyvernov1.MutatingPolicy {
	vars := []admissionv1.Variable{{Name: "enforceLevel", Expression: fmt.Sprintf("(%s) ? 'restricted' : 'baseline'", meta.SensitiveCEL("object", p))}}
	labels := `{"pod-security.kubernetes.io/enforce": variables.enforceLevel, "pod-security.kubernetes.io/warn": "restricted", "pod-security.kubernetes.io/audit": "restricted"}`
	return namespaceLabeller(meta.PolicyName(p, id), p, labels, vars)
}

// meshEnrolment labels in-scope namespaces for Istio sidecar injection.
func meshEnrolment(p *profile.Profile) *kyvernov1.MutatingPolicy {
	return namespaceLabeller(meta.PolicyName(p, "TLS-02")+"-enrol", p, `{"istio-injection": "enabled"}`, nil)
}

// imageSignatures requires every image from the allowed registries to be signed with one
// of the profile's cosign keys.
func imageSignatures(p *profile.Profile, id string) *kyvernov1.ImageValidatingPolicy {
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
		ObjectMeta: metav1.ObjectMeta{Name: meta.PolicyName(p, id)},
		Spec: kyvernov1.ImageValidatingPolicySpec{
			MatchConstraints: &admissionv1.MatchResources{
				NamespaceSelector: meta.ExcludeSelector(p),
				ResourceRules:     resourceRules([]templates.ResourceRule{{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}}}),
			},
			MatchConditions:      []admissionv1.MatchCondition{{Name: "in-scope", Expression: meta.InScopeCEL("namespaceObject", p, false)}},
			ValidationAction:     actions(p, id),
			MatchImageReferences: refs,
			Attestors:            attestors,
			// The CRD requires both, even when no attestation is checked.
			FailurePolicy: ptr(admissionv1.Fail),
			Attestations:  []v1alpha1.Attestation{},
			Validations: []admissionv1.Validation{{
				Expression: fmt.Sprintf("images.containers.map(image, verifyImageSignatures(image, [%s])).all(e, e > 0)", strings.Join(names, ", ")),
				Message:    "SUP-04: images must be signed with one of the profile's keys",
			}},
		},
	}
}

// exception waives the named controls' policies in the named namespaces until the expiry
// day ends; Kyverno itself stops honouring it then.
func exception(p *profile.Profile, e profile.Exception, kinds map[string]string) *kyvernov1.PolicyException {
	var refs []v1alpha1.PolicyRef
	ids := append([]string(nil), e.Controls...)
	sort.Strings(ids)
	for _, id := range ids {
		if kind, ok := kinds[id]; ok {
			refs = append(refs, v1alpha1.PolicyRef{Name: meta.PolicyName(p, id), Kind: kind})
		}
	}
	if len(refs) == 0 {
		return nil // every waived control is disabled or not generated: nothing to except
	}
	end := metav1.NewTime(e.Expires.Time.AddDate(0, 0, 1).UTC().Truncate(24 * time.Hour))
	return &kyvernov1.PolicyException{
		TypeMeta: typeMeta("PolicyException"),
		ObjectMeta: metav1.ObjectMeta{
			Name:      p.Metadata.Name + "-" + e.Name,
			Namespace: ExceptionNamespace,
			Annotations: map[string]string{
				meta.AnnotationReason:  e.Reason,
				meta.AnnotationTicket:  e.Ticket,
				meta.AnnotationExpires: e.Expires.String(),
			},
		},
		Spec: kyvernov1.PolicyExceptionSpec{
			PolicyRefs: refs,
			MatchConditions: []admissionv1.MatchCondition{{
				Name:       "excepted-namespaces",
				Expression: fmt.Sprintf("has(object.metadata.namespace) && object.metadata.namespace in %s", meta.CELList(e.Namespaces)),
			}},
			ExpiresAt: &end,
		},
	}
}
