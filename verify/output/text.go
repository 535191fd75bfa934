package output

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"bulwark.dev/bulwark/verify"
)

// text groups findings by control, failing controls first, each failure or warning with
// the kubectl command that shows its object. Passing findings appear only when verbose.
type text struct{ verbose bool }

// group is the findings whose first control is one control.
type group struct {
	id       string
	worst    verify.Status
	findings []verify.Finding
}

func rank(s verify.Status) int {
	switch s {
	case verify.Fail:
		return 0
	case verify.Warn:
		return 1
	}
	return 2
}

// groups files each finding under its first control (the one it realises; further
// controls, such as LOG-02 on every policy's readiness, are named on the line), and orders
// the groups worst first, then by control id.
func groups(r *verify.Report) []*group {
	byID := map[string]*group{}
	var out []*group
	for _, f := range r.Findings {
		id := ""
		if len(f.Controls) > 0 {
			id = f.Controls[0]
		}
		g := byID[id]
		if g == nil {
			g = &group{id: id, worst: verify.Pass}
			byID[id] = g
			out = append(out, g)
		}
		if rank(f.Status) < rank(g.worst) {
			g.worst = f.Status
		}
		g.findings = append(g.findings, f)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if rank(out[i].worst) != rank(out[j].worst) {
			return rank(out[i].worst) < rank(out[j].worst)
		}
		return out[i].id < out[j].id
	})
	for _, g := range out {
		sort.SliceStable(g.findings, func(i, j int) bool { return rank(g.findings[i].Status) < rank(g.findings[j].Status) })
	}
	return out
}

func (t text) Write(w io.Writer, reports []*verify.Report) error {
	var b strings.Builder
	for i, r := range reports {
		if i > 0 {
			b.WriteString("\n")
		}
		verdict := "CONVERGED"
		switch {
		case r.Error != "":
			verdict = "NOT CHECKED"
		case !r.Converged:
			verdict = "NOT CONVERGED"
		}
		fmt.Fprintf(&b, "%s: %s — bundle %s %s (%s)\n", orDefault(r.Cluster, "cluster"), verdict, r.Bundle.Profile, r.Bundle.Version,
			orDefault(r.Bundle.Digest, "digest unknown"))
		if r.Error != "" {
			fmt.Fprintf(&b, "  error: %s\n", r.Error)
			continue
		}
		controls := map[string]verify.ControlResult{}
		for _, c := range r.Controls {
			controls[c.ID] = c
		}
		for _, g := range groups(r) {
			if g.worst == verify.Pass && !t.verbose {
				continue
			}
			c := controls[g.id]
			header := orDefault(g.id, "no control")
			if c.Title != "" {
				header += " " + c.Title
			}
			if len(c.TSC) > 0 {
				header += " [" + strings.Join(c.TSC, " ") + "]"
			}
			fmt.Fprintf(&b, "  %s %s\n", strings.ToUpper(string(g.worst)), header)
			for _, f := range g.findings {
				if f.Status == verify.Pass && !t.verbose {
					continue
				}
				line := f.Message
				if len(f.Controls) > 1 {
					line += " (also " + strings.Join(f.Controls[1:], ", ") + ")"
				}
				fmt.Fprintf(&b, "    %-4s %-9s %s\n", strings.ToUpper(string(f.Status)), f.Check, line)
				if f.Command != "" && f.Status != verify.Pass {
					fmt.Fprintf(&b, "         %-9s $ %s\n", "", f.Command)
				}
			}
		}
		if len(r.NotApplicable) > 0 {
			var ids []string
			for _, n := range r.NotApplicable {
				ids = append(ids, n.ID)
				if t.verbose {
					fmt.Fprintf(&b, "  N/A  %s: not realised by the bundle (%s)\n", n.ID, n.Reason)
				}
			}
			if !t.verbose {
				fmt.Fprintf(&b, "  not applicable (not realised by the bundle, not checked): %s\n", strings.Join(ids, ", "))
			}
		}
		fmt.Fprintf(&b, "  %d failing, %d warnings, %d passing; %d namespaces in scope, %d objects read",
			r.Failures(), r.Warnings(), len(r.Findings)-r.Failures()-r.Warnings(), r.Stats.Namespaces, r.Stats.Objects)
		if t.verbose {
			fmt.Fprintf(&b, "; %d API calls (%d kinds listed, %d retries), %d bytes", r.Stats.APICalls, r.Stats.Lists, r.Stats.Retries, r.Stats.Bytes)
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
