package catalogue

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
	// ProbeFixtures name the fixtures `bulwark verify --probe` sends to a cluster as
	// server-side dry runs, for controls with a Rule.
	ProbeFixtures *ProbeFixtures `json:"probeFixtures,omitempty"`
	// NoProbe says why a control with a Rule has no probe fixtures: no object the API
	// server accepts breaks it.
	NoProbe string `json:"noProbe,omitempty"`
}

// ProbeFixtures are one deny and one admit fixture of a control (files under its fixture
// directory), chosen so that under the catalogue's defaults each breaks this control alone,
// or none, and needs no particular requesting user.
type ProbeFixtures struct {
	// Deny is a fixture admission must refuse with the control's id in the message.
	Deny string `json:"deny"`
	// Admit is a fixture the control must let through.
	Admit string `json:"admit"`
	// AlsoBreaks lists the other controls the deny fixture cannot help breaking (a Pod
	// Security baseline violation that the restricted level forbids too). Kyverno calls each
	// policy's webhook concurrently and the API server reports whichever refusal arrives
	// first, so verify retries a probe refused only by these.
	AlsoBreaks []string `json:"alsoBreaks,omitempty"`
	// DenyNamespace, when set, is where the deny fixture must be sent because the control is
	// about that namespace (IAM-04: nothing runs in default); otherwise verify sends
	// namespaced fixtures to an in-scope namespace the control applies to.
	DenyNamespace string `json:"denyNamespace,omitempty"`
}

// References are upstream sources for a control.
type References struct {
	// CIS is the CIS Kubernetes Benchmark recommendation, numbered as in benchmark v1.8 and
	// later, e.g. "5.2.2"; several are comma-separated ("5.2.3, 5.2.4, 5.2.5").
	CIS string `json:"cis,omitempty"`
	// PSS is the Pod Security Standards check name, e.g. "Privileged Containers", or "all"
	// for a control that applies a whole profile.
	PSS string `json:"pss,omitempty"`
	// PSSLevel is baseline or restricted.
	PSSLevel string `json:"pssLevel,omitempty"`
	// PSSCheck is the identifier of the check in k8s.io/pod-security-admission's policy
	// package (e.g. "hostProbesAndHostLifecycle") that the control implements exactly, at
	// the catalogue's Kubernetes version; a differential test holds the two together.
	PSSCheck string `json:"pssCheck,omitempty"`
	// KyvernoPolicy is the kyverno/policies library directory the control mirrors, in its CEL
	// form where the library has one, e.g. "pod-security-vpol/baseline/disallow-privileged-containers".
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
	// Enum lists the values a string, or each element of a stringList, may take; empty
	// allows any value of the Format.
	Enum []string `json:"enum,omitempty"`
	// Format is the syntax of a string, or of each element of a stringList, e.g. capability
	// or namespace (one of the profile package's ParamFormats); empty allows any string.
	Format string `json:"format,omitempty"`
	// Minimum is the least value admitted, inclusive: a number for an int, a Go duration
	// (e.g. 1h) for a duration. Unset is unbounded (a duration is always above zero).
	Minimum any `json:"minimum,omitempty"`
	// Maximum is the greatest value admitted, inclusive, written as Minimum is.
	Maximum any `json:"maximum,omitempty"`
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
	// Autogen extends a rule on core v1 pods to Pod controllers (Deployment, StatefulSet, ...):
	// Kyverno rewrites object.spec and object.metadata to the pod template. Kyverno can do so
	// only for a policy whose sole resource is pods, so an autogen rule's first resource is
	// core v1 pods alone and any further one is a pods subresource (pods/ephemeralcontainers,
	// which kubectl debug updates): the kyverno generator emits those in a companion policy
	// without autogen.
	Autogen bool `json:"autogen,omitempty"`
	// AdmissionOnly turns the policy's background scans off: the rule judges who makes the
	// request (the API server's bootstrap of its own roles and bindings, the GitOps identity),
	// which a background scan cannot know — Kyverno evaluates it with no requester, so every
	// object the platform made itself would be reported failing.
	AdmissionOnly bool `json:"admissionOnly,omitempty"`
}

// ResourceRule matches API resources.
type ResourceRule struct {
	// APIGroups are the API groups; "" is the core group.
	APIGroups []string `json:"apiGroups"`
	// APIVersions are the versions matched, e.g. v1.
	APIVersions []string `json:"apiVersions"`
	// Resources are plural resource names, e.g. pods.
	Resources []string `json:"resources"`
	// Operations default to CREATE and UPDATE.
	Operations []string `json:"operations,omitempty"`
}

// Expression is a named CEL expression.
type Expression struct {
	// Name is how other expressions refer to it (variables.<name>); unique within the rule
	// and distinct from the control's parameter names.
	Name string `json:"name"`
	// Expression is the CEL source.
	Expression string `json:"expression"`
}

// Validation is one CEL assertion with the message shown on denial.
type Validation struct {
	// Expression must be true for the object to be admitted.
	Expression string `json:"expression"`
	// Message starts with the control id ("POD-03: ..."), so a denial names the control.
	Message string `json:"message,omitempty"`
	// MessageExpression is a CEL string built at denial time; Message is the fallback when it fails.
	MessageExpression string `json:"messageExpression,omitempty"`
}

// Gap is a Trust Services Criteria area the catalogue does not cover, or covers only in part.
type Gap struct {
	// TSC are the criteria points not covered.
	TSC []string `json:"tsc"`
	// Area names them for a reader, e.g. Privacy.
	Area string `json:"area"`
	// Partial is set when catalogue controls serve the points in part; Reason then says
	// what they do and do not show. Without it, no control serves any of the points.
	Partial bool `json:"partial,omitempty"`
	// Reason says why no admission-time control can honestly cover them.
	Reason string `json:"reason"`
}

// TSCPoint is one SOC 2 Trust Services Criteria point (2017 criteria, 2022 points of focus).
type TSCPoint struct {
	// ID is the point, e.g. CC6.6.
	ID string `json:"id"`
	// Title paraphrases the criterion.
	Title string `json:"title"`
}

// Catalogue is the loaded control set.
type Catalogue struct {
	// Version is the catalogue's own version, recorded in every bundle.
	Version string `json:"version"`
	// Framework is the framework the controls map to.
	Framework string `json:"framework"`
	// Kubernetes is the Kubernetes minor version the bundle targets, e.g. "1.37": the POD
	// controls implement the Pod Security Standards of that version, and the Pod Security
	// Admission labels pin it, so the next PSS change is a change of this data.
	Kubernetes string `json:"kubernetes"`
	// Controls are sorted by id.
	Controls []Control `json:"controls"`
	// Gaps are the criteria areas out of scope, or covered only in part, with the reason.
	Gaps []Gap `json:"gaps"`
	// TSC is every Trust Services Criteria point, in the criteria's order (tsc.yaml).
	TSC []TSCPoint `json:"tsc"`
}
