// Package oscal writes Bulwark's controls and verifications as OSCAL 1.1.3 documents, the
// format GRC tools and auditors' pipelines read: a component definition (what a bundle
// implements, per SOC 2 Trust Services Criteria point) and assessment results (what verify
// found, per cluster). Types are go-oscal's. Documents are valid by construction: free text
// (cluster names, messages) goes only where the schema allows any string, and the tests
// hold every writer's output, fuzzed text included, to the official NIST schema
// (package oscalschema), which the commands do not link.
//
// Rules and checks follow the compliance-trestle convention that Compliance-to-Policy (C2P)
// reads: the policy engine component lists each rule (Rule_Id, Rule_Description) and the
// validation component each check (Rule_Id, Check_Id, Check_Description), grouped by a
// shared remarks value, and every implemented requirement names its rules by Rule_Id.
package oscal

import (
	"crypto/sha1"
	"fmt"
	"sort"
	"strings"
	"time"

	oscalTypes "github.com/defenseunicorns/go-oscal/src/types/oscal-1-1-3"

	"bulwark.dev/bulwark/bundle"
	"bulwark.dev/bulwark/catalogue"
	"bulwark.dev/bulwark/verify"
)

// Version is the OSCAL version written.
const Version = "1.1.3"

// Namespaces of the properties written.
const (
	// TrestleNS is compliance-trestle's component-definition namespace (the C2P convention).
	TrestleNS = "http://ibm.github.io/compliance-trestle/schemas/oscal/cd"
	// BulwarkNS qualifies Bulwark's own properties.
	BulwarkNS = "https://bulwark.dev/ns/oscal"
	// CatalogSource names the SOC 2 Trust Services Criteria (2017, points of focus 2022), the
	// catalog the control ids refer to; AICPA publishes no OSCAL catalog of them.
	CatalogSource = "https://www.aicpa-cima.com/resources/download/2017-trust-services-criteria-with-revised-points-of-focus-2022"
)

// uuid5 is an RFC 4122 version 5 UUID of name: the same input always has the same id, so
// documents are reproducible and ids stable across runs.
func uuid5(parts ...string) string {
	h := sha1.New()
	// The URL namespace of RFC 4122, appendix C.
	h.Write([]byte{0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8})
	h.Write([]byte("https://bulwark.dev/oscal/" + strings.Join(parts, "/")))
	s := h.Sum(nil)
	s[6] = (s[6] & 0x0f) | 0x50
	s[8] = (s[8] & 0x3f) | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", s[0:4], s[4:6], s[6:8], s[8:10], s[10:16])
}

// prop is a trestle-convention property; OSCAL property values are one line, so runs of
// whitespace (the catalogue's descriptions wrap) become one space.
func prop(name, value, remarks string) oscalTypes.Property {
	return oscalTypes.Property{Name: name, Value: strings.Join(strings.Fields(value), " "), Ns: TrestleNS, Remarks: remarks}
}

// ComponentDefinition describes what bundle b implements: a Kyverno component whose rules
// are the bundle's realised controls, a bulwark-verify validation component whose checks
// prove them, and per TSC point an implemented requirement naming its rules. now is the
// document's last-modified time.
func ComponentDefinition(b *bundle.Bundle, cat *catalogue.Catalogue, now time.Time) (*oscalTypes.OscalCompleteSchema, error) {
	spec := b.Index.Spec
	byTSC := map[string][]bundle.IndexControl{}
	var ruleProps, checkProps []oscalTypes.Property
	for i, c := range spec.Controls {
		set := fmt.Sprintf("rule_set_%02d", i)
		desc := c.Title
		if cc, ok := cat.Get(c.ID); ok && cc.Description != "" {
			desc = strings.TrimSpace(cc.Description)
		}
		ruleProps = append(ruleProps, prop("Rule_Id", c.ID, set), prop("Rule_Description", desc, set))
		check := c.Probe
		if check == "" {
			check = "bulwark verify checks " + c.ID
		}
		checkProps = append(checkProps, prop("Rule_Id", c.ID, set), prop("Check_Id", "bulwark-verify-"+strings.ToLower(c.ID), set),
			prop("Check_Description", check, set))
		for _, t := range c.TSC {
			byTSC[t] = append(byTSC[t], c)
		}
	}
	points := make([]string, 0, len(byTSC))
	for t := range byTSC {
		points = append(points, t)
	}
	sort.Strings(points)
	var reqs []oscalTypes.ImplementedRequirementControlImplementation
	for _, t := range points {
		var props []oscalTypes.Property
		var ids []string
		for _, c := range byTSC[t] {
			props = append(props, prop("Rule_Id", c.ID, ""))
			ids = append(ids, c.ID+" ("+c.Title+")")
		}
		reqs = append(reqs, oscalTypes.ImplementedRequirementControlImplementation{
			UUID: uuid5(spec.Profile, spec.Version, "requirement", t), ControlId: controlID(t),
			Description: "Served by " + strings.Join(ids, "; ") + ".", Props: &props,
		})
	}
	if len(reqs) == 0 {
		return nil, fmt.Errorf("bundle %s %s realises no control", spec.Profile, spec.Version)
	}
	impl := []oscalTypes.ControlImplementationSet{{
		UUID: uuid5(spec.Profile, spec.Version, "implementation"), Source: CatalogSource,
		Description:             fmt.Sprintf("SOC 2 Trust Services Criteria served by the %s bundle %s (Bulwark catalogue %s)", spec.Profile, spec.Version, spec.Catalogue),
		ImplementedRequirements: reqs,
		Props: &[]oscalTypes.Property{{Name: "framework", Value: spec.Framework, Ns: BulwarkNS},
			{Name: "profile", Value: spec.Profile, Ns: BulwarkNS}, {Name: "bundle-version", Value: spec.Version, Ns: BulwarkNS}},
	}}
	validationImpl := []oscalTypes.ControlImplementationSet{{
		UUID: uuid5(spec.Profile, spec.Version, "validation-implementation"), Source: CatalogSource,
		Description: "The checks of bulwark verify for the same criteria", ImplementedRequirements: reqsFor(spec, points, byTSC, "validation"),
	}}
	components := []oscalTypes.DefinedComponent{
		{UUID: uuid5(spec.Profile, spec.Version, "component", "kyverno"), Type: "Service", Title: "Kyverno with the " + spec.Profile + " bundle",
			Description: "Kyverno CEL policies, NetworkPolicies, Istio PeerAuthentications and cert-manager issuers generated from the profile, synced by GitOps.",
			Props:       &ruleProps, ControlImplementations: &impl},
		{UUID: uuid5(spec.Profile, spec.Version, "component", "bulwark-verify"), Type: "validation", Title: "bulwark verify",
			Description: "Checks a cluster converged on the bundle: present and matching, ready, covered, enforced (admission probes), compliant (the policy engine's reports).",
			Props:       &checkProps, ControlImplementations: &validationImpl},
	}
	doc := &oscalTypes.OscalCompleteSchema{ComponentDefinition: &oscalTypes.ComponentDefinition{
		UUID:       uuid5(spec.Profile, spec.Version, "component-definition"),
		Metadata:   metadata(fmt.Sprintf("%s %s: SOC 2 component definition", spec.Profile, spec.Version), spec.Version, now),
		Components: &components,
	}}
	return doc, nil
}

func reqsFor(spec bundle.IndexSpec, points []string, byTSC map[string][]bundle.IndexControl, kind string) []oscalTypes.ImplementedRequirementControlImplementation {
	var out []oscalTypes.ImplementedRequirementControlImplementation
	for _, t := range points {
		var props []oscalTypes.Property
		for _, c := range byTSC[t] {
			props = append(props, prop("Rule_Id", c.ID, ""))
		}
		out = append(out, oscalTypes.ImplementedRequirementControlImplementation{
			UUID: uuid5(spec.Profile, spec.Version, kind, "requirement", t), ControlId: controlID(t),
			Description: "Checked by bulwark verify.", Props: &props,
		})
	}
	return out
}

// controlID writes a TSC point as an OSCAL control id token (lower case, as NIST catalogs
// spell theirs): CC6.1 is cc6.1.
func controlID(tsc string) string { return strings.ToLower(tsc) }

func metadata(title, version string, now time.Time) oscalTypes.Metadata {
	return oscalTypes.Metadata{Title: title, Version: version, OscalVersion: Version, LastModified: now.UTC().Truncate(time.Second)}
}

// AssessmentResults records verifications as OSCAL assessment results: per cluster a
// result whose observations are verify's findings (the bundle digest as evidence) and whose
// findings judge each TSC point satisfied when every control serving it passed.
func AssessmentResults(reports []*verify.Report, now time.Time) (*oscalTypes.OscalCompleteSchema, error) {
	if len(reports) == 0 {
		return nil, fmt.Errorf("no verification to record")
	}
	first := reports[0].Bundle
	var results []oscalTypes.Result
	for _, r := range reports {
		res, err := result(r, now)
		if err != nil {
			return nil, err
		}
		results = append(results, res)
	}
	evidence := first.Profile + "@" + orDefault(first.Digest, first.Version)
	doc := &oscalTypes.OscalCompleteSchema{AssessmentResults: &oscalTypes.AssessmentResults{
		UUID:     uuid5("assessment-results", evidence, now.UTC().Format(time.RFC3339Nano)),
		Metadata: metadata(fmt.Sprintf("bulwark verify: %s %s", first.Profile, first.Version), first.Version, now),
		// The bundle is the assessment plan: its index lists the controls and checks.
		ImportAp: oscalTypes.ImportAp{Href: "#" + uuid5("plan", evidence), Remarks: "The assessment plan is the bundle " + evidence + ": its index lists every control and how bulwark verify checks it."},
		Results:  results,
	}}
	return doc, nil
}

func result(r *verify.Report, now time.Time) (oscalTypes.Result, error) {
	cluster := orDefault(r.Cluster, "cluster")
	id := cluster
	if r.Identity != nil && r.Identity.KubeSystemUID != "" {
		id = r.Identity.KubeSystemUID
	}
	at := r.CheckedAt.UTC()
	if at.IsZero() {
		at = now.UTC() // a cluster that could not be checked has no check time of its own
	}
	key := func(parts ...string) string {
		return uuid5(append([]string{"result", id, at.Format(time.RFC3339Nano), r.Bundle.Digest}, parts...)...)
	}
	subject := oscalTypes.SubjectReference{SubjectUuid: uuid5("cluster", id), Type: "component", Title: "cluster " + cluster}
	var evidence *[]oscalTypes.RelevantEvidence
	if r.Bundle.Digest != "" {
		evidence = &[]oscalTypes.RelevantEvidence{{Description: "The bundle verified, by digest", Href: "urn:oci:" + r.Bundle.Profile + "@" + r.Bundle.Digest}}
	}
	byControl := map[string][]string{} // control -> observation uuids
	var observations []oscalTypes.Observation
	for i, f := range r.Findings {
		method := "EXAMINE"
		if f.Check == verify.CheckProbe {
			method = "TEST"
		}
		obsID := key("observation", fmt.Sprint(i))
		desc := f.Message
		if f.Object != nil {
			desc = f.Object.Kind + " " + strings.TrimPrefix(f.Object.Namespace+"/"+f.Object.Name, "/") + ": " + desc
		}
		props := []oscalTypes.Property{{Name: "check", Value: string(f.Check), Ns: BulwarkNS}, {Name: "status", Value: string(f.Status), Ns: BulwarkNS}}
		for _, c := range f.Controls {
			props = append(props, oscalTypes.Property{Name: "control", Value: c, Ns: BulwarkNS})
			byControl[c] = append(byControl[c], obsID)
		}
		observations = append(observations, oscalTypes.Observation{
			UUID: obsID, Title: string(f.Check) + " " + strings.Join(f.Controls, ","), Description: orDefault(desc, "(no message)"),
			Methods: []string{method}, Collected: at, Props: &props, Subjects: &[]oscalTypes.SubjectReference{subject}, RelevantEvidence: evidence,
		})
	}
	// A TSC point is satisfied when every realised control serving it passed.
	byTSC := map[string][]verify.ControlResult{}
	for _, c := range r.Controls {
		for _, t := range c.TSC {
			byTSC[t] = append(byTSC[t], c)
		}
	}
	points := make([]string, 0, len(byTSC))
	for t := range byTSC {
		points = append(points, t)
	}
	sort.Strings(points)
	var findings []oscalTypes.Finding
	var include []oscalTypes.AssessedControlsSelectControlById
	for _, t := range points {
		state := "satisfied"
		var failed, warned, ids []string
		var related []oscalTypes.RelatedObservation
		for _, c := range byTSC[t] {
			ids = append(ids, c.ID)
			switch c.Status {
			case verify.Fail:
				state = "not-satisfied"
				failed = append(failed, c.ID)
			case verify.Warn:
				warned = append(warned, c.ID)
			}
			for _, o := range byControl[c.ID] {
				related = append(related, oscalTypes.RelatedObservation{ObservationUuid: o})
			}
		}
		reason := "every control serving it passed: " + strings.Join(ids, ", ")
		if len(warned) > 0 {
			reason = "no control serving it failed (" + strings.Join(ids, ", ") + "), but some only with warnings, which are not proof: " + strings.Join(warned, ", ")
		}
		if len(failed) > 0 {
			reason = "controls failed: " + strings.Join(failed, ", ")
		}
		f := oscalTypes.Finding{
			UUID: key("finding", t), Title: t + " on " + cluster, Description: reason,
			Target: oscalTypes.FindingTarget{Type: "objective-id", TargetId: controlID(t), Status: oscalTypes.ObjectiveStatus{State: state}},
		}
		if len(related) > 0 {
			f.RelatedObservations = &related
		}
		findings = append(findings, f)
		include = append(include, oscalTypes.AssessedControlsSelectControlById{ControlId: controlID(t)})
	}
	res := oscalTypes.Result{
		UUID: key(), Title: "bulwark verify of " + cluster, Start: at, End: &at,
		Description:      fmt.Sprintf("Cluster %s against bundle %s %s (%s): converged=%v", cluster, r.Bundle.Profile, r.Bundle.Version, orDefault(r.Bundle.Digest, "digest unknown"), r.Converged),
		ReviewedControls: oscalTypes.ReviewedControls{ControlSelections: []oscalTypes.AssessedControls{{}}},
		Props:            &[]oscalTypes.Property{{Name: "converged", Value: fmt.Sprint(r.Converged), Ns: BulwarkNS}},
	}
	if len(include) > 0 {
		res.ReviewedControls.ControlSelections[0].IncludeControls = &include
	} else {
		res.ReviewedControls.ControlSelections[0].IncludeAll = &oscalTypes.IncludeAll{}
	}
	if len(observations) > 0 {
		res.Observations = &observations
	}
	if len(findings) > 0 {
		res.Findings = &findings
	}
	if r.Error != "" {
		// The error may name the API server's address, which the records never carry.
		res.Remarks = "The cluster could not be checked (unreachable, forbidden or timed out): see the verify report."
	}
	return res, nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
