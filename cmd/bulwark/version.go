package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"bulwark.dev/bulwark/catalogue"
)

// version is set at link time (-X main.version=v1.2.3); builds from source report the module version.
var version = ""

// VersionInfo is what `bulwark version -o json` prints.
type VersionInfo struct {
	Version   string `json:"version"`
	Catalogue string `json:"catalogue"`
	Go        string `json:"go"`
	Platform  string `json:"platform"`
}

func currentVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// NewCmdVersion prints the binary and catalogue versions.
func NewCmdVersion() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the bulwark and control catalogue versions",
		Example: `  bulwark version
  bulwark version -o json`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(output, "text", "json", "yaml"); err != nil {
				return err
			}
			cat, err := catalogue.Load()
			if err != nil {
				return err
			}
			info := VersionInfo{
				Version:   currentVersion(),
				Catalogue: cat.Version,
				Go:        runtime.Version(),
				Platform:  runtime.GOOS + "/" + runtime.GOARCH,
			}
			if output != "text" {
				return printStructured(cmd.OutOrStdout(), output, info)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "bulwark %s (catalogue %s, %s, %s)\n", info.Version, info.Catalogue, info.Go, info.Platform)
			return err
		},
	}
	outputFlag(cmd, &output, "text", "text", "json", "yaml")
	return cmd
}
