package templates

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/ext"
)

func load(t *testing.T) *Catalogue {
	t.Helper()
	cat, err := Load()
	if err != nil {
		t.Fatalf("loading the catalogue: %v", err)
	}
	return cat
}

var idRE = regexp.MustCompile(`^([A-Z]{3})-(\d{2})$`)

func TestCatalogueIntegrity(t *testing.T) {
	cat := load(t)
	if cat.Version == "" || cat.Framework != "soc2" {
		t.Fatalf("catalogue header: version %q framework %q", cat.Version, cat.Framework)
	}
	if len(cat.Controls) < 40 {
		t.Fatalf("%d controls, want at least 40", len(cat.Controls))
	}
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
			checkParams(t, c)
			if len(c.RealisedBy) == 0 {
				t.Error("no realisation")
			}
			wantsRule := false
			for _, r := range c.RealisedBy {
				if !slices.Contains(Generators, r.Generator) {
					t.Errorf("realisation names unknown generator %q", r.Generator)
				}
				if r.Generator != "verify" && len(r.Kinds) == 0 {
					t.Errorf("realisation by %s names no object kinds", r.Generator)
				}
				if r.Generator == "kyverno" && slices.Contains(r.Kinds, "ValidatingPolicy") {
					wantsRule = true
				}
			}
			if wantsRule != (c.Rule != nil) {
				t.Errorf("realised by a ValidatingPolicy: %v, has a rule: %v", wantsRule, c.Rule != nil)
			}
			if c.Rule != nil {
				checkRule(t, c)
			}
		})
	}
}

// TestDesignRowsCovered pins the control families and ids every bundle and document relies on.
func TestDesignRowsCovered(t *testing.T) {
	cat := load(t)
	want := []string{"NET-01", "NET-02", "NET-03", "NET-04", "TLS-01", "TLS-02", "TLS-03", "TLS-04", "TLS-05",
		"SEC-01", "SEC-02", "SEC-03", "IAM-01", "IAM-02", "IAM-03", "IAM-04", "POD-00", "POD-12",
		"SUP-01", "SUP-02", "SUP-03", "SUP-04", "CHG-01", "CHG-02", "AVL-01", "AVL-02", "AVL-03", "LOG-01", "LOG-02"}
	for i := 1; i <= 11; i++ {
		want = append(want, fmt.Sprintf("POD-%02d", i))
	}
	for _, id := range want {
		if _, ok := cat.Get(id); !ok {
			t.Errorf("catalogue lacks %s", id)
		}
	}
	// Every Pod Security Standards check has its own control.
	pss := map[string]bool{}
	for _, c := range cat.Filter("", "POD") {
		if c.References.PSS != "" && c.References.PSS != "all" {
			pss[c.References.PSS+"/"+c.References.PSSLevel] = true
		}
	}
	for _, check := range []string{"HostProcess/baseline", "Host Namespaces/baseline", "Privileged Containers/baseline",
		"Capabilities/baseline", "HostPath Volumes/baseline", "Host Ports/baseline", "AppArmor/baseline", "SELinux/baseline",
		"/proc Mount Type/baseline", "Sysctls/baseline", "Seccomp/restricted", "Volume Types/restricted",
		"Privilege Escalation/restricted", "Running as Non-root/restricted", "Running as Non-root user/restricted", "Capabilities/restricted"} {
		if !pss[check] {
			t.Errorf("no control for Pod Security Standards check %s", check)
		}
	}
	// Gaps: the criteria the catalogue must not claim.
	gapped := map[string]bool{}
	for _, g := range cat.Gaps {
		if g.Reason == "" || g.Area == "" {
			t.Errorf("gap %v has no area or reason", g.TSC)
		}
		for _, p := range g.TSC {
			if !KnownTSC(p) {
				t.Errorf("gap names unknown TSC point %q", p)
			}
			gapped[p] = true
		}
	}
	for _, p := range []string{"PI1.1", "PI1.5", "P1.1", "P8.1", "A1.3"} {
		if !gapped[p] {
			t.Errorf("gaps do not list %s", p)
		}
	}
	for _, c := range cat.Controls {
		for _, p := range c.TSC {
			if strings.HasPrefix(p, "PI") || strings.HasPrefix(p, "P") && !strings.HasPrefix(p, "PI") && p[1] >= '1' && p[1] <= '8' || p == "A1.3" {
				t.Errorf("%s claims %s, which the catalogue lists as a gap", c.ID, p)
			}
		}
	}
}

func checkParams(t *testing.T, c Control) {
	names := map[string]bool{}
	for _, p := range c.Params {
		if p.Name == "" || names[p.Name] {
			t.Errorf("param %q: empty or duplicate name", p.Name)
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
			_, ok = p.Default.(float64) // JSON numbers
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
	}
}

var variableRef = regexp.MustCompile(`variables\.([A-Za-z_][A-Za-z0-9_]*)`)

// celEnv declares what Kyverno's ValidatingPolicy expressions see.
func celEnv(t *testing.T) *cel.Env {
	env, err := cel.NewEnv(
		cel.Variable("object", cel.DynType),
		cel.Variable("oldObject", cel.DynType),
		cel.Variable("request", cel.DynType),
		cel.Variable("namespaceObject", cel.DynType),
		cel.Variable("variables", cel.DynType),
		ext.Strings(),
	)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func checkRule(t *testing.T, c Control) {
	r := c.Rule
	if len(r.Resources) == 0 || len(r.Validations) == 0 {
		t.Fatal("a rule needs resources and validations")
	}
	declared := map[string]bool{}
	for _, p := range c.Params {
		declared[p.Name] = true
	}
	for _, v := range r.Variables {
		declared[v.Name] = true
	}
	env := celEnv(t)
	compile := func(what, expr string) {
		if _, iss := env.Compile(expr); iss != nil && iss.Err() != nil {
			t.Errorf("%s does not compile: %v\n%s", what, iss.Err(), expr)
		}
		for _, m := range variableRef.FindAllStringSubmatch(expr, -1) {
			if !declared[m[1]] {
				t.Errorf("%s uses variables.%s, which is neither a parameter nor a rule variable", what, m[1])
			}
		}
	}
	for _, v := range r.Variables {
		compile("variable "+v.Name, v.Expression)
	}
	for _, m := range r.MatchConditions {
		compile("matchCondition "+m.Name, m.Expression)
	}
	for i, v := range r.Validations {
		compile(fmt.Sprintf("validation %d", i), v.Expression)
		if !strings.Contains(v.Message+v.MessageExpression, c.ID) {
			t.Errorf("validation %d message does not name %s", i, c.ID)
		}
	}
	deny, _ := filepath.Glob(filepath.Join("testdata", "fixtures", c.ID, "deny-*.yaml"))
	admit, _ := filepath.Glob(filepath.Join("testdata", "fixtures", c.ID, "admit-*.yaml"))
	if len(deny) == 0 || len(admit) == 0 {
		t.Errorf("rule needs fixtures the policy engine must deny and admit: testdata/fixtures/%s/{deny,admit}-*.yaml", c.ID)
	}
	for _, res := range r.Resources {
		if len(res.APIVersions) == 0 || len(res.Resources) == 0 || res.APIGroups == nil {
			t.Errorf("resource rule %+v is incomplete", res)
		}
	}
}

func TestFilterAndGet(t *testing.T) {
	cat := load(t)
	for _, c := range cat.Filter("CC6.6", "") {
		if !slices.Contains(c.TSC, "CC6.6") {
			t.Errorf("Filter(CC6.6) returned %s", c.ID)
		}
	}
	net := cat.Filter("", "NET")
	if len(net) != 4 {
		t.Errorf("NET family has %d controls, want 4", len(net))
	}
	if _, ok := cat.Get("NOPE-01"); ok {
		t.Error("Get found a control that does not exist")
	}
	if c, ok := cat.Get("TLS-05"); !ok {
		t.Error("TLS-05 missing")
	} else if d, ok := c.Default("maxDuration"); !ok || d != "2160h" {
		t.Errorf("TLS-05 maxDuration default = %v", d)
	}
	ids := cat.IDs()
	if !slices.IsSorted(ids) || len(cat.IDSet()) != len(ids) {
		t.Error("IDs must be sorted and unique")
	}
}
