//go:build tools

// Package tools pins the kustomize CLI (v5.8.3, what Argo CD v3.6.1 ships) that Argo CD's
// repo-server runs as "kustomize" from PATH when a source has a kustomization.yaml. It is a
// module of its own, not part of bundle/argocdcompat, because kustomize v5.8.3 needs
// kustomize/api v0.21.3 and Argo CD v3.6.1 is built against v0.21.1: one module graph would
// change the library Argo CD runs.
package tools

import _ "sigs.k8s.io/kustomize/kustomize/v5"
