// Module crds pins the upstream releases whose CustomResourceDefinitions tests install into
// a real kube-apiserver. Nothing here is built: tools/crds/sync.sh reads these versions,
// fetches each module's zip from the Go module proxy (checked against go.sum and the
// checksum database) and copies the CRD files into internal/crds/. Do not run go mod tidy
// here: with no Go files it would drop every requirement.
module bulwark.dev/bulwark/tools/crds

go 1.26.0

require (
	github.com/argoproj/argo-cd/v3 v3.1.9
	github.com/cert-manager/cert-manager v1.21.2
	github.com/fluxcd/kustomize-controller v1.9.6
	github.com/fluxcd/source-controller v1.9.6
	github.com/kyverno/kyverno v1.19.1
	istio.io/api v1.31.4
)
