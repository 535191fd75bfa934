package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"bulwark.dev/bulwark/bundle"
	"bulwark.dev/bulwark/bundle/oci"
	"bulwark.dev/bulwark/bundle/signature"
	"bulwark.dev/bulwark/internal/exitcode"
)

// NewCmdDigest prints the digest a bundle will have in any registry.
func NewCmdDigest() *cobra.Command {
	var src bundleSource
	cmd := &cobra.Command{
		Use:   "digest -f PROFILE [--version V] | --from DIR",
		Short: "Print the bundle's OCI manifest digest without a registry",
		Long: `Digest packs the bundle exactly as push would and prints the manifest digest. The same
profile and version always give the same digest, on any machine.`,
		Example: `  bulwark digest -f examples/payments.yaml --version 1.4.0
  bulwark digest --from out/payments`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := src.pack(cmd, oci.PackOptions{})
			if err != nil {
				return err
			}
			d, err := p.Image.Digest()
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), d)
			return err
		},
	}
	src.register(cmd)
	return cmd
}

// NewCmdPush packs and pushes a bundle.
func NewCmdPush() *cobra.Command {
	var src bundleSource
	var rf remoteFlags
	var opts oci.PushOptions
	var signKey string
	cmd := &cobra.Command{
		Use:   "push -f PROFILE|--from DIR oci://REGISTRY/REPO:TAG",
		Short: "Pack a bundle and push it to an OCI registry; prints REGISTRY/REPO@sha256:...",
		Long: `Push packs the bundle as one OCI artifact that Flux and Argo CD consume without extra
configuration, uploads the blobs and the manifest by digest, and only then moves the tag:
a push that fails midway leaves every tag where it was. Blobs the registry already has are
not uploaded again. Credentials come from the docker config and credential helpers, or
--username with --password-stdin; they are never printed.`,
		Example: `  bulwark push -f examples/payments.yaml --version 1.4.0 oci://ghcr.io/acme/policies/payments:1.4.0
  bulwark push --from out/payments ghcr.io/acme/policies/payments:1.4.0 --tag latest --tag-semver
  echo "$TOKEN" | bulwark push --from out ghcr.io/acme/p:1.0.0 --username ci --password-stdin`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := rf.client(cmd, true)
			if err != nil {
				return err
			}
			var signer signature.Signer
			if signKey != "" {
				// Read the key first: a wrong password must not leave an unsigned push behind.
				if signer, err = loadSigner(signKey); err != nil {
					return err
				}
			}
			// A wrong reference or tag is said before the bundle is built or read.
			if err := c.CheckPush(args[0], opts); err != nil {
				return err
			}
			p, err := src.pack(cmd, opts.Pack)
			if err != nil {
				return err
			}
			d, err := c.PushPacked(cmd.Context(), p, args[0], opts)
			if err != nil {
				return err
			}
			if signer != nil {
				if err := signature.Sign(cmd.Context(), c, d, signer); err != nil {
					return err
				}
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), d)
			return err
		},
	}
	src.register(cmd)
	rf.register(cmd)
	cmd.Flags().StringArrayVar(&opts.Tags, "tag", nil, "also point this tag at the bundle (repeatable)")
	cmd.Flags().BoolVar(&opts.SemverAliases, "tag-semver", false, "also tag MAJOR and MAJOR.MINOR of a release version")
	cmd.Flags().StringVar(&opts.Pack.Source, "source", "", "org.opencontainers.image.source annotation (e.g. the profile's git URL)")
	cmd.Flags().StringVar(&opts.Pack.Revision, "revision", "", "org.opencontainers.image.revision annotation (e.g. main@sha1:...)")
	cmd.Flags().StringVar(&signKey, "sign-key", "", "sign the pushed bundle with this cosign private key (password from $COSIGN_PASSWORD)")
	return cmd
}

// NewCmdPull fetches a bundle into a directory.
func NewCmdPull() *cobra.Command {
	var rf remoteFlags
	var out, verifyKey string
	var force bool
	cmd := &cobra.Command{
		Use:   "pull oci://REGISTRY/REPO:TAG|@DIGEST -o DIR",
		Short: "Fetch a bundle and unpack it into a directory",
		Long: `Pull checks the artifact has exactly one bundle layer, unpacks it refusing absolute or
escaping paths, links, devices and oversized entries, checks every file against the bundle
index, and replaces DIR atomically. It prints the digest it pulled.`,
		Example: `  bulwark pull oci://ghcr.io/acme/policies/payments:1.4.0 -o out/payments`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usageErrorf("an output directory is required: -o DIR")
			}
			c, err := rf.client(cmd, true)
			if err != nil {
				return err
			}
			b, d, err := c.Pull(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if verifyKey != "" {
				v, err := loadVerifier(verifyKey)
				if err != nil {
					return err
				}
				if err := signature.Verify(cmd.Context(), c, d, v); err != nil {
					return err
				}
			}
			if err := b.WriteDir(out, force); err != nil {
				return exitcode.AsBadInput(err)
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), d)
			return err
		},
	}
	rf.register(cmd)
	cmd.Flags().StringVarP(&out, "output", "o", "", "directory to unpack into")
	cmd.Flags().BoolVar(&force, "force", false, "replace an output directory that is not a bundle")
	cmd.Flags().StringVar(&verifyKey, "verify-key", "", "refuse the bundle (exit 1) unless signed with this cosign public key")
	return cmd
}

// NewCmdTags lists a repository's bundle versions.
func NewCmdTags() *cobra.Command {
	var rf remoteFlags
	var output string
	cmd := &cobra.Command{
		Use:     "tags oci://REGISTRY/REPO",
		Short:   "List a repository's tags, semantic versions first, highest first",
		Example: `  bulwark tags oci://ghcr.io/acme/policies/payments`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(output, "text", "json", "yaml"); err != nil {
				return err
			}
			c, err := rf.client(cmd, true)
			if err != nil {
				return err
			}
			tags, err := c.Tags(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if output != "text" {
				return printStructured(cmd.OutOrStdout(), output, tags)
			}
			for _, t := range tags {
				fmt.Fprintln(cmd.OutOrStdout(), t)
			}
			return nil
		},
	}
	rf.register(cmd)
	outputFlag(cmd, &output, "text", "text", "json", "yaml")
	return cmd
}

// NewCmdDiff compares two bundles.
func NewCmdDiff() *cobra.Command {
	var rf remoteFlags
	var output string
	cmd := &cobra.Command{
		Use:   "diff REF|DIR REF|DIR",
		Short: "Show the objects, controls and TSC points that differ between two bundles",
		Long: `Diff compares two bundles, each a registry reference or a directory written by build or
pull. It exits 0 when they hold the same objects and controls and 1 when they differ, like diff(1).`,
		Example: `  bulwark diff oci://ghcr.io/acme/policies/payments:1.3.0 oci://ghcr.io/acme/policies/payments:1.4.0
  bulwark diff out/old out/new -o json`,
		Args: exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(output, "text", "json", "yaml"); err != nil {
				return err
			}
			c, err := rf.client(cmd, false)
			if err != nil {
				return err
			}
			a, _, err := openBundle(cmd, args[0], c)
			if err != nil {
				return err
			}
			b, _, err := openBundle(cmd, args[1], c)
			if err != nil {
				return err
			}
			d := bundle.Diff(a, b)
			if output != "text" {
				err = printStructured(cmd.OutOrStdout(), output, d)
			} else {
				err = d.WriteText(cmd.OutOrStdout())
			}
			if err != nil {
				return err
			}
			if !d.Empty() {
				return exitcode.Wrap(exitcode.Failed, errSilent)
			}
			return nil
		},
	}
	rf.register(cmd)
	outputFlag(cmd, &output, "text", "text", "json", "yaml")
	return cmd
}
