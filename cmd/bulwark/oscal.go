package main

import (
	"encoding/json"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"bulwark.dev/bulwark/bundle/oci"
	"bulwark.dev/bulwark/catalogue"
	"bulwark.dev/bulwark/oscal"
)

// NewCmdOSCAL writes OSCAL documents.
func NewCmdOSCAL() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "oscal",
		Short: "Write OSCAL documents: what a bundle implements, per SOC 2 criterion",
		Long: `OSCAL (NIST's Open Security Controls Assessment Language) is what GRC tools and audit
pipelines read. 'oscal component-definition' describes a bundle's controls as implemented
requirements against the SOC 2 Trust Services Criteria; 'verify -o oscal' writes what verify
found as assessment results. Both are OSCAL ` + oscal.Version + `, valid against the official schema.`,
		Example: `  bulwark oscal component-definition -f payments.yaml > component-definition.json
  bulwark verify --bundle oci://ghcr.io/acme/policies/payments:1.4.0 -o oscal > assessment-results.json`,
		Args: exactArgs(0),
	}
	cmd.AddCommand(newCmdOSCALComponentDefinition())
	return cmd
}

func newCmdOSCALComponentDefinition() *cobra.Command {
	var (
		src    bundleSource
		output string
	)
	cmd := &cobra.Command{
		Use:   "component-definition -f PROFILE | --from DIR",
		Short: "The bundle's controls as an OSCAL component definition against the SOC 2 criteria",
		Long: `Component-definition writes the bundle's realised controls as an OSCAL component
definition: a Kyverno component whose rules are the controls, a bulwark-verify validation
component whose checks prove them (compliance-trestle's Rule_Id / Check_Id properties, as
Compliance-to-Policy reads them), and per SOC 2 criterion an implemented requirement naming
its rules. The same bundle gives the same document; last-modified is SOURCE_DATE_EPOCH, or
the Unix epoch.`,
		Example: `  bulwark oscal component-definition -f payments.yaml
  bulwark oscal component-definition --from out/payments -o yaml`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(output, "json", "yaml"); err != nil {
				return err
			}
			b, err := src.load(cmd)
			if err != nil {
				return err
			}
			cat, err := catalogue.Load()
			if err != nil {
				return err
			}
			at, err := sourceDate()
			if err != nil {
				return err
			}
			doc, err := oscal.ComponentDefinition(b, cat, at)
			if err != nil {
				return err
			}
			data, err := json.MarshalIndent(doc, "", "  ")
			if err != nil {
				return err
			}
			if output == "yaml" {
				if data, err = yaml.JSONToYAML(data); err != nil {
					return err
				}
			} else {
				data = append(data, '\n')
			}
			_, err = cmd.OutOrStdout().Write(data)
			return err
		},
	}
	src.register(cmd)
	outputFlag(cmd, &output, "json", "json", "yaml")
	return cmd
}

// sourceDate is SOURCE_DATE_EPOCH, or the Unix epoch: a document built twice is the same.
func sourceDate() (time.Time, error) {
	return oci.SourceDate()
}
