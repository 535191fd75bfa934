package main

import (
	"github.com/spf13/cobra"
)

// NewRootCmd builds the bulwark command tree.
func NewRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "bulwark",
		Short: "Compliance profiles to signed OCI policy bundles, and proof that clusters converged",
		Long: `Bulwark turns a declarative compliance profile (SOC 2 first) into a versioned OCI
bundle of Kubernetes manifests: Kyverno policies, default-deny NetworkPolicies, Istio mTLS and
cert-manager issuers, each traced to the controls and Trust Services Criteria it serves.
Flux or Argo CD sync the bundle; 'bulwark verify' proves a cluster has converged on it.

Exit codes: 0 ok or converged; 1 checked and found wanting; 2 bad input (profile, flags,
bundle); 3 environment (registry or cluster unreachable, auth refused, timeout).`,
		Example: `  # Start a profile, check it, and see the controls it can enforce
  bulwark init -o profile.yaml
  bulwark validate -f profile.yaml
  bulwark controls list --tsc CC6.6`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &flagError{err} })
	root.AddCommand(
		NewCmdInit(),
		NewCmdValidate(),
		NewCmdBuild(),
		NewCmdDigest(),
		NewCmdPush(),
		NewCmdPull(),
		NewCmdTags(),
		NewCmdDiff(),
		NewCmdDemo(),
		NewCmdVerify(),
		NewCmdEvidence(),
		NewCmdOSCAL(),
		NewCmdGitOps(),
		NewCmdKeys(),
		NewCmdSign(),
		NewCmdControls(),
		NewCmdSchema(),
		NewCmdVersion(),
	)
	groupsRefuseUnknownSubcommands(root)
	return root
}

// groupsRefuseUnknownSubcommands makes every command that only groups others (controls,
// keys, gitops) refuse an argument that names no subcommand, exit 2, where cobra would print
// the help and exit 0 for a typo such as 'bulwark controls lst'.
func groupsRefuseUnknownSubcommands(cmd *cobra.Command) {
	for _, c := range cmd.Commands() {
		groupsRefuseUnknownSubcommands(c)
	}
	if cmd.HasParent() && cmd.HasSubCommands() && cmd.Run == nil && cmd.RunE == nil {
		cmd.Args = cobra.ArbitraryArgs
		cmd.RunE = func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErrorf("unknown command %q for %q (see '%s --help')", args[0], c.CommandPath(), c.CommandPath())
			}
			return c.Help()
		}
	}
}

// exactArgs is cobra.ExactArgs with the error marked as a usage mistake (exit 2).
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(cmd, args); err != nil {
			return &flagError{err}
		}
		return nil
	}
}
