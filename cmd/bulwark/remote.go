package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"bulwark.dev/bulwark/bundle"
	"bulwark.dev/bulwark/bundle/oci"
	"bulwark.dev/bulwark/internal/exitcode"
	"bulwark.dev/bulwark/pipeline"
)

// remoteFlags are the registry flags every registry command shares, as crane and flux have them.
type remoteFlags struct {
	username      string
	passwordStdin bool
	insecure      bool
	quiet         bool
}

func (f *remoteFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.username, "username", "", "registry user (default: docker config and credential helpers)")
	cmd.Flags().BoolVar(&f.passwordStdin, "password-stdin", false, "read the registry password from stdin")
	cmd.Flags().BoolVar(&f.insecure, "insecure", false, "allow plain HTTP to a registry that is not on loopback")
	cmd.Flags().BoolVarP(&f.quiet, "quiet", "q", false, "no progress on stderr")
}

// client returns the registry client the flags describe; progress goes to stderr unless
// --quiet or progress is false.
func (f *remoteFlags) client(cmd *cobra.Command, progress bool) (*oci.Client, error) {
	opts := []oci.Option{oci.WithInsecure(f.insecure)}
	if f.passwordStdin {
		if f.username == "" {
			return nil, usageErrorf("--password-stdin needs --username")
		}
		line, err := bufio.NewReader(io.LimitReader(cmd.InOrStdin(), 64<<10)).ReadString('\n')
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("reading the password from stdin: %w", err)
		}
		opts = append(opts, oci.WithBasicAuth(f.username, strings.TrimRight(line, "\r\n")))
	} else if f.username != "" {
		opts = append(opts, oci.WithBasicAuth(f.username, ""))
	}
	if progress && !f.quiet {
		opts = append(opts, oci.WithProgress(cmd.ErrOrStderr()))
	}
	return oci.New(opts...)
}

// bundleSource is -f PROFILE [--version V] or --from DIR.
type bundleSource struct {
	file, from, version string
}

func (s *bundleSource) register(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&s.file, "file", "f", "", "profile to build the bundle from")
	cmd.Flags().StringVar(&s.from, "from", "", "a bundle directory written by 'bulwark build'")
	cmd.Flags().StringVar(&s.version, "version", pipeline.DefaultVersion, "bundle version, with -f")
	_ = cmd.MarkFlagFilename("file", "yaml", "yml")
	_ = cmd.MarkFlagDirname("from")
}

func (s *bundleSource) load(cmd *cobra.Command) (*bundle.Bundle, error) {
	switch {
	case s.file != "" && s.from != "":
		return nil, usageErrorf("give -f PROFILE or --from DIR, not both")
	case s.from != "":
		return bundle.ReadDir(s.from)
	case s.file != "":
		return pipeline.BuildFile(s.file, cmd.InOrStdin(), s.version)
	}
	return nil, usageErrorf("a bundle is required: -f PROFILE or --from DIR")
}

// pack loads the bundle and packs it with opts. A directory is packed while it is read.
func (s *bundleSource) pack(cmd *cobra.Command, opts oci.PackOptions) (*oci.Packed, error) {
	if s.from != "" && s.file == "" {
		return oci.PackDir(s.from, opts)
	}
	b, err := s.load(cmd)
	if err != nil {
		return nil, err
	}
	img, err := oci.Pack(b, opts)
	if err != nil {
		return nil, err
	}
	return &oci.Packed{Index: b.Index, Image: img}, nil
}

// openBundle reads a bundle from a directory when one exists at arg, else from a registry.
// A bare word that is neither (no registry host: no dot, colon or localhost before the first
// slash) is a mistyped directory, not a Docker Hub image to look up.
func openBundle(cmd *cobra.Command, arg string, c *oci.Client) (*bundle.Bundle, string, error) {
	if st, err := os.Stat(arg); err == nil && st.IsDir() {
		b, err := bundle.ReadDir(arg)
		return b, arg, err
	}
	if err := oci.CheckReference(arg); err != nil {
		return nil, "", err
	}
	if !hasRegistryHost(arg) {
		return nil, "", exitcode.AsBadInput(fmt.Errorf("%s: no such directory or reference (a reference names its registry: oci://REGISTRY/REPO:TAG)", arg))
	}
	b, dig, err := c.Pull(cmd.Context(), arg)
	if err != nil {
		return nil, "", err
	}
	return b, dig.String(), nil
}

// hasRegistryHost reports whether a reference starts with a registry host, as docker tells
// a host from a Docker Hub path: a dot or a port in the first segment, or localhost.
func hasRegistryHost(ref string) bool {
	host, _, ok := strings.Cut(strings.TrimPrefix(ref, "oci://"), "/")
	return ok && (strings.ContainsAny(host, ".:") || host == "localhost")
}
