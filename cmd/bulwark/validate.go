package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"bulwark.dev/bulwark/bundle"
	"bulwark.dev/bulwark/pipeline"
)

// ValidateResult is what `bulwark validate -o json` prints for a valid profile.
type ValidateResult struct {
	File      string `json:"file"`
	Profile   string `json:"profile"`
	Framework string `json:"framework"`
	// Controls are the enabled controls the profile's bundle realises.
	Controls []string `json:"controls"`
	// NotRealised are the enabled controls its bundle would hold nothing for, and why.
	NotRealised []bundle.NotRealisedControl `json:"notRealised,omitempty"`
	// ExpiringSoon names exceptions that expire within 30 days.
	ExpiringSoon []string `json:"expiringSoon,omitempty"`
}

// NewCmdValidate lints a profile and, for a valid one, builds its bundle in memory (writing
// nothing) to say which enabled controls the bundle realises.
func NewCmdValidate() *cobra.Command {
	var file, output string
	cmd := &cobra.Command{
		Use:   "validate -f PROFILE",
		Short: "Check a profile: schema, semantics, control ids, exception expiry, realised controls",
		Long: `Validate reads a profile strictly and reports every problem as
FILE:LINE:COL: spec.path: what is wrong (what is allowed). It exits 2 when the profile is
invalid, including when an exception has expired.

For a valid profile it builds the bundle in memory (writing nothing) and says how many
enabled controls the bundle realises, naming each enabled control it would hold nothing for
and why (e.g. no sensitive tier).`,
		Example: `  bulwark validate -f examples/payments.yaml
  cat profile.yaml | bulwark validate -f -
  bulwark validate -f profile.yaml -o json`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(output, "text", "json", "yaml"); err != nil {
				return err
			}
			p, cat, err := loadProfile(file, cmd.InOrStdin())
			if err != nil {
				return err
			}
			source := file
			if source == "-" {
				source = "<stdin>"
			}
			res := ValidateResult{File: source, Profile: p.Metadata.Name, Framework: p.Spec.Framework, Controls: []string{}}
			// The claim is the bundle's: build it in memory, so validate counts exactly the
			// controls the bundle's objects (or verify alone) realise.
			b, err := pipeline.Build(p, cat, "")
			if err != nil {
				return err
			}
			for _, c := range b.Index.Spec.Controls {
				res.Controls = append(res.Controls, c.ID)
			}
			res.NotRealised = b.Index.Spec.NotRealised
			now := time.Now()
			for _, e := range p.Spec.Exceptions {
				if e.ExpiresWithin(now, 30*24*time.Hour) {
					res.ExpiringSoon = append(res.ExpiringSoon, e.Name)
					fmt.Fprintf(cmd.ErrOrStderr(), "warning: exception %q expires on %s\n", e.Name, e.Expires.Format(time.DateOnly))
				}
			}
			if output != "text" {
				return printStructured(cmd.OutOrStdout(), output, res)
			}
			enabled := len(res.Controls) + len(res.NotRealised)
			var sb strings.Builder
			fmt.Fprintf(&sb, "%s: valid (profile %s, framework %s, %d of %d enabled controls realised",
				source, res.Profile, res.Framework, len(res.Controls), enabled)
			if disabled := len(cat.Controls) - enabled; disabled > 0 {
				fmt.Fprintf(&sb, ", %d of the catalogue's %d disabled", disabled, len(cat.Controls))
			}
			sb.WriteString(")\n")
			for _, n := range res.NotRealised {
				fmt.Fprintf(&sb, "  not realised: %s (%s)\n", n.ID, n.Reason)
			}
			_, err = io.WriteString(cmd.OutOrStdout(), sb.String())
			return err
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "profile to validate (- for stdin)")
	_ = cmd.MarkFlagFilename("file", "yaml", "yml")
	outputFlag(cmd, &output, "text", "text", "json", "yaml")
	return cmd
}
