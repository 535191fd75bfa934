package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

// ValidateResult is what `bulwark validate -o json` prints for a valid profile.
type ValidateResult struct {
	File      string   `json:"file"`
	Profile   string   `json:"profile"`
	Framework string   `json:"framework"`
	Controls  []string `json:"controls"`
	// ExpiringSoon names exceptions that expire within 30 days.
	ExpiringSoon []string `json:"expiringSoon,omitempty"`
}

// NewCmdValidate lints a profile without building anything.
func NewCmdValidate() *cobra.Command {
	var file, output string
	cmd := &cobra.Command{
		Use:   "validate -f PROFILE",
		Short: "Check a profile: schema, semantics, control ids, exception expiry",
		Long: `Validate reads a profile strictly and reports every problem as
FILE:LINE:COL: spec.path: what is wrong (what is allowed). It exits 2 when the profile is
invalid, including when an exception has expired.`,
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
			res := ValidateResult{File: source, Profile: p.Metadata.Name, Framework: p.Spec.Framework}
			for _, id := range cat.IDs() {
				if p.ControlEnabled(id) {
					res.Controls = append(res.Controls, id)
				}
			}
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
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s: valid (profile %s, framework %s, %d of %d controls in force)\n",
				source, res.Profile, res.Framework, len(res.Controls), len(cat.Controls))
			return err
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "profile to validate (- for stdin)")
	_ = cmd.MarkFlagFilename("file", "yaml", "yml")
	outputFlag(cmd, &output, "text", "text", "json", "yaml")
	return cmd
}
