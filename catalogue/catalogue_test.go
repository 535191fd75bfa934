package catalogue

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/cel-go/cel"
)

func load(t *testing.T) *Catalogue {
	t.Helper()
	cat, err := Load()
	if err != nil {
		t.Fatalf("loading the catalogue: %v", err)
	}
	return cat
}

// fixedIDs are the control ids: the 45 of catalogue 1.0.0 and those added since (1.1.0: POD-18,
// POD-19, POD-20, the Pod Security Standards checks 1.0.0 lacked). Profiles, exceptions,
// bundles and audit evidence refer to them, so an id may be added in a later version but never
// renamed or dropped.
var fixedIDs = []string{
	"NET-01", "NET-02", "NET-03", "NET-04",
	"TLS-01", "TLS-02", "TLS-03", "TLS-04", "TLS-05",
	"SEC-01", "SEC-02", "SEC-03",
	"IAM-01", "IAM-02", "IAM-03", "IAM-04",
	"POD-00", "POD-01", "POD-02", "POD-03", "POD-04", "POD-05", "POD-06", "POD-07", "POD-08",
	"POD-09", "POD-10", "POD-11", "POD-12", "POD-13", "POD-14", "POD-15", "POD-16", "POD-17",
	"POD-18", "POD-19", "POD-20",
	"SUP-01", "SUP-02", "SUP-03", "SUP-04",
	"CHG-01", "CHG-02",
	"AVL-01", "AVL-02", "AVL-03",
	"LOG-01", "LOG-02",
}

// designRows are the rows of the design's catalogue table (§4): id, TSC points, and the
// object kinds the design says realise it. The catalogue may add TSC points or kinds, never drop them.
var designRows = []struct {
	id    string
	tsc   []string
	kinds []string
}{
	{"NET-01", []string{"CC6.1", "CC6.6", "CC7.2"}, []string{"NetworkPolicy", "GeneratingPolicy"}},
	{"NET-02", []string{"CC6.6"}, []string{"NetworkPolicy", "GeneratingPolicy"}},
	{"NET-03", []string{"CC6.6"}, []string{"NetworkPolicy"}},
	{"NET-04", []string{"CC6.6"}, []string{"ValidatingPolicy"}},
	{"TLS-01", []string{"CC6.1", "CC6.7"}, []string{"PeerAuthentication", "ValidatingPolicy"}},
	{"TLS-02", []string{"CC6.7"}, []string{"MutatingPolicy", "ValidatingPolicy"}},
	{"TLS-03", []string{"CC6.1", "CC6.6", "CC6.7"}, []string{"ValidatingPolicy"}},
	{"TLS-04", []string{"CC6.1", "CC6.7"}, []string{"ClusterIssuer", "ValidatingPolicy"}},
	{"TLS-05", []string{"CC6.1", "CC6.7"}, []string{"ValidatingPolicy"}},
	{"SEC-01", []string{"CC6.1", "CC6.6", "CC6.7"}, []string{"ValidatingPolicy"}},
	{"SEC-02", []string{"CC6.1", "CC6.6", "CC6.7"}, []string{"ValidatingPolicy"}},
	{"SEC-03", []string{"CC6.1", "CC6.3"}, []string{"ValidatingPolicy"}},
	{"IAM-01", []string{"CC6.1", "CC6.2", "CC6.7", "CC6.8"}, []string{"ValidatingPolicy"}},
	{"IAM-02", []string{"CC6.1", "CC6.2"}, []string{"ValidatingPolicy"}},
	{"IAM-03", []string{"CC6.1", "CC6.3"}, []string{"ValidatingPolicy"}},
	{"IAM-04", []string{"CC6.1"}, []string{"ValidatingPolicy"}},
	{"POD-00", []string{"CC6.1", "CC6.8"}, []string{"MutatingPolicy"}},
	{"POD-12", []string{"CC6.8"}, []string{"ValidatingPolicy"}},
	{"SUP-01", []string{"CC6.8", "CC8.1"}, []string{"ValidatingPolicy"}},
	{"SUP-02", []string{"CC8.1"}, []string{"ValidatingPolicy"}},
	{"SUP-03", []string{"CC8.1"}, []string{"ValidatingPolicy"}},
	{"SUP-04", []string{"CC6.8", "CC7.1", "CC8.1"}, []string{"ImageValidatingPolicy"}},
	{"CHG-01", []string{"CC8.1"}, []string{"ValidatingPolicy"}},
	{"CHG-02", []string{"CC7.1", "CC8.1"}, []string{"ValidatingPolicy"}},
	{"AVL-01", []string{"A1.1"}, []string{"ValidatingPolicy"}},
	{"AVL-02", []string{"A1.1"}, []string{"ValidatingPolicy"}},
	{"AVL-03", []string{"A1.1", "A1.2"}, []string{"ValidatingPolicy"}},
	{"LOG-01", []string{"CC6.8", "CC7.1", "CC7.2"}, nil},
	{"LOG-02", []string{"CC7.1", "CC8.1"}, nil},
}

// kubescapeBasis are the controls whose mapping follows Kubescape's SOC 2 framework.
var kubescapeBasis = map[string]string{
	"NET-01": "C-0260", "TLS-03": "C-0263", "SEC-01": "C-0012", "SEC-02": "C-0186",
	"IAM-01": "C-0035", "LOG-01": "C-0067",
}

// kindsByGenerator are the object kinds each generator can emit.
var kindsByGenerator = map[string][]string{
	"kyverno":     {"ValidatingPolicy", "MutatingPolicy", "GeneratingPolicy", "ImageValidatingPolicy"},
	"network":     {"NetworkPolicy", "GeneratingPolicy"},
	"istio":       {"PeerAuthentication", "AuthorizationPolicy"},
	"certmanager": {"ClusterIssuer", "Certificate"},
	"psa":         {"MutatingPolicy"},
	"verify":      {},
}

// pssChecks are the Pod Security Standards checks, with the levels that define them.
var pssChecks = map[string][]string{
	"HostProcess": {"baseline"}, "Host Namespaces": {"baseline"}, "Privileged Containers": {"baseline"},
	"Capabilities": {"baseline", "restricted"}, "HostPath Volumes": {"baseline"}, "Host Ports": {"baseline"},
	"AppArmor": {"baseline"}, "SELinux": {"baseline"}, "/proc Mount Type": {"baseline", "restricted"},
	"Host Probes / Lifecycle Hooks": {"baseline"},
	"Seccomp":                       {"baseline", "restricted"}, "Sysctls": {"baseline"}, "Volume Types": {"restricted"},
	"Privilege Escalation": {"restricted"}, "Running as Non-root": {"restricted"},
	"Running as Non-root user": {"restricted"},
}

var (
	idRE        = regexp.MustCompile(`^([A-Z]{3})-(\d{2})$`)
	cisRE       = regexp.MustCompile(`^[1-5](\.\d{1,2}){1,2}(, [1-5](\.\d{1,2}){1,2})*$`)
	libraryRE   = regexp.MustCompile(`^(pod-security-vpol|pod-security|best-practices-vpol|best-practices|best-practices-gpol|other-vpol|other|istio-cel|cert-manager|psa-mpol)(/[a-z0-9]+(-[a-z0-9]+)*){1,2}$`)
	identRE     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	variableRef = regexp.MustCompile(`variables\.([A-Za-z_][A-Za-z0-9_]*)`)
	operations  = []string{"CREATE", "UPDATE", "DELETE", "CONNECT"}
)

func TestCatalogueHeader(t *testing.T) {
	cat := load(t)
	if cat.Version != "1.1.1" || cat.Framework != "soc2" || cat.Kubernetes != "1.37" {
		t.Errorf("catalogue version %q framework %q kubernetes %q, want 1.1.0 soc2 1.37", cat.Version, cat.Framework, cat.Kubernetes)
	}
}

func TestFixedControlIDs(t *testing.T) {
	cat := load(t)
	if got := cat.IDs(); !slices.Equal(got, sortedCopy(fixedIDs)) {
		t.Errorf("control ids:\n got %v\nwant %v", got, sortedCopy(fixedIDs))
	}
	if len(cat.Controls) < 40 {
		t.Errorf("%d controls, want at least 40", len(cat.Controls))
	}
	for _, row := range designRows {
		c, ok := cat.Get(row.id)
		if !ok {
			t.Errorf("design row %s has no control", row.id)
			continue
		}
		for _, p := range row.tsc {
			if !slices.Contains(c.TSC, p) {
				t.Errorf("%s does not serve %s, which the design maps it to", row.id, p)
			}
		}
		var kinds []string
		for _, r := range c.RealisedBy {
			kinds = append(kinds, r.Kinds...)
		}
		for _, k := range row.kinds {
			if !slices.Contains(kinds, k) {
				t.Errorf("%s is not realised by a %s, as the design says", row.id, k)
			}
		}
		if row.kinds == nil && !c.Realises("verify") {
			t.Errorf("%s is verify-only in the design", row.id)
		}
	}
	for id, ks := range kubescapeBasis {
		if c, ok := cat.Get(id); !ok || c.Basis != "kubescape" || c.KubescapeID != ks {
			t.Errorf("%s should follow Kubescape %s", id, ks)
		}
	}
}

func TestCatalogueIntegrity(t *testing.T) {
	cat := load(t)
	seen := map[string]bool{}
	for _, c := range cat.Controls {
		t.Run(c.ID, func(t *testing.T) {
			m := idRE.FindStringSubmatch(c.ID)
			if m == nil {
				t.Fatalf("id %q is not FAMILY-NN", c.ID)
			}
			if seen[c.ID] {
				t.Errorf("duplicate id")
			}
			seen[c.ID] = true
			if c.Family != m[1] {
				t.Errorf("family %q, id prefix %q", c.Family, m[1])
			}
			if c.Title == "" || strings.TrimSpace(c.Description) == "" || c.Probe == "" {
				t.Error("title, description and probe are required")
			}
			if len(c.TSC) == 0 {
				t.Error("no TSC points")
			}
			for _, p := range c.TSC {
				if !KnownTSC(p) {
					t.Errorf("unknown TSC point %q", p)
				}
			}
			switch c.Basis {
			case "kubescape":
				if !regexp.MustCompile(`^C-\d{4}$`).MatchString(c.KubescapeID) {
					t.Errorf("basis kubescape needs a Kubescape control id, got %q", c.KubescapeID)
				}
			case "proposed":
				if c.KubescapeID != "" {
					t.Error("a proposed mapping names no Kubescape control")
				}
			default:
				t.Errorf("basis %q (allowed: kubescape, proposed)", c.Basis)
			}
			if c.Tier != "" && c.Tier != "all" && c.Tier != "sensitive" {
				t.Errorf("tier %q", c.Tier)
			}
			if c.Scope != "" && c.Scope != "namespaced" && c.Scope != "cluster" {
				t.Errorf("scope %q", c.Scope)
			}
			checkReferences(t, c)
			checkParams(t, c)
			checkRealisations(t, c)
			if c.Rule != nil {
				checkRule(t, c)
			}
		})
	}
}

func checkReferences(t *testing.T, c Control) {
	t.Helper()
	r := c.References
	if r.CIS != "" && !cisRE.MatchString(r.CIS) {
		t.Errorf("CIS reference %q is not a benchmark section such as 5.2.2", r.CIS)
	}
	switch {
	case r.PSS == "all":
		if r.PSSLevel != "" {
			t.Errorf("PSS all takes no level, got %q", r.PSSLevel)
		}
	case r.PSS != "":
		levels, ok := pssChecks[r.PSS]
		if !ok {
			t.Errorf("PSS check %q is not a Pod Security Standards check", r.PSS)
		} else if !slices.Contains(levels, r.PSSLevel) {
			t.Errorf("PSS check %q is not defined at level %q", r.PSS, r.PSSLevel)
		}
	case r.PSSLevel != "":
		t.Errorf("PSS level %q without a check", r.PSSLevel)
	}
	if r.KyvernoPolicy != "" && !libraryRE.MatchString(r.KyvernoPolicy) {
		t.Errorf("Kyverno policy reference %q is not a kyverno/policies library path", r.KyvernoPolicy)
	}
	for _, l := range r.Links {
		if !strings.HasPrefix(l, "https://") {
			t.Errorf("link %q is not https", l)
		}
	}
	if c.Family == "POD" && c.ID != "POD-00" && c.ID != "POD-12" && r.PSS == "" {
		t.Error("a Pod Security Standards control names its check")
	}
}

func checkParams(t *testing.T, c Control) {
	t.Helper()
	names := map[string]bool{}
	for _, p := range c.Params {
		if !identRE.MatchString(p.Name) || names[p.Name] {
			t.Errorf("param %q: not a CEL identifier, or a duplicate", p.Name)
		}
		names[p.Name] = true
		if p.Description == "" {
			t.Errorf("param %s has no description", p.Name)
		}
		ok := false
		switch p.Type {
		case "string", "duration":
			_, ok = p.Default.(string)
		case "int":
			f, isNum := p.Default.(float64) // JSON numbers
			ok = isNum && f == float64(int64(f))
		case "bool":
			_, ok = p.Default.(bool)
		case "stringList":
			list, isList := p.Default.([]any)
			ok = isList
			for _, x := range list {
				if _, s := x.(string); !s {
					ok = false
				}
			}
		default:
			t.Errorf("param %s has type %q (allowed: %v)", p.Name, p.Type, ParamTypes)
			continue
		}
		if !ok {
			t.Errorf("param %s: default %v (%T) is not a %s", p.Name, p.Default, p.Default, p.Type)
		}
		// The generator renders the default as a CEL literal; it must be accepted and compile.
		lit, err := CELParam(p, p.Default)
		if err != nil {
			t.Errorf("param %s: default does not render: %v", p.Name, err)
		} else if _, iss := celEnv(t).Compile(lit); iss != nil && iss.Err() != nil {
			t.Errorf("param %s: literal %s does not compile: %v", p.Name, lit, iss.Err())
		}
		if p.Type == "stringList" && strings.Contains(p.Name, "Patterns") {
			for _, x := range p.Default.([]any) {
				if _, err := regexp.Compile(x.(string)); err != nil {
					t.Errorf("param %s: %q is not a regular expression: %v", p.Name, x, err)
				}
			}
		}
	}
}

func checkRealisations(t *testing.T, c Control) {
	t.Helper()
	if len(c.RealisedBy) == 0 {
		t.Error("no realisation")
	}
	wantsRule := false
	for _, r := range c.RealisedBy {
		if !slices.Contains(Generators, r.Generator) {
			t.Errorf("realisation names unknown generator %q", r.Generator)
			continue
		}
		if r.Generator != "verify" && len(r.Kinds) == 0 {
			t.Errorf("realisation by %s names no object kinds", r.Generator)
		}
		for _, k := range r.Kinds {
			if !slices.Contains(kindsByGenerator[r.Generator], k) {
				t.Errorf("generator %s does not emit %s", r.Generator, k)
			}
		}
		if r.Generator == "kyverno" && slices.Contains(r.Kinds, "ValidatingPolicy") {
			wantsRule = true
		}
	}
	if wantsRule != (c.Rule != nil) {
		t.Errorf("realised by a ValidatingPolicy: %v, has a rule: %v", wantsRule, c.Rule != nil)
	}
}

func checkRule(t *testing.T, c Control) {
	t.Helper()
	r := c.Rule
	if len(r.Resources) == 0 || len(r.Validations) == 0 {
		t.Fatal("a rule needs resources and at least one validation")
	}
	for _, res := range r.Resources {
		if len(res.APIVersions) == 0 || len(res.Resources) == 0 || res.APIGroups == nil {
			t.Errorf("resource rule %+v is incomplete", res)
		}
		for _, op := range res.Operations {
			if !slices.Contains(operations, op) {
				t.Errorf("operation %q (allowed: %v)", op, operations)
			}
		}
	}
	// Kyverno autogenerates controller rules only from a policy on core v1 pods alone: an
	// autogen rule's first resource is exactly that, and any further resource is a pods
	// subresource, which the kyverno generator emits in a companion policy.
	if r.Autogen {
		first := r.Resources[0]
		if !slices.Equal(first.APIGroups, []string{""}) || !slices.Equal(first.APIVersions, []string{"v1"}) || !slices.Equal(first.Resources, []string{"pods"}) {
			t.Errorf("autogen needs a first resource rule on core v1 pods only, got %+v", r.Resources)
		}
		for _, res := range r.Resources[1:] {
			for _, name := range res.Resources {
				if !strings.HasPrefix(name, "pods/") || !slices.Equal(res.APIGroups, []string{""}) || !slices.Equal(res.APIVersions, []string{"v1"}) {
					t.Errorf("autogen rule: further resource rules may only name core v1 pods subresources, got %+v", res)
				}
			}
		}
	}
	declared := map[string]bool{}
	for _, p := range c.Params {
		declared[p.Name] = true
	}
	for _, v := range r.Variables {
		// The generator emits parameters as variables first; a rule variable must not collide.
		if !identRE.MatchString(v.Name) || declared[v.Name] {
			t.Errorf("variable %q: not a CEL identifier, or it shadows a parameter or variable", v.Name)
		}
		declared[v.Name] = true
	}
	env := celEnv(t)
	compile := func(what, expr string, wantBool bool) {
		ast, iss := env.Compile(expr)
		if iss != nil && iss.Err() != nil {
			t.Errorf("%s does not compile: %v\n%s", what, iss.Err(), expr)
			return
		}
		if wantBool && !ast.OutputType().IsExactType(cel.BoolType) && !ast.OutputType().IsExactType(cel.DynType) {
			t.Errorf("%s has type %v, want bool", what, ast.OutputType())
		}
		for _, m := range variableRef.FindAllStringSubmatch(expr, -1) {
			if !declared[m[1]] {
				t.Errorf("%s uses variables.%s, which is neither a parameter nor a rule variable", what, m[1])
			}
		}
	}
	for _, v := range r.Variables {
		compile("variable "+v.Name, v.Expression, false)
	}
	names := map[string]bool{}
	for _, m := range r.MatchConditions {
		if m.Name == "" || names[m.Name] {
			t.Errorf("matchCondition %q: empty or duplicate name", m.Name)
		}
		names[m.Name] = true
		compile("matchCondition "+m.Name, m.Expression, true)
	}
	for i, v := range r.Validations {
		compile(fmt.Sprintf("validation %d", i), v.Expression, true)
		if !strings.HasPrefix(v.Message, c.ID+": ") {
			t.Errorf("validation %d: message %q does not start with %q", i, v.Message, c.ID+": ")
		}
		if v.MessageExpression != "" {
			compile(fmt.Sprintf("validation %d messageExpression", i), v.MessageExpression, false)
			if !strings.Contains(v.MessageExpression, c.ID+": ") {
				t.Errorf("validation %d: messageExpression does not name %s", i, c.ID)
			}
		}
	}
}

func TestPodSecurityStandardsCovered(t *testing.T) {
	cat := load(t)
	got := map[string]bool{}
	for _, c := range cat.Filter("", "POD") {
		if c.References.PSS != "" && c.References.PSS != "all" {
			got[c.References.PSS+"/"+c.References.PSSLevel] = true
		}
	}
	for _, check := range []string{"HostProcess/baseline", "Host Namespaces/baseline", "Privileged Containers/baseline",
		"Capabilities/baseline", "HostPath Volumes/baseline", "Host Ports/baseline", "AppArmor/baseline", "SELinux/baseline",
		"/proc Mount Type/baseline", "Sysctls/baseline", "Seccomp/baseline", "Host Probes / Lifecycle Hooks/baseline",
		"/proc Mount Type/restricted", "Seccomp/restricted", "Volume Types/restricted",
		"Privilege Escalation/restricted", "Running as Non-root/restricted", "Running as Non-root user/restricted", "Capabilities/restricted"} {
		if !got[check] {
			t.Errorf("no control for Pod Security Standards check %s", check)
		}
	}
}

func TestGaps(t *testing.T) {
	cat := load(t)
	gapped := map[string]bool{}
	for _, g := range cat.Gaps {
		if strings.TrimSpace(g.Reason) == "" || g.Area == "" || len(g.TSC) == 0 {
			t.Errorf("gap %v needs points, an area and a reason", g.TSC)
		}
		for _, p := range g.TSC {
			if !KnownTSC(p) {
				t.Errorf("gap names unknown TSC point %q", p)
			}
			gapped[p] = true
		}
	}
	var want []string
	for _, p := range tscPoints() {
		if strings.HasPrefix(p, "PI1.") || regexp.MustCompile(`^P\d`).MatchString(p) {
			want = append(want, p)
		}
	}
	want = append(want, "A1.2", "A1.3", "CC1.1", "CC6.4", "CC6.5", "CC7.3", "CC9.2", "C1.1", "C1.2")
	for _, p := range want {
		if !gapped[p] {
			t.Errorf("gaps do not list %s", p)
		}
	}
}

// TestEveryTSCPointIsCoveredOrAGap: the catalogue's covered points and gaps.yaml's points
// together are exactly the full 2017 Trust Services Criteria list (tsc.yaml); a point is
// both covered and a gap only in a gap marked partial, whose reason says so, and a partial
// gap names only points some control serves.
func TestEveryTSCPointIsCoveredOrAGap(t *testing.T) {
	cat := load(t)
	var ids []string
	for _, p := range cat.TSC {
		ids = append(ids, p.ID)
		if p.Title == "" {
			t.Errorf("%s has no title", p.ID)
		}
	}
	if !slices.Equal(ids, tscPoints()) {
		t.Fatalf("tsc.yaml lists %v, want the 61 points %v", ids, tscPoints())
	}
	covered := cat.Covered()
	inGap := map[string]Gap{}
	for _, g := range cat.Gaps {
		for _, p := range g.TSC {
			if other, dup := inGap[p]; dup {
				t.Errorf("%s is in two gaps: %s and %s", p, other.Area, g.Area)
			}
			inGap[p] = g
			switch {
			case g.Partial && len(covered[p]) == 0:
				t.Errorf("gap %s says %s is partially covered, but no control serves it", g.Area, p)
			case !g.Partial && len(covered[p]) > 0:
				t.Errorf("%s serve %s, which gap %s lists as not covered (mark it partial, or drop the point)", strings.Join(covered[p], ","), p, g.Area)
			}
		}
		if g.Partial && !strings.Contains(strings.ToLower(g.Reason), "partially") {
			t.Errorf("partial gap %s: the reason must say 'partially'", g.Area)
		}
	}
	for _, p := range ids {
		if len(covered[p]) == 0 && inGap[p].Area == "" {
			t.Errorf("%s is neither served by a control nor listed in gaps.yaml", p)
		}
	}
	for p := range covered {
		if !slices.Contains(ids, p) {
			t.Errorf("controls serve %s, which is not a TSC point", p)
		}
	}
}

func tscPoints() []string {
	return strings.Fields(`CC1.1 CC1.2 CC1.3 CC1.4 CC1.5 CC2.1 CC2.2 CC2.3 CC3.1 CC3.2 CC3.3 CC3.4
		CC4.1 CC4.2 CC5.1 CC5.2 CC5.3 CC6.1 CC6.2 CC6.3 CC6.4 CC6.5 CC6.6 CC6.7 CC6.8
		CC7.1 CC7.2 CC7.3 CC7.4 CC7.5 CC8.1 CC9.1 CC9.2 A1.1 A1.2 A1.3 C1.1 C1.2
		PI1.1 PI1.2 PI1.3 PI1.4 PI1.5 P1.1 P2.1 P3.1 P3.2 P4.1 P4.2 P4.3 P5.1 P5.2
		P6.1 P6.2 P6.3 P6.4 P6.5 P6.6 P6.7 P7.1 P8.1`)
}

func TestKnownTSC(t *testing.T) {
	points := tscPoints()
	if len(points) != 61 {
		t.Fatalf("the list has %d points, want 61", len(points))
	}
	for _, p := range points {
		if !KnownTSC(p) {
			t.Errorf("KnownTSC(%q) = false", p)
		}
	}
	for _, p := range []string{"", "CC6.9", "CC6.0", "CC10.1", "CC8.2", "A1.4", "C1.3", "PI1.6", "P1.2", "P6.8",
		"P9.1", "cc6.1", " CC6.1", "CC6.1 ", "CC6", "CC6.10", "PI2.1"} {
		if KnownTSC(p) {
			t.Errorf("KnownTSC(%q) = true", p)
		}
	}
}

func TestFilterGetDefault(t *testing.T) {
	cat := load(t)
	tests := []struct {
		tsc, family string
		want        []string
	}{
		{"", "NET", []string{"NET-01", "NET-02", "NET-03", "NET-04"}},
		{"CC7.2", "", []string{"LOG-01", "NET-01"}},
		{"CC6.7", "TLS", []string{"TLS-01", "TLS-02", "TLS-03", "TLS-04", "TLS-05"}},
		{"A1.1", "AVL", []string{"AVL-01", "AVL-02", "AVL-03"}},
		{"CC6.6", "POD", nil},
		{"PI1.1", "", nil},
		{"", "NOPE", nil},
	}
	for _, tt := range tests {
		var got []string
		for _, c := range cat.Filter(tt.tsc, tt.family) {
			got = append(got, c.ID)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("Filter(%q, %q) = %v, want %v", tt.tsc, tt.family, got, tt.want)
		}
	}
	if n := len(cat.Filter("", "")); n != len(cat.Controls) {
		t.Errorf("Filter(\"\", \"\") returned %d of %d controls", n, len(cat.Controls))
	}
	if _, ok := cat.Get("NOPE-01"); ok {
		t.Error("Get found a control that does not exist")
	}
	for _, id := range cat.IDs() {
		if c, ok := cat.Get(id); !ok || c.ID != id {
			t.Errorf("Get(%s) = %v, %v", id, c, ok)
		}
	}
	ids := cat.IDs()
	if !slices.IsSorted(ids) || len(cat.IDSet()) != len(ids) {
		t.Error("IDs must be sorted and unique")
	}
	defaults := []struct {
		id, param string
		want      any
	}{
		{"TLS-05", "maxDuration", "2160h"},
		{"AVL-03", "minReplicas", float64(2)},
		{"NET-04", "allowedServiceTypes", []any{"ClusterIP"}},
	}
	for _, d := range defaults {
		c, _ := cat.Get(d.id)
		if got, ok := c.Default(d.param); !ok || fmt.Sprint(got) != fmt.Sprint(d.want) {
			t.Errorf("%s.Default(%s) = %v, %v; want %v", d.id, d.param, got, ok, d.want)
		}
	}
	c, _ := cat.Get("TLS-05")
	if _, ok := c.Default("nope"); ok {
		t.Error("Default found a parameter that does not exist")
	}
}

func TestLoadParsesOnce(t *testing.T) {
	a, errA := Load()
	b, errB := Load()
	if errA != nil || errB != nil || a != b {
		t.Errorf("Load returned %p, %v then %p, %v; want the same catalogue", a, errA, b, errB)
	}
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// containerKindExempt says why a control that reads a Pod's containers may leave out a kind of them:
// the API server refuses the field on that kind, or the control is documented not to check it.
var containerKindExempt = map[string]string{
	"AVL-01/ephemeral": "the API server refuses resources on ephemeral containers",
	"AVL-02/ephemeral": "the API server refuses probes on ephemeral containers",
	"AVL-01/init":      "init containers run to completion before the pod serves; requests on them are not the availability risk",
	"AVL-02/init":      "the API server allows probes only on sidecar init containers; AVL-02 reads workloads' serving containers",
	"POD-06/ephemeral": "the API server refuses ports on ephemeral containers",
	"POD-19/ephemeral": "the API server refuses probes and lifecycle hooks on ephemeral containers",
	"POD-12/init":      "init containers, which often prepare files, are documented as not checked",
}

// TestContainerControlsSeeEveryContainer: a control that reads a Pod's containers reads its
// init and ephemeral containers too, matches the pods/ephemeralcontainers subresource kubectl
// debug updates (else a debug container bypasses it), and has a deny fixture with the
// violation only in an init and only in an ephemeral container; the exceptions say why.
func TestContainerControlsSeeEveryContainer(t *testing.T) {
	cat := load(t)
	for _, c := range cat.Controls {
		if c.Rule == nil {
			continue
		}
		var src strings.Builder
		for _, v := range c.Rule.Variables {
			src.WriteString(v.Expression + "\n")
		}
		for _, v := range c.Rule.Validations {
			src.WriteString(v.Expression + "\n")
		}
		if !strings.Contains(src.String(), "containers") {
			continue
		}
		subresource := false
		for _, r := range c.Rule.Resources {
			subresource = subresource || slices.Contains(r.Resources, "pods/ephemeralcontainers")
		}
		files, _ := filepath.Glob(filepath.Join("testdata", "fixtures", c.ID, "deny-*"))
		for _, kind := range []string{"init", "ephemeral"} {
			field := map[string]string{"init": "initContainers", "ephemeral": "ephemeralContainers"}[kind]
			if _, ok := containerKindExempt[c.ID+"/"+kind]; ok {
				if strings.Contains(src.String(), field) && kind == "ephemeral" && !subresource {
					t.Errorf("%s reads %s but does not match pods/ephemeralcontainers", c.ID, field)
				}
				continue
			}
			if !strings.Contains(src.String(), field) {
				t.Errorf("%s reads containers but not %s", c.ID, field)
			}
			if kind == "ephemeral" && !subresource {
				t.Errorf("%s reads ephemeral containers but does not match pods/ephemeralcontainers, which kubectl debug updates", c.ID)
			}
			found := false
			for _, f := range files {
				found = found || strings.HasPrefix(filepath.Base(f), "deny-"+kind+"-")
			}
			if !found {
				t.Errorf("%s has no deny-%s-*.yaml fixture with the violation only in an %s container", c.ID, kind, kind)
			}
		}
	}
}
