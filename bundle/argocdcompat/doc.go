// Package argocdcompat holds tests only: they prove with Argo CD v3.6.1's own code — its OCI
// client (util/oci), its repo-server's manifest generation (reposerver/repository) and its
// Application type (pkg/apis/application/v1alpha1) — that Argo CD reads the bundles Bulwark
// pushes and the Application `bulwark gitops argocd` prints.
//
// Argo CD v3.6.1 needs Go 1.27: run with GOTOOLCHAIN=go1.27.3 (see go.mod).
package argocdcompat
