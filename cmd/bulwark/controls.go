package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"bulwark.dev/bulwark/catalogue"
	"bulwark.dev/bulwark/generators"
)

// NewCmdControls groups the catalogue commands.
func NewCmdControls() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "controls",
		Short: "Browse the control catalogue and its SOC 2 mapping",
		Example: `  bulwark controls list
  bulwark controls list --tsc CC6.6 -o json
  bulwark controls show NET-01
  bulwark controls gaps`,
	}
	cmd.AddCommand(newCmdControlsList(), newCmdControlsShow(), newCmdControlsGaps())
	return cmd
}

func newCmdControlsList() *cobra.Command {
	var tsc, family, output string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List controls, with the Trust Services Criteria each serves",
		Example: `  bulwark controls list
  bulwark controls list --family POD
  bulwark controls list --tsc CC6.6 -o json | jq -r '.[].id'`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(output, "table", "json", "yaml"); err != nil {
				return err
			}
			cat, err := catalogue.Load()
			if err != nil {
				return err
			}
			controls := cat.Filter(strings.ToUpper(tsc), strings.ToUpper(family))
			if controls == nil {
				controls = []catalogue.Control{} // scripts get [], not null
			}
			if output != "table" {
				return printStructured(cmd.OutOrStdout(), output, controls)
			}
			if err := writeControlTable(cmd.OutOrStdout(), controls); err != nil {
				return err
			}
			if tsc == "" && family == "" {
				none, partial := gapCounts(cat)
				fmt.Fprintf(cmd.OutOrStdout(), "\n%d controls, catalogue %s, serving %d of the %d SOC 2 TSC points; %d not covered, %d partially (see 'bulwark controls gaps').\n",
					len(controls), cat.Version, len(cat.Covered()), len(cat.TSC), len(none), len(partial))
				fmt.Fprintln(cmd.OutOrStdout(), "A bundle realises a control only when its profile gives it something to act on (see 'bulwark controls show ID'; 'bulwark validate' names the ones a profile does not).")
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&tsc, "tsc", "", "only controls serving this Trust Services Criteria point, e.g. CC6.6")
	cmd.Flags().StringVar(&family, "family", "", "only controls of this family, e.g. NET, POD, SUP")
	outputFlag(cmd, &output, "table", "table", "json", "yaml")
	return cmd
}

func writeControlTable(w io.Writer, controls []catalogue.Control) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTSC\tBASIS\tREALISED BY\tTITLE")
	for _, c := range controls {
		var by []string
		for _, r := range c.RealisedBy {
			by = append(by, r.Generator)
		}
		basis := c.Basis
		if c.KubescapeID != "" {
			basis += " " + c.KubescapeID
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.ID, strings.Join(c.TSC, ","), basis, strings.Join(by, "+"), c.Title)
	}
	return tw.Flush()
}

func newCmdControlsShow() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show one control: mapping, references, parameters, rule and verify probe",
		Example: `  bulwark controls show POD-03
  bulwark controls show TLS-05 -o yaml`,
		Args: exactArgs(1),
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			cat, err := catalogue.Load()
			if err != nil {
				return nil, cobra.ShellCompDirectiveError
			}
			return cat.IDs(), cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(output, "text", "json", "yaml"); err != nil {
				return err
			}
			cat, err := catalogue.Load()
			if err != nil {
				return err
			}
			c, ok := cat.Get(strings.ToUpper(args[0]))
			if !ok {
				return usageErrorf("no control %q in catalogue %s (see 'bulwark controls list')", args[0], cat.Version)
			}
			if output != "text" {
				return printStructured(cmd.OutOrStdout(), output, c)
			}
			return writeControl(cmd.OutOrStdout(), c, cat.Kubernetes)
		},
	}
	outputFlag(cmd, &output, "text", "text", "json", "yaml")
	return cmd
}

func writeControl(w io.Writer, c *catalogue.Control, kubernetes string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %s\n\n", c.ID, c.Title)
	fmt.Fprintf(&b, "%s\n\n", strings.TrimSpace(c.Description))
	fmt.Fprintf(&b, "TSC:        %s\n", strings.Join(c.TSC, ", "))
	basis := c.Basis
	if c.KubescapeID != "" {
		basis += " (" + c.KubescapeID + ")"
	}
	fmt.Fprintf(&b, "Basis:      %s\n", basis)
	tier := c.Tier
	if tier == "" {
		tier = "all"
	}
	fmt.Fprintf(&b, "Tier:       %s\n", tier)
	for _, r := range c.RealisedBy {
		fmt.Fprintf(&b, "Realised by %s: %s\n", r.Generator, strings.Join(r.Kinds, ", "))
	}
	switch when := generators.RealisedWhen(c); {
	case generators.VerifyOnly(c):
		b.WriteString("In a bundle: always when enabled, by verify's probe alone (no object)\n")
	case when == "":
		b.WriteString("In a bundle: always when enabled\n")
	default:
		fmt.Fprintf(&b, "In a bundle: only when %s; otherwise the index lists it under notRealised and claims none of its TSC points\n", when)
	}
	ref := c.References
	for _, kv := range [][2]string{{"CIS", ref.CIS}, {"PSS", pssLine(ref, kubernetes)}, {"Kyverno", ref.KyvernoPolicy}} {
		if kv[1] != "" {
			fmt.Fprintf(&b, "%-11s %s\n", kv[0]+":", kv[1])
		}
	}
	for _, l := range ref.Links {
		fmt.Fprintf(&b, "See:        %s\n", l)
	}
	if len(c.Params) > 0 {
		b.WriteString("\nParameters (spec.controls.params." + c.ID + "):\n")
		for _, p := range c.Params {
			typ := p.Type
			switch {
			case p.Format != "":
				typ += " of " + p.Format
			case len(p.Enum) > 0:
				typ += " of " + strings.Join(p.Enum, "|")
			}
			extra := ""
			if p.Minimum != nil {
				extra += fmt.Sprintf(", minimum %v", p.Minimum)
			}
			if p.Maximum != nil {
				extra += fmt.Sprintf(", maximum %v", p.Maximum)
			}
			if p.From != "" {
				extra += ", from " + p.From
			}
			fmt.Fprintf(&b, "  %s (%s, default %v%s): %s\n", p.Name, typ, p.Default, extra, p.Description)
		}
	}
	if c.Rule != nil {
		b.WriteString("\nRule (CEL):\n")
		for _, v := range c.Rule.Validations {
			fmt.Fprintf(&b, "  %s\n", v.Expression)
		}
	}
	fmt.Fprintf(&b, "\nVerify:     %s\n", c.Probe)
	_, err := io.WriteString(w, b.String())
	return err
}

func newCmdControlsGaps() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "gaps",
		Short: "List every Trust Services Criteria point the catalogue does not cover, and why",
		Long: `Gaps lists every SOC 2 Trust Services Criteria point (the 2017 criteria with the 2022
revised points of focus) that no catalogue control serves, grouped by area with the reason,
and the points controls serve only in part (partial: true) with what is missing. Every other
point is served by at least one control ('bulwark controls list --tsc POINT'); a bundle
serves a point only when it realises one of those controls (see its index).`,
		Example: `  bulwark controls gaps
  bulwark controls gaps -o json | jq -r '.[] | select(.partial | not) | .tsc[]'`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(output, "table", "json", "yaml"); err != nil {
				return err
			}
			cat, err := catalogue.Load()
			if err != nil {
				return err
			}
			if output != "table" {
				return printStructured(cmd.OutOrStdout(), output, cat.Gaps)
			}
			return writeGaps(cmd.OutOrStdout(), cat)
		},
	}
	outputFlag(cmd, &output, "table", "table", "json", "yaml")
	return cmd
}

// gapCounts returns the points no control serves and those served only in part, in the
// criteria's order.
func gapCounts(cat *catalogue.Catalogue) (none, partial []string) {
	covered := cat.Covered()
	part := map[string]bool{}
	for _, g := range cat.Gaps {
		if g.Partial {
			for _, p := range g.TSC {
				part[p] = true
			}
		}
	}
	for _, p := range cat.TSC {
		switch {
		case len(covered[p.ID]) == 0:
			none = append(none, p.ID)
		case part[p.ID]:
			partial = append(partial, p.ID)
		}
	}
	return none, partial
}

// writeGaps prints every gap: its area, each point with its title, and the reason.
func writeGaps(w io.Writer, cat *catalogue.Catalogue) error {
	none, partial := gapCounts(cat)
	covered := cat.Covered()
	var served []string
	for _, p := range cat.TSC {
		if len(covered[p.ID]) > 0 {
			served = append(served, p.ID)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "SOC 2 Trust Services Criteria (2017, 2022 points of focus), catalogue %s:\n", cat.Version)
	fmt.Fprintf(&b, "  %d of %d points not covered by any control; %d partially (%s).\n", len(none), len(cat.TSC), len(partial), strings.Join(partial, " "))
	fmt.Fprintf(&b, "  Served by controls: %s (a bundle serves them only through controls it realises).\n", strings.Join(served, " "))
	for _, g := range cat.Gaps {
		what := "not covered"
		if g.Partial {
			what = "partially covered by " + strings.Join(controlsFor(covered, g.TSC), ", ")
		}
		fmt.Fprintf(&b, "\n%s: %s\n", g.Area, what)
		for _, p := range g.TSC {
			fmt.Fprintf(&b, "  %-6s %s\n", p, cat.TSCTitle(p))
		}
		b.WriteString(wrap("Why: "+strings.TrimSpace(g.Reason), "  ", 92))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func controlsFor(covered map[string][]string, points []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range points {
		for _, id := range covered[p] {
			if !seen[id] {
				seen[id] = true
				out = append(out, id)
			}
		}
	}
	return out
}

// wrap breaks text into lines of at most width characters, each indented.
func wrap(text, indent string, width int) string {
	var b strings.Builder
	line := indent
	for _, word := range strings.Fields(text) {
		if len(line) > len(indent) && len(line)+1+len(word) > width {
			b.WriteString(line + "\n")
			line = indent
		}
		if len(line) > len(indent) {
			line += " "
		}
		line += word
	}
	if len(line) > len(indent) {
		b.WriteString(line + "\n")
	}
	return b.String()
}

// pssLine names the Pod Security Standards check a control implements: its name and level,
// the Kubernetes version, and pod-security-admission's id for it.
func pssLine(ref catalogue.References, kubernetes string) string {
	s := strings.TrimSpace(ref.PSS + " " + ref.PSSLevel)
	if ref.PSSCheck != "" {
		s += fmt.Sprintf(" (Kubernetes %s, pod-security-admission check %s)", kubernetes, ref.PSSCheck)
	}
	return s
}
