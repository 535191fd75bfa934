// Package gitops renders the manifests Flux and Argo CD need to sync a Bulwark bundle from
// an OCI registry. The types mirror the upstream APIs' fields that Bulwark sets, so the
// product does not depend on the GitOps tools' Go modules; tests validate the output against
// the upstream CRD schemas.
package gitops
