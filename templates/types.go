// Package templates holds Bulwark's control catalogue as embedded data: one YAML file per
// control under controls/, with its SOC 2 mapping, parameters, and the rule content (CEL)
// that the generators wrap into typed policy objects.
package templates

// Control is one catalogue entry.
type Control struct {
	// ID is FAMILY-NN, e.g. NET-01.
	ID string `json:"id"`
	// Family is the id prefix: NET, TLS, SEC, IAM, POD, SUP, CHG, AVL, LOG.
	Family string `json:"family"`
	// Title is a one-line summary.
	Title string `json:"title"`
	// Description explains the risk and what the control does, for an auditor.
	Description string `json:"description"`
	// TSC lists the SOC 2 Trust Services Criteria points served, e.g. CC6.6.
	TSC []string `json:"tsc"`
	// Basis says where the mapping comes from: "kubescape" (see KubescapeID) or "proposed".
	Basis string `json:"basis"`
	// KubescapeID is the Kubescape SOC 2 framework control, when Basis is kubescape.
	KubescapeID string `json:"kubescapeID,omitempty"`
	// References point to upstream material the control mirrors.
	References References `json:"references,omitempty"`
	// Params are the tunable parameters, set in a profile's spec.controls.params.
	Params []Param `json:"params"`
	// RealisedBy lists how the control becomes cluster objects.
	RealisedBy []Realisation `json:"realisedBy"`
	// Tier is "all" (every in-scope namespace) or "sensitive" (sensitive tier only). Defaults to all.
	Tier string `json:"tier,omitempty"`
	// Scope is "namespaced" (applies to in-scope namespaces) or "cluster" (cluster-scoped objects). Defaults to namespaced.
	Scope string `json:"scope,omitempty"`
	// Rule is the admission rule content, for controls realised by a ValidatingPolicy.
	Rule *Rule `json:"rule,omitempty"`
	// Probe says what `bulwark verify` checks for this control.
	Probe string `json:"probe"`
}

// References are upstream sources for a control.
type References struct {
	// CIS is the CIS Kubernetes Benchmark section, e.g. "5.2.2".
	CIS string `json:"cis,omitempty"`
	// PSS is the Pod Security Standards check name, e.g. "Privileged Containers".
	PSS string `json:"pss,omitempty"`
	// PSSLevel is baseline or restricted.
	PSSLevel string `json:"pssLevel,omitempty"`
	// KyvernoPolicy is the kyverno/policies library path the rule mirrors.
	KyvernoPolicy string `json:"kyvernoPolicy,omitempty"`
	// Links are further reading.
	Links []string `json:"links,omitempty"`
}

// Param is one control parameter.
type Param struct {
	// Name is how the profile and the rule's CEL refer to it (as variables.<name>).
	Name string `json:"name"`
	// Type is one of: string, int, bool, duration, stringList.
	Type string `json:"type"`
	// Default is the value used when the profile sets none.
	Default any `json:"default"`
	// Description says what it tunes.
	Description string `json:"description"`
	// From names a profile field that supplies the value instead of the default,
	// e.g. spec.images.allowedRegistries.
	From string `json:"from,omitempty"`
}

// Realisation names a generator and the object kinds it emits for a control.
type Realisation struct {
	// Generator is kyverno, network, istio, certmanager, psa, or verify (verify-only).
	Generator string `json:"generator"`
	// Kinds are the emitted object kinds, e.g. ValidatingPolicy, NetworkPolicy.
	Kinds []string `json:"kinds"`
}

// Rule is admission logic in CEL, wrapped by the kyverno generator into a ValidatingPolicy.
type Rule struct {
	// Resources are the matched resources.
	Resources []ResourceRule `json:"resources"`
	// MatchConditions are CEL preconditions (name, expression).
	MatchConditions []Expression `json:"matchConditions,omitempty"`
	// Variables are CEL variables, evaluated before validations. Parameters are available
	// as variables.<param name>.
	Variables []Expression `json:"variables,omitempty"`
	// Validations must all hold for an admitted object.
	Validations []Validation `json:"validations"`
	// Autogen extends Pod rules to Pod controllers (Deployment, StatefulSet, ...).
	Autogen bool `json:"autogen,omitempty"`
}

// ResourceRule matches API resources.
type ResourceRule struct {
	APIGroups   []string `json:"apiGroups"`
	APIVersions []string `json:"apiVersions"`
	Resources   []string `json:"resources"`
	// Operations default to CREATE and UPDATE.
	Operations []string `json:"operations,omitempty"`
}

// Expression is a named CEL expression.
type Expression struct {
	Name       string `json:"name"`
	Expression string `json:"expression"`
}

// Validation is one CEL assertion with the message shown on denial.
type Validation struct {
	Expression        string `json:"expression"`
	Message           string `json:"message,omitempty"`
	MessageExpression string `json:"messageExpression,omitempty"`
}

// Gap is a Trust Services Criteria area the catalogue deliberately does not cover.
type Gap struct {
	TSC    []string `json:"tsc"`
	Area   string   `json:"area"`
	Reason string   `json:"reason"`
}

// Catalogue is the loaded control set.
type Catalogue struct {
	// Version is the catalogue's own version, recorded in every bundle.
	Version string `json:"version"`
	// Framework is the framework the controls map to.
	Framework string `json:"framework"`
	// Controls are sorted by id.
	Controls []Control `json:"controls"`
	// Gaps are the criteria areas out of scope, with the reason.
	Gaps []Gap `json:"gaps"`
}
