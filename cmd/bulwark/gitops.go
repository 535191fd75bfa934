package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"bulwark.dev/bulwark/bundle/gitops"
	"bulwark.dev/bulwark/generators/generated"
	"bulwark.dev/bulwark/internal/exitcode"
)

// NewCmdGitOps prints the manifests Flux or Argo CD need to sync a bundle.
func NewCmdGitOps() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "gitops flux|argocd --bundle REF",
		Short: "Print the Flux or Argo CD manifests that sync a bundle into a cluster",
		Example: `  bulwark gitops flux --bundle oci://ghcr.io/acme/policies/payments:1.4.0 | kubectl apply -f -
  bulwark gitops flux --bundle oci://ghcr.io/acme/policies/payments --semver '>=1.0.0 <2.0.0' --verify-key cosign.pub
  bulwark gitops argocd --bundle oci://ghcr.io/acme/policies/payments:1.4.0
  bulwark gitops verify-job --bundle oci://ghcr.io/acme/policies/payments:1.4.0 --cluster prod-eu --image ghcr.io/acme/bulwark@sha256:...`,
	}
	var opts gitops.Options
	var keyFile string
	flags := func(c *cobra.Command) {
		c.Flags().StringVar(&opts.Ref, "bundle", "", "bundle reference: oci://REG/REPO:TAG, REG/REPO@sha256:..., or a repository with --semver")
		c.Flags().StringVar(&opts.Semver, "semver", "", "follow a semver range instead of a fixed tag, e.g. '>=1.0.0 <2.0.0'")
		c.Flags().StringVar(&opts.Name, "name", "", "name of the objects (default: the repository's last path element)")
		c.Flags().StringVar(&opts.Namespace, "namespace", "", "namespace of the objects (default: flux-system or argocd)")
		c.Flags().StringVar(&opts.PullSecret, "pull-secret", "", "docker-registry Secret for a private registry")
		c.Flags().BoolVar(&opts.Insecure, "insecure", false, "allow a plain HTTP registry")
	}
	flux := &cobra.Command{
		Use:   "flux --bundle REF",
		Short: "Print an OCIRepository and a Kustomization (prune, wait) for the bundle",
		Example: `  bulwark gitops flux --bundle oci://ghcr.io/acme/policies/payments:1.4.0 | kubectl apply -f -
  bulwark gitops flux --bundle oci://ghcr.io/acme/policies/payments --semver '>=1.0.0' --verify-key cosign.pub`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Ref == "" {
				return usageErrorf("a bundle is required: --bundle oci://REG/REPO:TAG")
			}
			if keyFile != "" {
				key, err := os.ReadFile(keyFile)
				if err != nil {
					return exitcode.AsBadInput(fmt.Errorf("reading --verify-key: %w", err))
				}
				opts.VerifyKey = key
				if opts.VerifySecret == "" {
					opts.VerifySecret = "bulwark-cosign-pub"
				}
			}
			repo, kust, err := gitops.Flux(opts)
			if err != nil {
				return exitcode.AsBadInput(err)
			}
			docs := []any{repo, kust}
			if s := gitops.VerifyKeySecret(opts); s != nil {
				docs = append([]any{s}, docs...)
			}
			return writeDocs(cmd.OutOrStdout(), docs...)
		},
	}
	flags(flux)
	flux.Flags().DurationVar(&opts.Interval, "interval", 0, "how often Flux checks the registry (default 5m)")
	flux.Flags().StringVar(&keyFile, "verify-key", "", "cosign public key: Flux refuses bundles it did not sign (renders the key Secret)")
	flux.Flags().StringVar(&opts.VerifySecret, "verify-secret", "", "existing Secret with cosign public keys (*.pub) to verify with")
	argo := &cobra.Command{
		Use:   "argocd --bundle REF",
		Short: "Print an Argo CD Application for the bundle's OCI source",
		Example: `  bulwark gitops argocd --bundle oci://ghcr.io/acme/policies/payments:1.4.0 | kubectl apply -f -
  bulwark gitops argocd --bundle oci://ghcr.io/acme/policies/payments --semver '1.x'`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Ref == "" {
				return usageErrorf("a bundle is required: --bundle oci://REG/REPO:TAG")
			}
			app, err := gitops.ArgoCD(opts)
			if err != nil {
				return exitcode.AsBadInput(err)
			}
			return writeDocs(cmd.OutOrStdout(), app)
		},
	}
	flags(argo)
	var job gitops.VerifyJobOptions
	verifyJob := &cobra.Command{
		Use:   "verify-job --bundle REF --cluster NAME --image IMAGE",
		Short: "Print a CronJob that verifies this cluster on a schedule and attaches the evidence",
		Long: `Verify-job prints a ServiceAccount bound to the published bulwark-verify role (and the probe
role with --probe) and a CronJob running 'bulwark verify --in-cluster' on a schedule, so the
registry accumulates signed verification records over the audit period without a CI run.
Create the roles from examples/verify-clusterrole.yaml, a Secret with cosign.key and
cosign.password for --attest-secret, and a kubernetes.io/dockerconfigjson Secret that can
push to the bundle's repository for --registry-secret. The pod meets Pod Security restricted.`,
		Example: `  bulwark gitops verify-job --bundle oci://ghcr.io/acme/policies/payments:1.4.0 --cluster prod-eu \
    --image ghcr.io/acme/bulwark@sha256:... --flux flux-system/payments \
    --attest-secret bulwark-cosign --registry-secret bulwark-registry | kubectl apply -f -`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			objs, err := gitops.VerifyJob(job)
			if err != nil {
				return usageErrorf("%v", err)
			}
			docs := make([]any, len(objs))
			for i, o := range objs {
				docs[i] = o
			}
			return writeDocs(cmd.OutOrStdout(), docs...)
		},
	}
	verifyJob.Flags().StringVar(&job.Bundle, "bundle", "", "bundle reference verify checks")
	verifyJob.Flags().StringVar(&job.Cluster, "cluster", "", "name of this cluster in reports and evidence")
	verifyJob.Flags().StringVar(&job.Image, "image", "", "bulwark image, by digest")
	verifyJob.Flags().StringVar(&job.Namespace, "namespace", "", "namespace of the job (default bulwark-system)")
	verifyJob.Flags().StringVar(&job.Schedule, "schedule", "", "cron schedule (default hourly, at minute 17)")
	verifyJob.Flags().StringVar(&job.Flux, "flux", "", "Flux OCIRepository and Kustomization NAMESPACE/NAME that sync the bundle")
	verifyJob.Flags().StringVar(&job.AttestSecret, "attest-secret", "", "Secret with cosign.key and cosign.password: sign and attach every run's record")
	verifyJob.Flags().StringVar(&job.RegistrySecret, "registry-secret", "", "kubernetes.io/dockerconfigjson Secret with pull and push credentials")
	verifyJob.Flags().BoolVar(&job.Probe, "probe", false, "also send the enforcement probes (binds bulwark-verify-probe)")
	verifyJob.Flags().BoolVar(&job.ProbeRBAC, "probe-rbac", false, "with --probe, also bind bulwark-verify-probe-rbac (escalate and bind on RBAC objects: as powerful as cluster-admin), without which the IAM-01..03 and SEC-02 probes are not sent")
	cmd.AddCommand(flux, argo, verifyJob)
	return cmd
}

// writeDocs prints objects as one YAML stream.
func writeDocs(w io.Writer, docs ...any) error {
	for i, d := range docs {
		if i > 0 {
			if _, err := io.WriteString(w, "---\n"); err != nil {
				return err
			}
		}
		data, err := generated.Marshal(d)
		if err != nil {
			return err
		}
		if _, err := w.Write(data); err != nil {
			return err
		}
	}
	return nil
}
