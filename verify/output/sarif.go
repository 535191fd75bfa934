package output

import (
	"encoding/json"
	"io"

	"bulwark.dev/bulwark/verify"
)

// sarif writes SARIF 2.1.0: one run per cluster, one rule per control, a result per
// failing or warning finding, located at the Kubernetes object.
type sarif struct{}

type sarifLog struct {
	Version string     `json:"version"`
	Schema  string     `json:"$schema"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool    sarifTool     `json:"tool"`
	Results []sarifResult `json:"results"`
	// Properties carry the cluster and bundle, which SARIF has no field for.
	Properties map[string]string `json:"properties"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifRule struct {
	ID               string     `json:"id"`
	ShortDescription *sarifText `json:"shortDescription,omitempty"`
	// Properties.tags carry the control's TSC points, which SARIF viewers show as tags.
	Properties sarifRuleProps `json:"properties"`
}

type sarifRuleProps struct {
	Tags []string `json:"tags"`
}

type sarifResult struct {
	// RuleID is the finding's first control; all its controls are in Properties.
	RuleID     string           `json:"ruleId"`
	Level      string           `json:"level"`
	Message    sarifText        `json:"message"`
	Locations  []sarifLocation  `json:"locations,omitempty"`
	Properties sarifResultProps `json:"properties"`
}

type sarifResultProps struct {
	Check    string   `json:"check"`
	Controls []string `json:"controls"`
	Command  string   `json:"command,omitempty"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifLocation struct {
	LogicalLocations []sarifLogical `json:"logicalLocations"`
}

type sarifLogical struct {
	FullyQualifiedName string `json:"fullyQualifiedName"`
	Kind               string `json:"kind"`
}

func (sarif) Write(w io.Writer, reports []*verify.Report) error {
	log := sarifLog{Version: "2.1.0", Schema: "https://json.schemastore.org/sarif-2.1.0.json"}
	for _, r := range reports {
		run := sarifRun{
			Tool:       sarifTool{Driver: sarifDriver{Name: "bulwark", InformationURI: "https://bulwark.dev", Rules: []sarifRule{}}},
			Results:    []sarifResult{},
			Properties: map[string]string{"cluster": r.Cluster, "bundle": r.Bundle.Profile + ":" + r.Bundle.Version, "digest": r.Bundle.Digest},
		}
		for _, c := range r.Controls {
			rule := sarifRule{ID: c.ID, Properties: sarifRuleProps{Tags: append([]string{}, c.TSC...)}}
			if c.Title != "" {
				rule.ShortDescription = &sarifText{Text: c.Title}
			}
			run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, rule)
		}
		synthetic := map[string]string{}
		if r.Error != "" {
			synthetic["cluster"] = "The cluster could be checked"
			run.Results = append(run.Results, sarifResult{RuleID: "cluster", Level: "error", Message: sarifText{Text: r.Error},
				Properties: sarifResultProps{Check: "reachable", Controls: []string{}}})
		}
		for _, f := range r.Findings {
			if f.Status == verify.Pass {
				continue
			}
			level := "error"
			if f.Status == verify.Warn {
				level = "warning"
			}
			res := sarifResult{RuleID: "bundle", Level: level, Message: sarifText{Text: f.Message},
				Properties: sarifResultProps{Check: string(f.Check), Controls: f.Controls, Command: f.Command}}
			if len(f.Controls) > 0 {
				res.RuleID = f.Controls[0]
			} else {
				synthetic["bundle"] = "Findings tied to no control"
			}
			if f.Object != nil {
				fq := f.Object.Kind + "/" + f.Object.Name
				if f.Object.Namespace != "" {
					fq = f.Object.Namespace + "/" + fq
				}
				res.Locations = []sarifLocation{{LogicalLocations: []sarifLogical{{FullyQualifiedName: fq, Kind: "resource"}}}}
			}
			run.Results = append(run.Results, res)
		}
		for _, id := range []string{"bundle", "cluster"} {
			if d, ok := synthetic[id]; ok {
				run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, sarifRule{ID: id, ShortDescription: &sarifText{Text: d}, Properties: sarifRuleProps{Tags: []string{}}})
			}
		}
		log.Runs = append(log.Runs, run)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(log)
}
