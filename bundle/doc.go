// Package bundle is the Bulwark bundle format: a tree of one YAML file per generated object
// under kyverno/, network/, mesh/ and tls/, the kustomization.yaml that lists them for the
// GitOps tools, and bulwark.yaml, the index that traces every object to its controls and
// carries everything verify needs to judge a cluster without the profile.
//
// Assemble writes a bundle from generated objects; ReadDir and FromFiles read one and refuse
// any tree the index does not account for exactly. Diff compares two bundles. The package
// knows nothing of registries or signatures: bundle/oci packs, pushes and pulls bundles, and
// bundle/signature signs and verifies them.
package bundle
