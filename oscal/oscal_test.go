package oscal

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"bulwark.dev/bulwark/oscal/oscalschema"
	"bulwark.dev/bulwark/pipeline"
	"bulwark.dev/bulwark/verify"
)

var now = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

// TestComponentDefinitionCoversEveryRealisedControl: valid OSCAL 1.1.3 (the official
// schema), every realised control a rule with a check, every TSC point it serves an
// implemented requirement naming it, and the same document for the same bundle.
func TestComponentDefinitionCoversEveryRealisedControl(t *testing.T) {
	for _, example := range []string{"payments", "brownfield-audit", "saas-starter"} {
		t.Run(example, func(t *testing.T) {
			p, cat, err := pipeline.Load(filepath.Join("..", "examples", example+".yaml"), nil)
			if err != nil {
				t.Fatal(err)
			}
			b, err := pipeline.Build(p, cat, "1.0.0")
			if err != nil {
				t.Fatal(err)
			}
			doc, err := ComponentDefinition(b, cat, now)
			if err != nil {
				t.Fatal(err)
			}
			if err := oscalschema.Validate(doc); err != nil {
				t.Fatal(err)
			}
			cd := doc.ComponentDefinition
			comps := *cd.Components
			rules, checks := map[string]bool{}, map[string]bool{}
			for _, pr := range *comps[0].Props {
				if pr.Name == "Rule_Id" {
					rules[pr.Value] = true
				}
			}
			for _, pr := range *comps[1].Props {
				if pr.Name == "Check_Id" {
					checks[pr.Value] = true
				}
			}
			served := map[string]map[string]bool{} // tsc -> rules
			for _, req := range (*comps[0].ControlImplementations)[0].ImplementedRequirements {
				served[req.ControlId] = map[string]bool{}
				for _, pr := range *req.Props {
					served[req.ControlId][pr.Value] = true
				}
			}
			for _, c := range b.Index.Spec.Controls {
				if !rules[c.ID] || !checks["bulwark-verify-"+strings.ToLower(c.ID)] {
					t.Errorf("%s: no rule or check", c.ID)
				}
				for _, tsc := range c.TSC {
					if !served[strings.ToLower(tsc)][c.ID] {
						t.Errorf("%s serves %s but its implemented requirement does not name it", c.ID, tsc)
					}
				}
			}
			if len(rules) != len(b.Index.Spec.Controls) {
				t.Errorf("%d rules for %d realised controls", len(rules), len(b.Index.Spec.Controls))
			}
			again, _ := ComponentDefinition(b, cat, now)
			a, _ := json.Marshal(doc)
			c, _ := json.Marshal(again)
			if string(a) != string(c) {
				t.Error("the same bundle gave another document")
			}
		})
	}
}

func TestAssessmentResults(t *testing.T) {
	r := &verify.Report{Cluster: "prod-eu", CheckedAt: now, Converged: false,
		Bundle:   verify.BundleRef{Profile: "payments-soc2", Version: "1.4.0", Digest: "sha256:" + strings.Repeat("ab", 32), Framework: "soc2", Catalogue: "1.1.1"},
		Identity: &verify.ClusterIdentity{ServerSHA256: strings.Repeat("1", 64), KubeSystemUID: "uid-1"},
		Findings: []verify.Finding{
			{Check: verify.CheckProbe, Status: verify.Fail, Controls: []string{"POD-03"}, Message: "POD-03 is not enforced"},
			{Check: verify.CheckCoverage, Status: verify.Pass, Controls: []string{"NET-01"}, Message: "all 3 namespaces in scope are covered"},
			{Check: verify.CheckPresent, Status: verify.Pass, Controls: []string{"NET-01"}, Object: &verify.ObjectRef{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy", Namespace: "payments", Name: "bulwark-default-deny"}, Message: "present"},
		},
		Controls: []verify.ControlResult{{ID: "POD-03", TSC: []string{"CC6.8"}, Status: verify.Fail}, {ID: "NET-01", TSC: []string{"CC6.1", "CC6.6"}, Status: verify.Pass}},
	}
	down := &verify.Report{Cluster: "down", CheckedAt: now, Bundle: r.Bundle, Error: "cluster unreachable"}
	doc, err := AssessmentResults([]*verify.Report{r, down}, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := oscalschema.Validate(doc); err != nil {
		t.Fatal(err)
	}
	res := doc.AssessmentResults.Results
	if len(res) != 2 || len(*res[0].Observations) != 3 || len(*res[0].Findings) != 3 || res[1].Remarks == "" {
		t.Fatalf("results %+v", res)
	}
	states := map[string]string{}
	for _, f := range *res[0].Findings {
		states[f.Target.TargetId] = f.Target.Status.State
	}
	if states["cc6.8"] != "not-satisfied" || states["cc6.1"] != "satisfied" || states["cc6.6"] != "satisfied" {
		t.Errorf("finding states %v", states)
	}
	if ev := (*(*res[0].Observations)[0].RelevantEvidence)[0].Href; !strings.Contains(ev, r.Bundle.Digest) {
		t.Errorf("evidence %s does not name the bundle digest", ev)
	}
}

// TestValidateHasTeeth: a document the schema forbids is refused.
func TestValidateHasTeeth(t *testing.T) {
	p, cat, err := pipeline.Load(filepath.Join("..", "examples", "payments.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := pipeline.Build(p, cat, "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := ComponentDefinition(b, cat, now)
	if err != nil {
		t.Fatal(err)
	}
	doc.ComponentDefinition.UUID = "not-a-uuid"
	if err := oscalschema.Validate(doc); err == nil {
		t.Error("a component definition with a malformed uuid passed the schema")
	}
	doc.ComponentDefinition.UUID = uuid5("x")
	(*doc.ComponentDefinition.Components)[0].Type = ""
	if err := oscalschema.Validate(doc); err == nil {
		t.Error("a component without a type passed the schema")
	}
}

// FuzzAssessmentResultsValid holds assessment results to the schema whatever free text the
// verification carries: the cluster name (any kubeconfig context or --cluster value), a
// finding's message and its object's name, an error. The commands do not validate at run
// time; this is what lets them not.
func FuzzAssessmentResultsValid(f *testing.F) {
	f.Add("prod-eu", "POD-03 is not enforced", "bulwark-default-deny", "")
	f.Add("", "", "", "cluster unreachable")
	f.Add(" a\n b\t", "\x00 \u2028", " ", "\n")
	f.Fuzz(func(t *testing.T, cluster, message, name, errText string) {
		r := &verify.Report{Cluster: cluster, CheckedAt: now, Error: errText,
			Bundle:   verify.BundleRef{Profile: "payments-soc2", Version: "1.4.0", Digest: "sha256:" + strings.Repeat("ab", 32)},
			Identity: &verify.ClusterIdentity{KubeSystemUID: name},
			Findings: []verify.Finding{
				{Check: verify.CheckPresent, Status: verify.Fail, Controls: []string{"NET-01"}, Message: message,
					Object: &verify.ObjectRef{APIVersion: "v1", Kind: "Namespace", Name: name}},
				{Check: verify.CheckProbe, Status: verify.Warn, Message: message},
			},
			Controls: []verify.ControlResult{{ID: "NET-01", TSC: []string{"CC6.1"}, Status: verify.Fail}},
		}
		doc, err := AssessmentResults([]*verify.Report{r}, now)
		if err != nil {
			t.Fatal(err)
		}
		if err := oscalschema.Validate(doc); err != nil {
			t.Fatalf("cluster %q message %q name %q error %q: %v", cluster, message, name, errText, err)
		}
	})
}
