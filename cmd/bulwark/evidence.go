package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/spf13/cobra"

	"bulwark.dev/bulwark/bundle/oci"
	"bulwark.dev/bulwark/evidence"
	"bulwark.dev/bulwark/internal/exitcode"
	"bulwark.dev/bulwark/oscal"
)

// NewCmdEvidence reads the verification records attached to a bundle.
func NewCmdEvidence() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "evidence",
		Short: "Read the signed verification records stored beside a bundle",
		Long: `Evidence reads the records 'bulwark verify --attest' attached to a bundle digest: one per
cluster and verification, each a signed in-toto statement (see docs/evidence.md). Every
record's signature is checked with --key; a record changed after signing, or signed by
another key, is listed as refused and is never shown as evidence.`,
		Example: `  bulwark evidence list oci://ghcr.io/acme/policies/payments:1.4.0 --key cosign.pub
  bulwark evidence show oci://ghcr.io/acme/policies/payments:1.4.0 --cluster prod-eu --key cosign.pub`,
		Args: exactArgs(0),
	}
	cmd.AddCommand(newCmdEvidenceList(), newCmdEvidenceShow(), newCmdEvidenceExport(), newCmdEvidenceReport())
	return cmd
}

// evidenceFlags are what both subcommands need.
type evidenceFlags struct {
	rf  remoteFlags
	key string
}

func (f *evidenceFlags) register(cmd *cobra.Command) {
	f.rf.register(cmd)
	cmd.Flags().StringVar(&f.key, "key", "", "cosign public key the records must be signed with (required)")
	_ = cmd.MarkFlagFilename("key", "pub")
}

func (f *evidenceFlags) records(cmd *cobra.Command, ref string) ([]evidence.Record, name.Digest, error) {
	if f.key == "" {
		return nil, name.Digest{}, usageErrorf("--key is required: a record is evidence only if its signature holds")
	}
	verifier, err := loadVerifier(f.key)
	if err != nil {
		return nil, name.Digest{}, err
	}
	c, err := f.rf.client(cmd, false)
	if err != nil {
		return nil, name.Digest{}, err
	}
	d, err := resolveDigest(cmd, c, ref)
	if err != nil {
		return nil, name.Digest{}, err
	}
	records, err := evidence.Records(cmd.Context(), c, d, verifier)
	return records, d, err
}

func resolveDigest(cmd *cobra.Command, c *oci.Client, ref string) (name.Digest, error) {
	d, err := c.Resolve(cmd.Context(), ref)
	if err != nil {
		return name.Digest{}, err
	}
	return d, nil
}

func newCmdEvidenceList() *cobra.Command {
	var (
		f      evidenceFlags
		output string
	)
	cmd := &cobra.Command{
		Use:   "list REF --key cosign.pub",
		Short: "List every verification record of a bundle: cluster, time, result, signature",
		Example: `  bulwark evidence list oci://ghcr.io/acme/policies/payments:1.4.0 --key cosign.pub
  bulwark evidence list ghcr.io/acme/policies/payments@sha256:... --key cosign.pub -o json`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(output, "text", "json", "yaml"); err != nil {
				return err
			}
			records, d, err := f.records(cmd, args[0])
			if err != nil {
				return err
			}
			if output != "text" {
				for i := range records {
					records[i].Detail = nil // list is the index; show prints a record
				}
				return printStructured(cmd.OutOrStdout(), output, struct {
					Bundle  string            `json:"bundle"`
					Records []evidence.Record `json:"records"`
				}{d.String(), records})
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "CLUSTER\tVERIFIED AT\tRESULT\tSIGNATURE")
			for _, r := range records {
				at := ""
				if !r.VerifiedAt.IsZero() {
					at = r.VerifiedAt.UTC().Format(time.RFC3339)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", orDefault(r.Cluster, "?"), orDefault(at, "?"), orDefault(r.Result, "?"), r.Signature)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			if len(records) == 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "no verification records are attached to %s\n", d)
			}
			return nil
		},
	}
	f.register(cmd)
	outputFlag(cmd, &output, "text", "text", "json", "yaml")
	return cmd
}

func newCmdEvidenceShow() *cobra.Command {
	var (
		f               evidenceFlags
		cluster, atFlag string
		output          string
	)
	cmd := &cobra.Command{
		Use:   "show REF --cluster C --key cosign.pub [--at TIME]",
		Short: "Show one cluster's verification record, its signature checked",
		Example: `  # The latest record of prod-eu
  bulwark evidence show oci://ghcr.io/acme/policies/payments:1.4.0 --cluster prod-eu --key cosign.pub

  # The record in force on a date of the audit period
  bulwark evidence show oci://ghcr.io/acme/policies/payments:1.4.0 --cluster prod-eu --at 2027-03-31T23:59:59Z --key cosign.pub`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cluster == "" {
				return usageErrorf("--cluster is required")
			}
			if err := checkFormat(output, "json", "yaml"); err != nil {
				return err
			}
			var at time.Time
			if atFlag != "" {
				t, err := time.Parse(time.RFC3339, atFlag)
				if err != nil {
					return usageErrorf("--at %q is not an RFC 3339 time (e.g. 2027-03-31T23:59:59Z)", atFlag)
				}
				at = t
			}
			records, _, err := f.records(cmd, args[0])
			if err != nil {
				return err
			}
			r, err := evidence.Find(records, cluster, at)
			if err != nil {
				return err
			}
			if err := printStructured(cmd.OutOrStdout(), output, r); err != nil {
				return err
			}
			if !r.Summarised {
				return exitcode.AsFailed(fmt.Errorf("the record's signed summary is missing or does not match it"))
			}
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&cluster, "cluster", "", "cluster whose record to show: its kubeconfig context name, or its kube-system UID (see evidence list)")
	cmd.Flags().StringVar(&atFlag, "at", "", "the latest record at or before this time (RFC 3339; default: the latest)")
	outputFlag(cmd, &output, "json", "json", "yaml")
	return cmd
}

func newCmdEvidenceExport() *cobra.Command {
	var (
		f      evidenceFlags
		format string
	)
	cmd := &cobra.Command{
		Use:   "export REF --key cosign.pub --oscal",
		Short: "Export every verified record of a bundle as OSCAL assessment results",
		Long: `Export writes the records whose signatures hold as one OSCAL ` + oscal.Version + ` assessment-results
document (a result per record: observations per check, findings per SOC 2 criterion),
valid against the official schema. Records that do not verify are left out, and counted
on stderr.`,
		Example: `  bulwark evidence export oci://ghcr.io/acme/policies/payments:1.4.0 --key cosign.pub --format oscal > assessment-results.json`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "oscal" {
				return usageErrorf("unknown export format %q (allowed: oscal)", format)
			}
			records, d, err := f.records(cmd, args[0])
			if err != nil {
				return err
			}
			reports := evidence.Reports(records)
			if refused := len(records) - len(reports); refused > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "%d records of %s left out: their signatures do not hold\n", refused, d)
			}
			if len(reports) == 0 {
				return exitcode.AsFailed(fmt.Errorf("no verified record is attached to %s", d))
			}
			latest := reports[0].CheckedAt
			for _, r := range reports {
				if r.CheckedAt.After(latest) {
					latest = r.CheckedAt
				}
			}
			doc, err := oscal.AssessmentResults(reports, latest)
			if err != nil {
				return err
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(doc)
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&format, "format", "oscal", "export format: oscal")
	return cmd
}

func newCmdEvidenceReport() *cobra.Command {
	var (
		f      evidenceFlags
		output string
	)
	cmd := &cobra.Command{
		Use:   "report REF --key cosign.pub [-o html|markdown|json]",
		Short: "One page an auditor reads: per SOC 2 point, its controls, per cluster and over time",
		Long: `Report reads every verified record of a bundle and writes one page: for each SOC 2 Trust
Services Criteria point, the controls serving it and their status in every cluster's every
verification, oldest first, with each failure linked to its failing checks. HTML is one
self-contained file (no external assets); -o json is the same content for tools.`,
		Example: `  bulwark evidence report oci://ghcr.io/acme/policies/payments:1.4.0 --key cosign.pub > evidence.html
  bulwark evidence report oci://ghcr.io/acme/policies/payments:1.4.0 --key cosign.pub -o markdown`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(output, "html", "markdown", "json"); err != nil {
				return err
			}
			records, d, err := f.records(cmd, args[0])
			if err != nil {
				return err
			}
			s := evidence.Summarise(d.String(), records)
			switch output {
			case "markdown":
				return s.WriteMarkdown(cmd.OutOrStdout())
			case "json":
				return printStructured(cmd.OutOrStdout(), "json", s)
			}
			return s.WriteHTML(cmd.OutOrStdout())
		},
	}
	f.register(cmd)
	outputFlag(cmd, &output, "html", "html", "markdown", "json")
	return cmd
}
