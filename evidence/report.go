package evidence

import (
	"fmt"
	"html/template"
	"io"
	"sort"
	"strings"
	"time"
)

// Summary is what the audit page shows, computed once so the HTML, the Markdown and the
// JSON agree by construction: per TSC point, the controls serving it and, per cluster and
// verification, their status.
type Summary struct {
	Bundle string `json:"bundle"`
	// Records counts the verified records the page is made of; Refused those left out.
	Records int `json:"records"`
	Refused int `json:"refused"`
	// Clusters are the clusters with records, each with its verifications oldest first.
	Clusters []ClusterHistory `json:"clusters"`
	// Points are the TSC points any record's controls serve, in order.
	Points []PointSummary `json:"points"`
}

// ClusterHistory is one cluster's verifications.
type ClusterHistory struct {
	Name   string       `json:"name"`
	UID    string       `json:"uid,omitempty"`
	Passed int          `json:"passed"`
	Failed int          `json:"failed"`
	Runs   []RunOutcome `json:"runs"`
}

// RunOutcome is one verification of a cluster.
type RunOutcome struct {
	At     time.Time `json:"at"`
	Result string    `json:"result"`
}

// PointSummary is one TSC point across the records.
type PointSummary struct {
	ID       string           `json:"id"`
	Controls []ControlSummary `json:"controls"`
}

// ControlSummary is one control serving a point, with its status in every record.
type ControlSummary struct {
	ID    string `json:"id"`
	Title string `json:"title,omitempty"`
	// Statuses are per cluster (in Clusters order), per run (oldest first): pass, warn,
	// fail, or "" where the record does not have the control.
	Statuses [][]string `json:"statuses"`
	// Failing lists, for the latest failing run of each cluster, the failing checks.
	Failing []FailingCheck `json:"failing,omitempty"`
}

// FailingCheck is a failing check of a control in a cluster's run.
type FailingCheck struct {
	Cluster string    `json:"cluster"`
	At      time.Time `json:"at"`
	Object  string    `json:"object,omitempty"`
	Message string    `json:"message"`
}

// Summarise builds the page's content from records (verified ones only).
func Summarise(bundle string, records []Record) *Summary {
	s := &Summary{Bundle: bundle}
	byCluster := map[string]*ClusterHistory{}
	clusterRecs := map[string][]*Predicate{}
	for _, r := range records {
		if r.Signature != "verified" || r.Detail == nil {
			s.Refused++
			continue
		}
		s.Records++
		key := r.Cluster + "\x00" + r.ClusterUID
		h := byCluster[key]
		if h == nil {
			h = &ClusterHistory{Name: r.Cluster, UID: r.ClusterUID}
			byCluster[key] = h
		}
		h.Runs = append(h.Runs, RunOutcome{At: r.VerifiedAt, Result: r.Result})
		if r.Result == Passed {
			h.Passed++
		} else {
			h.Failed++
		}
		clusterRecs[key] = append(clusterRecs[key], r.Detail)
	}
	keys := make([]string, 0, len(byCluster))
	for k := range byCluster {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		h := byCluster[k]
		recs := clusterRecs[k]
		sort.SliceStable(recs, func(i, j int) bool { return recs[i].VerifiedAt.Before(recs[j].VerifiedAt) })
		sort.SliceStable(h.Runs, func(i, j int) bool { return h.Runs[i].At.Before(h.Runs[j].At) })
		clusterRecs[k] = recs
		s.Clusters = append(s.Clusters, *h)
	}
	titles := map[string]string{}
	points := map[string]map[string]bool{}
	for _, k := range keys {
		for _, p := range clusterRecs[k] {
			for _, c := range p.Controls {
				titles[c.ID] = c.Title
				for _, t := range c.TSC {
					if points[t] == nil {
						points[t] = map[string]bool{}
					}
					points[t][c.ID] = true
				}
			}
		}
	}
	ids := make([]string, 0, len(points))
	for t := range points {
		ids = append(ids, t)
	}
	sort.Strings(ids)
	for _, t := range ids {
		ps := PointSummary{ID: t}
		controls := make([]string, 0, len(points[t]))
		for c := range points[t] {
			controls = append(controls, c)
		}
		sort.Strings(controls)
		for _, id := range controls {
			cs := ControlSummary{ID: id, Title: titles[id]}
			for _, k := range keys {
				var row []string
				var lastFail *FailingCheck
				var lastFailChecks []FailingCheck
				for _, p := range clusterRecs[k] {
					st := ""
					for _, c := range p.Controls {
						if c.ID != id {
							continue
						}
						st = string(c.Status)
						if st == "fail" {
							lastFailChecks = nil
							for _, ch := range c.Checks {
								if ch.Status == "fail" {
									obj := ""
									if ch.Object != nil {
										obj = ch.Object.Kind + " " + strings.TrimPrefix(ch.Object.Namespace+"/"+ch.Object.Name, "/")
									}
									lastFailChecks = append(lastFailChecks, FailingCheck{Cluster: p.Cluster.Name, At: p.VerifiedAt, Object: obj, Message: ch.Message})
								}
							}
							lastFail = &FailingCheck{}
						}
					}
					row = append(row, st)
				}
				if lastFail != nil {
					cs.Failing = append(cs.Failing, lastFailChecks...)
				}
				cs.Statuses = append(cs.Statuses, row)
			}
			ps.Controls = append(ps.Controls, cs)
		}
		s.Points = append(s.Points, ps)
	}
	return s
}

// WriteMarkdown writes the page as Markdown.
func (s *Summary) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Verification evidence: %s\n\n%d verified records", s.Bundle, s.Records)
	if s.Refused > 0 {
		fmt.Fprintf(&b, " (%d left out: their signatures do not hold)", s.Refused)
	}
	b.WriteString("\n\n| cluster | runs | passed | failed | latest |\n|---|---|---|---|---|\n")
	for _, c := range s.Clusters {
		last := c.Runs[len(c.Runs)-1]
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %s %s |\n", c.Name, len(c.Runs), c.Passed, c.Failed, last.Result, last.At.UTC().Format(time.RFC3339))
	}
	for _, p := range s.Points {
		fmt.Fprintf(&b, "\n## %s\n\n| control |", p.ID)
		for _, c := range s.Clusters {
			fmt.Fprintf(&b, " %s |", c.Name)
		}
		b.WriteString("\n|---|")
		for range s.Clusters {
			b.WriteString("---|")
		}
		b.WriteString("\n")
		for _, c := range p.Controls {
			fmt.Fprintf(&b, "| %s %s |", c.ID, c.Title)
			for _, row := range c.Statuses {
				fmt.Fprintf(&b, " %s |", strings.Join(nonEmpty(row), " "))
			}
			b.WriteString("\n")
		}
		for _, c := range p.Controls {
			for _, f := range c.Failing {
				fmt.Fprintf(&b, "\n- **%s** on %s at %s: %s %s", c.ID, f.Cluster, f.At.UTC().Format(time.RFC3339), f.Object, f.Message)
			}
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func nonEmpty(row []string) []string {
	out := make([]string, 0, len(row))
	for _, s := range row {
		if s == "" {
			s = "–"
		}
		out = append(out, s)
	}
	return out
}

// page is the HTML: one file, no external assets, every count in a data-* attribute so a
// reader (or a test in a browser) can check the page against the JSON.
var page = template.Must(template.New("page").Funcs(template.FuncMap{
	"time": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"dec":  func(n int) int { return n - 1 },
	"anchor": func(parts ...string) string {
		return strings.NewReplacer(".", "-", " ", "-", "/", "-", ":", "-").Replace(strings.ToLower(strings.Join(parts, "-")))
	},
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Verification evidence: {{.Bundle}}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem;color:#222}table{border-collapse:collapse;margin:1rem 0}
td,th{border:1px solid #bbb;padding:.3rem .6rem;text-align:left}th{background:#f3f3f3}
.pass{background:#dff0d8}.warn{background:#fcf8e3}.fail{background:#f2dede}.none{color:#999}
</style></head><body>
<h1>Verification evidence: {{.Bundle}}</h1>
<p id="totals" data-records="{{.Records}}" data-refused="{{.Refused}}">{{.Records}} verified records{{if .Refused}}, {{.Refused}} left out (their signatures do not hold){{end}}.</p>
<table id="clusters"><tr><th>cluster</th><th>runs</th><th>passed</th><th>failed</th><th>latest</th></tr>
{{range .Clusters}}<tr class="cluster" data-cluster="{{.Name}}" data-runs="{{len .Runs}}" data-passed="{{.Passed}}" data-failed="{{.Failed}}"><td>{{.Name}}</td><td>{{len .Runs}}</td><td>{{.Passed}}</td><td>{{.Failed}}</td><td>{{with index .Runs (len .Runs | dec)}}{{.Result}} {{time .At}}{{end}}</td></tr>
{{end}}</table>
{{$clusters := .Clusters}}{{range .Points}}{{$p := .}}<h2 id="{{anchor .ID}}">{{.ID}}</h2>
<table class="point" data-point="{{.ID}}"><tr><th>control</th>{{range $clusters}}<th>{{.Name}}</th>{{end}}</tr>
{{range .Controls}}{{$c := .}}<tr><td>{{.ID}} {{.Title}}</td>{{range $i, $row := .Statuses}}<td>{{range $row}}{{if eq . "fail"}}<a class="fail" href="#{{anchor $p.ID $c.ID "failing"}}">fail</a> {{else if .}}<span class="{{.}}">{{.}}</span> {{else}}<span class="none">–</span> {{end}}{{end}}</td>{{end}}</tr>
{{end}}</table>
{{range .Controls}}{{if .Failing}}<div id="{{anchor $p.ID .ID "failing"}}"><h3>{{.ID}}: failing</h3><ul>{{range .Failing}}<li>{{.Cluster}} at {{time .At}}: {{.Object}} {{.Message}}</li>{{end}}</ul></div>{{end}}{{end}}
{{end}}</body></html>
`))

// WriteHTML writes the page as one self-contained HTML file.
func (s *Summary) WriteHTML(w io.Writer) error { return page.Execute(w, s) }
