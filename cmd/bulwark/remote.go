package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"bulwark.dev/bulwark/bundles"
	"bulwark.dev/bulwark/generators"
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

func (f *remoteFlags) options(cmd *cobra.Command) (bundles.RemoteOptions, error) {
	o := bundles.RemoteOptions{Username: f.username, Insecure: f.insecure}
	if f.passwordStdin {
		if f.username == "" {
			return o, usageErrorf("--password-stdin needs --username")
		}
		line, err := bufio.NewReader(io.LimitReader(cmd.InOrStdin(), 64<<10)).ReadString('\n')
		if err != nil && err != io.EOF {
			return o, fmt.Errorf("reading the password from stdin: %w", err)
		}
		o.Password = strings.TrimRight(line, "\r\n")
	}
	if !f.quiet {
		o.Progress = cmd.ErrOrStderr()
	}
	return o, nil
}

// bundleSource is -f PROFILE [--version V] or --from DIR.
type bundleSource struct {
	file, from, version string
}

func (s *bundleSource) register(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&s.file, "file", "f", "", "profile to build the bundle from")
	cmd.Flags().StringVar(&s.from, "from", "", "a bundle directory written by 'bulwark build'")
	cmd.Flags().StringVar(&s.version, "version", generators.DefaultVersion, "bundle version, with -f")
	_ = cmd.MarkFlagFilename("file", "yaml", "yml")
	_ = cmd.MarkFlagDirname("from")
}

func (s *bundleSource) load(cmd *cobra.Command) (*bundles.Bundle, error) {
	switch {
	case s.file != "" && s.from != "":
		return nil, usageErrorf("give -f PROFILE or --from DIR, not both")
	case s.from != "":
		return bundles.ReadDir(s.from)
	case s.file != "":
		p, cat, err := loadProfile(s.file, cmd.InOrStdin())
		if err != nil {
			return nil, err
		}
		return generators.Build(p, cat, s.version)
	}
	return nil, usageErrorf("a bundle is required: -f PROFILE or --from DIR")
}

// openBundle reads a bundle from a directory when one exists at arg, else from a registry.
func openBundle(cmd *cobra.Command, arg string, ro bundles.RemoteOptions) (*bundles.Bundle, string, error) {
	if st, err := os.Stat(arg); err == nil && st.IsDir() {
		b, err := bundles.ReadDir(arg)
		return b, arg, err
	}
	b, dig, err := bundles.Pull(cmd.Context(), arg, ro)
	if err != nil {
		return nil, "", err
	}
	return b, dig.String(), nil
}
