package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"bulwark.dev/bulwark/internal/demo"
)

// NewCmdDemo runs the main job end to end on a shipped example.
func NewCmdDemo() *cobra.Command {
	var opts demo.Options
	cmd := &cobra.Command{
		Use:   "demo [--registry HOST:PORT]",
		Short: "Build a shipped example into a bundle, push it, pull it back and diff two versions",
		Long: `Demo runs the main job on the payments example shipped in the binary: profile → bundle →
push to a registry → pull back → diff against a second version. Without --registry (or
BULWARK_REGISTRY) it starts a registry on 127.0.0.1 for the run. The pushed digests go to
stdout; the narrative to stderr.`,
		Example: `  bulwark demo
  BULWARK_REGISTRY=localhost:5000 bulwark demo`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Registry == "" {
				opts.Registry = os.Getenv("BULWARK_REGISTRY")
			}
			opts.Log = cmd.ErrOrStderr()
			res, err := demo.Run(cmd.Context(), opts)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s\n%s\n", res.First, res.Second)
			return err
		},
	}
	cmd.Flags().StringVar(&opts.Registry, "registry", "", "registry host[:port] to push to (default: BULWARK_REGISTRY, else one started on 127.0.0.1)")
	cmd.Flags().StringVar(&opts.Example, "example", "payments.yaml", "shipped example profile to use")
	return cmd
}
