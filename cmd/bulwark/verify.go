package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ita1 "github.com/in-toto/attestation/go/v1"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"bulwark.dev/bulwark/bundle"
	"bulwark.dev/bulwark/bundle/oci"
	"bulwark.dev/bulwark/bundle/signature"
	"bulwark.dev/bulwark/evidence"
	"bulwark.dev/bulwark/internal/atomicfile"
	"bulwark.dev/bulwark/internal/exitcode"
	"bulwark.dev/bulwark/verify"
	"bulwark.dev/bulwark/verify/output"
)

// NewCmdVerify checks that clusters have converged on a bundle.
func NewCmdVerify() *cobra.Command {
	var (
		rf                               remoteFlags
		bundleRef, kubeconfig, digest    string
		contexts                         []string
		allContexts, verbose, probe      bool
		requireCompliant                 bool
		evidenceDir, attestKey           string
		inCluster                        string
		fluxRef, argoRef                 string
		wait, timeout                    time.Duration
		format, reportFile, reportFormat string
		verifyKey                        string
	)
	cmd := &cobra.Command{
		Use:   "verify --bundle REF|DIR [--context C ...] [--wait D]",
		Short: "Prove that clusters have converged on a bundle version",
		Long: `Verify checks a live cluster against a bundle: every object present and matching what the
bundle sets, Kyverno policies and cert-manager issuers ready, every namespace in scope now
covered (default-deny and DNS NetworkPolicies, Pod Security labels, STRICT mTLS and mesh
enrolment), the GitOps tool reporting the bundle's digest, no expired exception, and no object
of the profile that the bundle no longer contains. It reads with one paginated LIST per kind.

With --probe it also asks admission itself: each enforcing control's catalogue deny fixture
is sent as a server-side dry run (dryRun=All: nothing is stored) into one in-scope namespace
and must be refused with the control's id in the message, and its admit fixture must not be
refused by it. This is the only check that proves the webhook, Kyverno's policy cache and the
policy's scope work together.

Exit codes: 0 converged; 1 not converged (the report says what to fix); 2 bad input;
3 a cluster could not be checked (unreachable, forbidden, timeout).`,
		Example: `  # Gate a release: wait up to 5 minutes for the cluster to converge
  bulwark verify --bundle oci://ghcr.io/acme/policies/payments:1.4.0 --flux flux-system/payments --wait 5m

  # Prove admission refuses what each enforcing control forbids (server-side dry runs)
  bulwark verify --bundle oci://ghcr.io/acme/policies/payments:1.4.0 --probe

  # Record the verification for the auditor: in-toto statements about the bundle digest
  bulwark verify --bundle oci://ghcr.io/acme/policies/payments:1.4.0 --evidence evidence/

  # ...or sign it and store it beside the bundle, where 'bulwark evidence list' finds it
  COSIGN_PASSWORD=... bulwark verify --bundle oci://ghcr.io/acme/policies/payments:1.4.0 --attest cosign.key

  # Several clusters at once, a JUnit report for CI and text on the terminal
  bulwark verify --bundle out/payments --context prod-eu --context prod-us --report verify.xml --report-format junit`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if bundleRef == "" {
				return usageErrorf("a bundle is required: --bundle oci://REG/REPO:TAG or --bundle DIR")
			}
			if inCluster != "" && (kubeconfig != "" || len(contexts) > 0 || allContexts) {
				return usageErrorf("--in-cluster uses the pod's service account: not with --kubeconfig, --context or --all-contexts")
			}
			if err := checkFormat(format, output.Formats...); err != nil {
				return err
			}
			writer, _ := output.New(format, verbose)
			var fileWriter output.Writer
			if reportFile != "" {
				w, err := output.New(reportFormat, verbose)
				if err != nil {
					return usageErrorf("%v", err)
				}
				fileWriter = w
			}
			// Evidence is what an auditor reads: it asks admission itself unless told not to.
			if (evidenceDir != "" || attestKey != "") && !cmd.Flags().Changed("probe") {
				probe = true
			}
			opts := verify.Options{Probe: probe, RequireCompliant: requireCompliant}
			for _, spec := range []struct {
				flag string
				val  string
				dst  **verify.NamespacedName
			}{{"--flux", fluxRef, &opts.Flux}, {"--argocd", argoRef, &opts.ArgoCD}} {
				if spec.val == "" {
					continue
				}
				n, err := verify.ParseNamespacedName(spec.val)
				if err != nil {
					return usageErrorf("%s: %v", spec.flag, err)
				}
				*spec.dst = &n
			}
			c, err := rf.client(cmd, false)
			if err != nil {
				return err
			}
			b, source, err := openBundle(cmd, bundleRef, c)
			if err != nil {
				return err
			}
			if evidenceDir != "" || attestKey != "" {
				// A record is about the bundle verified: the pulled digest, or the one verify
				// computed from the directory. A --digest verify did not derive itself would
				// put another artifact's digest on it.
				pulled := ""
				if _, d, ok := strings.Cut(source, "@"); ok && strings.HasPrefix(d, "sha256:") {
					pulled = d
				}
				if digest != "" && digest != pulled {
					return exitcode.AsBadInput(fmt.Errorf("--evidence and --attest record the bundle verify checked: --digest %s is not that bundle's digest (%s)", digest, orDefault(pulled, "a directory's is computed by verify")))
				}
			}
			gate := verify.GateOptions{Source: source, Digest: digest, Options: opts, Wait: wait, Progress: cmd.ErrOrStderr()}
			if verifyKey != "" {
				v, err := loadVerifier(verifyKey)
				if err != nil {
					return err
				}
				gate.CheckSignature = func(ctx context.Context, _ string) error {
					d, err := c.Resolve(ctx, source)
					if err != nil {
						return err
					}
					return signature.Verify(ctx, c, d, v)
				}
			}
			if inCluster != "" {
				cfg, err := rest.InClusterConfig()
				if err != nil {
					return exitcode.AsEnvironment(fmt.Errorf("--in-cluster: %w", err))
				}
				cfg.Timeout = timeout
				cfg.QPS, cfg.Burst = 50, 100
				gate.Targets = []verify.Target{{Name: inCluster, Config: cfg}}
			} else if gate.Targets, err = clusterTargets(kubeconfig, contexts, allContexts, timeout); err != nil {
				return err
			}
			res, err := verify.Gate(cmd.Context(), b, gate)
			if err != nil {
				return err
			}
			reports, worst := res.Reports, res.Code
			if err := writer.Write(cmd.OutOrStdout(), reports); err != nil {
				return err
			}
			if fileWriter != nil {
				var buf bytes.Buffer
				if err := fileWriter.Write(&buf, reports); err != nil {
					return err
				}
				if err := atomicfile.WriteFile(reportFile, buf.Bytes(), 0o644); err != nil {
					return err
				}
			}
			if evidenceDir != "" {
				if err := writeEvidence(evidenceDir, reports, b, source); err != nil {
					return err
				}
			}
			if attestKey != "" {
				if err := pushEvidence(cmd, c, attestKey, reports, b, source); err != nil {
					return err
				}
			}
			if worst != exitcode.OK {
				return exitcode.Wrap(worst, errSilent)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&bundleRef, "bundle", "", "bundle to verify: oci://REG/REPO:TAG, REG/REPO@sha256:..., or a directory")
	cmd.Flags().StringVar(&digest, "digest", "", "bundle digest GitOps tools must report (default: the pulled digest, or the directory's packed digest)")
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	cmd.Flags().StringArrayVar(&contexts, "context", nil, "kubeconfig context to verify (repeatable; default: the current context)")
	cmd.Flags().BoolVar(&allContexts, "all-contexts", false, "verify every context of the kubeconfig")
	cmd.Flags().StringVar(&fluxRef, "flux", "", "Flux OCIRepository and Kustomization NAMESPACE/NAME that sync the bundle")
	cmd.Flags().StringVar(&argoRef, "argocd", "", "Argo CD Application NAMESPACE/NAME that syncs the bundle")
	cmd.Flags().DurationVar(&wait, "wait", 0, "poll with backoff until converged or this long has passed")
	cmd.Flags().DurationVar(&timeout, "request-timeout", 15*time.Second, "timeout of each API request")
	cmd.Flags().StringVar(&reportFile, "report", "", "also write a report to this file")
	cmd.Flags().StringVar(&reportFormat, "report-format", "json", "format of --report: text, json, junit or sarif")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "show passing findings and API calls and bytes")
	cmd.Flags().BoolVar(&probe, "probe", false, "also send each enforcing control's deny and admit fixtures to admission as server-side dry runs (nothing is stored; needs the "+verify.ProbeRoleName+" role of "+verify.RoleFile+"); on by default with --evidence or --attest")
	cmd.Flags().BoolVar(&requireCompliant, "require-compliant", false, "fail (exit 1) when the policy engine's reports hold a failing result for a bundle policy (default: a warning)")
	cmd.Flags().StringVar(&evidenceDir, "evidence", "", "write each cluster's verification as in-toto statements (SLSA verification summary and Bulwark's per-control detail) to this directory")
	cmd.Flags().StringVar(&attestKey, "attest", "", "sign each cluster's verification with this cosign private key ($COSIGN_PASSWORD) and attach it to the bundle digest in the registry, as an OCI 1.1 referrer and in cosign's .att tag (cosign verify-attestation reads it)")
	cmd.Flags().StringVar(&inCluster, "in-cluster", "", "verify the cluster this pod runs in (its service account), named NAME in reports and evidence; see 'bulwark gitops verify-job'")
	cmd.Flags().StringVar(&verifyKey, "verify-key", "", "refuse the bundle (exit 1) unless signed with this cosign public key")
	outputFlag(cmd, &format, "text", output.Formats...)
	rf.register(cmd)
	_ = cmd.RegisterFlagCompletionFunc("context", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		raw, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(clientcmd.NewDefaultClientConfigLoadingRules(), nil).RawConfig()
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		var names []string
		for n := range raw.Contexts {
			names = append(names, n)
		}
		sort.Strings(names)
		return names, cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}

// clusterTargets resolves kubeconfig contexts to client configurations, kubectl's way.
func clusterTargets(kubeconfig string, contexts []string, all bool, timeout time.Duration) ([]verify.Target, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if kubeconfig != "" {
		rules.ExplicitPath = kubeconfig
	}
	raw, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).RawConfig()
	if err != nil {
		return nil, exitcode.AsBadInput(fmt.Errorf("reading kubeconfig: %w", err))
	}
	if all {
		contexts = nil
		for n := range raw.Contexts {
			contexts = append(contexts, n)
		}
		sort.Strings(contexts)
	}
	if len(contexts) == 0 {
		if raw.CurrentContext == "" {
			return nil, exitcode.AsBadInput(fmt.Errorf("the kubeconfig has no current context: pass --context or --kubeconfig"))
		}
		contexts = []string{raw.CurrentContext}
	}
	var targets []verify.Target
	for _, c := range contexts {
		if _, ok := raw.Contexts[c]; !ok {
			return nil, exitcode.AsBadInput(fmt.Errorf("kubeconfig has no context %q", c))
		}
		cfg, err := clientcmd.NewNonInteractiveClientConfig(raw, c, &clientcmd.ConfigOverrides{}, rules).ClientConfig()
		if err != nil {
			return nil, exitcode.AsBadInput(fmt.Errorf("context %s: %w", c, err))
		}
		cfg.Timeout = timeout
		cfg.QPS, cfg.Burst = 50, 100
		targets = append(targets, verify.Target{Name: c, Config: cfg})
	}
	return targets, nil
}

// writeEvidence writes each checked cluster's statements to dir, one file per statement,
// named by cluster and verification time so records accumulate and never overwrite.
func writeEvidence(dir string, reports []*verify.Report, b *bundle.Bundle, source string) error {
	uri := ""
	if repo, _, ok := strings.Cut(source, "@"); ok && strings.Contains(source, "@sha256:") {
		uri = "oci://" + repo
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return exitcode.AsEnvironment(fmt.Errorf("evidence directory: %w", err))
	}
	for _, r := range reports {
		if r.Error != "" {
			continue // not checked: nothing to record (the report says why)
		}
		st, err := evidence.New(r, b, evidence.Options{ResourceURI: uri, Version: currentVersion()})
		if err != nil {
			return exitcode.AsBadInput(err)
		}
		base := fmt.Sprintf("%s-%s", safeName(orDefault(r.Cluster, "cluster")), r.CheckedAt.UTC().Format("20060102T150405Z"))
		for suffix, stmt := range map[string]*ita1.Statement{"summary": st.Summary, "detail": st.Detail} {
			data, err := evidence.Marshal(stmt)
			if err != nil {
				return err
			}
			if err := atomicfile.WriteFile(filepath.Join(dir, base+"."+suffix+".intoto.json"), append(data, '\n'), 0o644); err != nil {
				return exitcode.AsEnvironment(err)
			}
		}
	}
	return nil
}

// pushEvidence signs each checked cluster's statements and attaches them to the pulled
// bundle's digest. The key is loaded first: a wrong password stops before any write.
func pushEvidence(cmd *cobra.Command, c *oci.Client, keyPath string, reports []*verify.Report, b *bundle.Bundle, source string) error {
	repo, dig, ok := strings.Cut(source, "@")
	if !ok || !strings.HasPrefix(dig, "sha256:") {
		return exitcode.AsBadInput(fmt.Errorf("--attest stores the record beside the bundle in its registry: verify a bundle from a registry, not the directory %s", source))
	}
	ref, err := c.ParseReference(source)
	if err != nil {
		return err
	}
	d, ok := ref.(name.Digest)
	if !ok {
		return exitcode.AsBadInput(fmt.Errorf("%s is not a digest reference", source))
	}
	signer, err := loadSigner(keyPath)
	if err != nil {
		return err
	}
	for _, r := range reports {
		if r.Error != "" {
			continue
		}
		st, err := evidence.New(r, b, evidence.Options{ResourceURI: "oci://" + repo, Version: currentVersion()})
		if err != nil {
			return exitcode.AsBadInput(err)
		}
		if err := evidence.Push(cmd.Context(), c, d, st, signer); err != nil {
			return err
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "attached the verification of %s to %s\n", orDefault(r.Cluster, "the cluster"), d)
	}
	return nil
}

// safeName keeps a kubeconfig context name usable as a file name.
func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == ':' || r < ' ' {
			return '_'
		}
		return r
	}, s)
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
