package output

import (
	"fmt"
	"io"
	"strings"

	"bulwark.dev/bulwark/verify"
)

// text groups findings by control, failures first, each with the command that shows it.
type text struct{ verbose bool }

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
		digest := r.Bundle.Digest
		if digest == "" {
			digest = "digest unknown"
		}
		fmt.Fprintf(&b, "%s: %s — bundle %s %s (%s)\n", orDefault(r.Cluster, "cluster"), verdict, r.Bundle.Profile, r.Bundle.Version, digest)
		if r.Error != "" {
			fmt.Fprintf(&b, "  error: %s\n", r.Error)
			continue
		}
		var fails, warns, passes int
		lastControl := "\x00"
		for _, f := range r.Findings {
			switch f.Status {
			case verify.Fail:
				fails++
			case verify.Warn:
				warns++
			default:
				passes++
				if !t.verbose {
					continue
				}
			}
			control := strings.Join(f.Controls, ",")
			if control != lastControl {
				fmt.Fprintf(&b, "  %s [%s]\n", orDefault(control, "bundle"), strings.Join(f.TSC, " "))
				lastControl = control
			}
			fmt.Fprintf(&b, "    %-4s %-9s %s\n", strings.ToUpper(string(f.Status)), f.Check, f.Message)
			if f.Command != "" && f.Status != verify.Pass {
				fmt.Fprintf(&b, "         %s\n", f.Command)
			}
		}
		fmt.Fprintf(&b, "  %d failing, %d warnings, %d passing; %d namespaces in scope, %d objects read",
			fails, warns, passes, r.Stats.Namespaces, r.Stats.Objects)
		if t.verbose {
			fmt.Fprintf(&b, "; %d API calls, %d bytes", r.Stats.APICalls, r.Stats.Bytes)
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
