//go:build tools

// Package tools pins the kustomize-controller this module builds.
package tools

import _ "github.com/fluxcd/kustomize-controller"
