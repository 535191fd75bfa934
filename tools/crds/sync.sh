#!/usr/bin/env bash
# Copies the upstream CRDs that tests install into a real kube-apiserver into internal/crds/,
# from the Go module proxy's zips of the releases tools/crds/go.mod pins. The copies are
# committed (go:embed cannot reach other modules' files); rerun after changing a version:
# make crds (or go generate ./internal/crds).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
mod="$root/tools/crds"
out="$root/internal/crds"

# dir prints where the module proxy's zip of a pinned module is unpacked; go mod download
# checks it against go.sum (and records it there the first time).
dir() {
  local ver
  ver=$(awk -v m="$1" '$1 == m { print $2 }' "$mod/go.mod")
  [ -n "$ver" ] || { echo "sync.sh: $1 is not pinned in $mod/go.mod" >&2; exit 1; }
  (cd "$mod" && GOFLAGS=-mod=mod go mod download -json "$1@$ver") |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'
}

kyverno=$(dir github.com/kyverno/kyverno)
istio=$(dir istio.io/api)
certmanager=$(dir github.com/cert-manager/cert-manager)
source=$(dir github.com/fluxcd/source-controller)
kustomize=$(dir github.com/fluxcd/kustomize-controller)
argocd=$(dir github.com/argoproj/argo-cd/v3)

rm -rf "$out/kyverno" "$out/istio" "$out/certmanager" "$out/flux" "$out/argocd"
mkdir -p "$out/kyverno" "$out/istio" "$out/certmanager" "$out/flux" "$out/argocd"

# Only the kinds Bulwark emits, reads or hands to a GitOps tool: the files are large and
# every cluster test installs them.
for k in validatingpolicies mutatingpolicies generatingpolicies imagevalidatingpolicies policyexceptions; do
  install -m 0644 "$kyverno/config/crds/policies.kyverno.io/policies.kyverno.io_$k.yaml" "$out/kyverno/"
done
for k in certificates certificaterequests clusterissuers issuers; do
  install -m 0644 "$certmanager/deploy/crds/cert-manager.io_$k.yaml" "$out/certmanager/"
done
# source-controller starts a reconciler for every source kind, Helm's included, and exits
# when one of their CRDs is missing, so the e2e test that runs it needs them all.
for k in ocirepositories gitrepositories buckets externalartifacts helmrepositories helmcharts; do
  install -m 0644 "$source/config/crd/bases/source.toolkit.fluxcd.io_$k.yaml" "$out/flux/"
done
install -m 0644 "$kustomize/config/crd/bases/kustomize.toolkit.fluxcd.io_kustomizations.yaml" "$out/flux/"
install -m 0644 "$argocd/manifests/crds/application-crd.yaml" "$out/argocd/argoproj.io_applications.yaml"

# Istio ships every CRD in one stream; keep the security.istio.io group, one file per kind.
for k in authorizationpolicies peerauthentications requestauthentications; do
  awk -v want="$k.security.istio.io" '
    function flush() { if (doc ~ "\n  name: " want "\n") printf "%s", doc; doc = "" }
    /^---/ { flush(); next }
    { doc = doc $0 "\n" }
    END { flush() }
  ' "$istio/kubernetes/customresourcedefinitions.gen.yaml" > "$out/istio/security.istio.io_$k.yaml"
  [ -s "$out/istio/security.istio.io_$k.yaml" ] || { echo "sync.sh: no $k CRD in istio.io/api" >&2; exit 1; }
done
echo "synced CRDs into $out" >&2
