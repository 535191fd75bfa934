#!/usr/bin/env bash
# Builds the pinned real servers that tests start, from the Go module proxy only, into a
# cache directory keyed by the hash of the tool module's go.mod and go.sum, so a warm run
# costs a hash and a stat. Usage: tools/build.sh MODULE_DIR CACHE_ROOT
# Prints the bin directory on stdout; progress goes to stderr.
set -euo pipefail

mod=${1:?module dir (e.g. tools/kube)}
root=${2:?cache root}
name=$(basename "$mod")
key=$(cat "$mod/go.mod" "$mod/go.sum" | sha256sum | cut -c1-16)
bin="$root/$name-$key"

if [ -f "$bin/.complete" ]; then
  echo "$bin"
  exit 0
fi

log() { echo "tools: $*" >&2; }
mkdir -p "$root"
# Test packages run in parallel and each may ask for the same cold tool: one builds, the
# others wait for it instead of building it again and swapping the directory under it.
if command -v flock >/dev/null; then
  exec 9>"$root/.$name-$key.lock"
  flock 9
  if [ -f "$bin/.complete" ]; then
    echo "$bin"
    exit 0
  fi
fi
start=$(date +%s)
tmp=$(mktemp -d "$root/.$name-XXXXXX")
trap 'rm -rf "$tmp"' EXIT

export CGO_ENABLED=0 GOFLAGS=-mod=mod
case "$name" in
kube)
  ver=$(awk '$1=="k8s.io/kubernetes"{print $2}' "$mod/go.mod")
  minor=$(echo "$ver" | cut -d. -f2)
  ld="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $p.gitVersion=$ver -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
  log "building kube-apiserver, kubectl and etcd $ver from the Go module proxy (cold: ~5 min on 2 cores)"
  (cd "$mod" && go build -trimpath -tags=notest,grpcnotrace -ldflags "$ld" -o "$tmp/" \
     k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl ./etcd)
  ;;
flux)
  # flux embeds its install manifests, which are generated in its release process and
  # absent from the module zip; artifact commands never read them, so a placeholder in a
  # scratch vendor tree satisfies the embed pattern.
  log "building the flux CLI from the Go module proxy (cold: ~2 min)"
  work="$tmp/src"
  mkdir -p "$work"
  cp "$mod/go.mod" "$mod/go.sum" "$mod/tools.go" "$work/"
  (cd "$work" && go mod vendor -e)
  mkdir -p "$work/vendor/github.com/fluxcd/flux2/v2/cmd/flux/manifests"
  echo "# placeholder" > "$work/vendor/github.com/fluxcd/flux2/v2/cmd/flux/manifests/placeholder.yaml"
  (cd "$work" && GOFLAGS=-mod=vendor go build -trimpath -ldflags "-s -w" -o "$tmp/flux" github.com/fluxcd/flux2/v2/cmd/flux)
  rm -rf "$work"
  ;;
kyverno)
  # One go build for the CLI and the controllers: they share almost every package, so the
  # controllers cost little beyond the CLI. Binaries: kyverno (the CLI, as before),
  # kyverno-admission-controller, kyverno-background-controller, kyverno-reports-controller.
  log "building the Kyverno CLI and its admission, background and reports controllers from the Go module proxy (cold: 15+ min on 2 cores, 44 min measured with four other tool builds on them; ~680 MB)"
  (cd "$mod" && go build -trimpath -ldflags "-s -w" -o "$tmp/" \
     github.com/kyverno/kyverno/cmd/cli/kubectl-kyverno github.com/kyverno/kyverno/cmd/kyverno \
     github.com/kyverno/kyverno/cmd/background-controller github.com/kyverno/kyverno/cmd/reports-controller)
  # go build names each binary after its package dir: cmd/kyverno is the admission controller.
  mv "$tmp/kyverno" "$tmp/kyverno-admission-controller"
  mv "$tmp/kubectl-kyverno" "$tmp/kyverno"
  mv "$tmp/background-controller" "$tmp/kyverno-background-controller"
  mv "$tmp/reports-controller" "$tmp/kyverno-reports-controller"
  # The controllers' CRDs, from the same module zip, so tests install exactly what they serve.
  src=$(cd "$mod" && go list -m -f '{{.Dir}}' github.com/kyverno/kyverno)
  cp -r "$src/config/crds" "$tmp/crds"
  chmod -R u+w "$tmp/crds"
  ;;
registry)
  log "building the CNCF Distribution and olareg registries from the Go module proxy (cold: ~1 min)"
  (cd "$mod" && go build -trimpath -ldflags "-s -w" -o "$tmp/registry" github.com/distribution/distribution/v3/cmd/registry)
  (cd "$mod" && go build -trimpath -ldflags "-s -w" -o "$tmp/olareg" github.com/olareg/olareg/cmd/olareg)
  ;;
kustomize)
  log "building Flux's kustomize-controller from the Go module proxy (cold: ~5 min)"
  (cd "$mod" && go build -trimpath -ldflags "-s -w" -o "$tmp/kustomize-controller" github.com/fluxcd/kustomize-controller)
  ;;
source)
  log "building Flux's source-controller from the Go module proxy (cold: ~7 min on 2 cores, ~100 MB)"
  (cd "$mod" && go build -trimpath -ldflags "-s -w" -o "$tmp/source-controller" github.com/fluxcd/source-controller)
  ;;
argokustomize)
  # The kustomize CLI Argo CD v3.6.1 ships (5.8.3), which its repo-server runs from PATH; it
  # needs Go 1.27, which the go command fetches from the module proxy as a toolchain module.
  log "building the kustomize CLI v5.8.3 for Argo CD's repo-server from the Go module proxy, with Go 1.27.3 (cold: ~3 min, ~8 min on a loaded machine)"
  (cd "$mod" && GOTOOLCHAIN=go1.27.3 go build -trimpath -ldflags "-s -w" -o "$tmp/kustomize" sigs.k8s.io/kustomize/kustomize/v5)
  ;;
lint)
  log "building staticcheck from the Go module proxy (cold: ~1 min)"
  (cd "$mod" && go build -trimpath -ldflags "-s -w" -o "$tmp/staticcheck" honnef.co/go/tools/cmd/staticcheck)
  ;;
*)
  log "building $name"
  (cd "$mod" && go build -trimpath -ldflags "-s -w" -o "$tmp/" ./...)
  ;;
esac

touch "$tmp/.complete"
rm -rf "$bin"
mv "$tmp" "$bin"
trap - EXIT
log "built $name into $bin in $(( $(date +%s) - start )) s"
echo "$bin"
