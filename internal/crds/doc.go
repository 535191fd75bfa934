// Package crds embeds the pinned upstream CustomResourceDefinitions that tests install into
// a real kube-apiserver: Kyverno's policies.kyverno.io, Istio's security.istio.io,
// cert-manager's cert-manager.io, Flux's source and kustomize toolkits, and Argo CD's
// Application. tools/crds/go.mod pins the releases; tools/crds/sync.sh copies the files
// from the Go module proxy's zips of them (make crds).
package crds
