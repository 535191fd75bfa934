package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"bulwark.dev/bulwark/catalogue"
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
				fmt.Fprintf(cmd.OutOrStdout(), "\n%d controls, catalogue %s. Not covered: ", len(controls), cat.Version)
				var areas []string
				for _, g := range cat.Gaps {
					areas = append(areas, g.Area)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s (see 'bulwark controls gaps').\n", strings.Join(areas, "; "))
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
			return writeControl(cmd.OutOrStdout(), c)
		},
	}
	outputFlag(cmd, &output, "text", "text", "json", "yaml")
	return cmd
}

func writeControl(w io.Writer, c *catalogue.Control) error {
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
	ref := c.References
	for _, kv := range [][2]string{{"CIS", ref.CIS}, {"PSS", strings.TrimSpace(ref.PSS + " " + ref.PSSLevel)}, {"Kyverno", ref.KyvernoPolicy}} {
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
		Use:     "gaps",
		Short:   "List the Trust Services Criteria the catalogue does not cover, and why",
		Example: `  bulwark controls gaps -o json`,
		Args:    exactArgs(0),
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
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TSC\tAREA\tWHY NOT COVERED")
			for _, g := range cat.Gaps {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", strings.Join(g.TSC, ","), g.Area, g.Reason)
			}
			return tw.Flush()
		},
	}
	outputFlag(cmd, &output, "table", "table", "json", "yaml")
	return cmd
}
