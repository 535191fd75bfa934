package main

import (
	"github.com/spf13/cobra"

	"bulwark.dev/bulwark/catalogue"
	"bulwark.dev/bulwark/pipeline"
	"bulwark.dev/bulwark/profile"
)

// NewCmdSchema prints the profile's JSON Schema for editors, with each control's parameters
// constrained as validate checks them.
func NewCmdSchema() *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of the profile, for editor validation",
		Example: `  bulwark schema > bulwark-profile.schema.json
  # then, in profile.yaml (yaml-language-server):
  # yaml-language-server: $schema=./bulwark-profile.schema.json`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cat, err := catalogue.Load()
			if err != nil {
				return err
			}
			params, err := pipeline.ParamSpecs(cat)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(profile.Schema(profile.SchemaOptions{Params: params}))
			return err
		},
	}
}
