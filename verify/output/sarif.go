package output

import (
	"encoding/json"
	"io"
	"sort"
	"strings"

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
	ID         string            `json:"id"`
	Properties map[string]string `json:"properties"`
}

type sarifResult struct {
	RuleID    string          `json:"ruleId"`
	Level     string          `json:"level"`
	Message   sarifText       `json:"message"`
	Locations []sarifLocation `json:"locations,omitempty"`
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
			Tool:       sarifTool{Driver: sarifDriver{Name: "bulwark", InformationURI: "https://bulwark.dev"}},
			Results:    []sarifResult{},
			Properties: map[string]string{"cluster": r.Cluster, "bundle": r.Bundle.Profile + ":" + r.Bundle.Version, "digest": r.Bundle.Digest},
		}
		rules := map[string][]string{}
		for _, f := range r.Findings {
			for _, c := range f.Controls {
				rules[c] = f.TSC
			}
			if f.Status == verify.Pass {
				continue
			}
			level := "error"
			if f.Status == verify.Warn {
				level = "warning"
			}
			res := sarifResult{RuleID: strings.Join(f.Controls, ","), Level: level, Message: sarifText{Text: f.Message}}
			if f.Object != nil {
				fq := f.Object.Kind + "/" + f.Object.Name
				if f.Object.Namespace != "" {
					fq = f.Object.Namespace + "/" + fq
				}
				res.Locations = []sarifLocation{{LogicalLocations: []sarifLogical{{FullyQualifiedName: fq, Kind: "resource"}}}}
			}
			run.Results = append(run.Results, res)
		}
		ids := make([]string, 0, len(rules))
		for id := range rules {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, sarifRule{ID: id, Properties: map[string]string{"tsc": strings.Join(rules[id], " ")}})
		}
		log.Runs = append(log.Runs, run)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(log)
}
