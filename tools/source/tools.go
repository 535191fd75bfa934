//go:build tools

// Package tools pins the source-controller this module builds.
package tools

import _ "github.com/fluxcd/source-controller"
