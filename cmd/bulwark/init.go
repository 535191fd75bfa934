package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"bulwark.dev/bulwark/internal/atomicfile"
	"bulwark.dev/bulwark/internal/exitcode"
	"bulwark.dev/bulwark/profile"
)

// NewCmdInit writes a commented starter profile.
func NewCmdInit() *cobra.Command {
	var framework, out string
	var force bool
	cmd := &cobra.Command{
		Use:   "init [-o profile.yaml]",
		Short: "Write a commented starter profile",
		Example: `  # Print a starter profile
  bulwark init
  # Write it to a file, then check it
  bulwark init -o profile.yaml && bulwark validate -f profile.yaml`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			data, err := profile.Starter(framework)
			if err != nil {
				return exitcode.AsBadInput(err)
			}
			if out == "" || out == "-" {
				_, err = cmd.OutOrStdout().Write(data)
				return err
			}
			if _, err := os.Stat(out); err == nil && !force {
				return usageErrorf("%s exists; pass --force to overwrite it", out)
			}
			if err := atomicfile.WriteFile(out, data, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s; next: bulwark validate -f %s\n", out, out)
			return nil
		},
	}
	cmd.Flags().StringVar(&framework, "framework", "soc2", "compliance framework (soc2)")
	cmd.Flags().StringVarP(&out, "output", "o", "", "file to write (default stdout)")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite an existing file")
	return cmd
}
