//go:build tools

// Package tools pins the staticcheck this module builds.
package tools

import _ "honnef.co/go/tools/cmd/staticcheck"
