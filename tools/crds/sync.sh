#!/usr/bin/env bash
# Copies the pinned upstream CRDs that tests install into a real kube-apiserver into
# internal/crds/, from the Go module proxy's copies of the upstream modules. The copies are
# committed; rerun this after changing a version: go generate ./internal/crds
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/internal/crds"
dir() { go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'; }

kyverno=$(dir github.com/kyverno/kyverno@v1.19.1)
istio=$(dir istio.io/api@v1.31.4)
certmanager=$(dir github.com/cert-manager/cert-manager@v1.21.2)
source=$(dir github.com/fluxcd/source-controller@v1.9.6)
kustomize=$(dir github.com/fluxcd/kustomize-controller@v1.9.6)
argocd=$(dir github.com/argoproj/argo-cd/v3@v3.1.9)

rm -rf "$out/kyverno" "$out/istio" "$out/certmanager" "$out/flux" "$out/argocd"
mkdir -p "$out/kyverno" "$out/istio" "$out/certmanager" "$out/flux" "$out/argocd"
for k in ocirepositories gitrepositories buckets externalartifacts; do
  install -m 0644 "$source/config/crd/bases/source.toolkit.fluxcd.io_$k.yaml" "$out/flux/"
done
install -m 0644 "$kustomize/config/crd/bases/kustomize.toolkit.fluxcd.io_kustomizations.yaml" "$out/flux/"
install -m 0644 "$argocd/manifests/crds/application-crd.yaml" "$out/argocd/argoproj.io_applications.yaml"
for k in validatingpolicies mutatingpolicies generatingpolicies imagevalidatingpolicies policyexceptions; do
  install -m 0644 "$kyverno/config/crds/policies.kyverno.io/policies.kyverno.io_$k.yaml" "$out/kyverno/"
done
for k in certificates clusterissuers issuers; do
  install -m 0644 "$certmanager/deploy/crds/cert-manager.io_$k.yaml" "$out/certmanager/"
done
# Istio ships every CRD in one stream; keep the security ones Bulwark emits or checks.
awk -v want="peerauthentications.security.istio.io" '
  /^---/ { if (doc ~ "name: " want) printf "%s", doc; doc=""; next }
  { doc = doc $0 "\n" }
  END { if (doc ~ "name: " want) printf "%s", doc }
' "$istio/kubernetes/customresourcedefinitions.gen.yaml" > "$out/istio/security.istio.io_peerauthentications.yaml"
echo "synced CRDs into $out" >&2
