//go:build tools

// Package tools pins the registries this module builds: CNCF Distribution, which serves no
// OCI 1.1 referrers API (clients fall back to the referrers tag schema), and olareg, which
// serves it.
package tools

import (
	_ "github.com/distribution/distribution/v3/cmd/registry"
	_ "github.com/olareg/olareg/cmd/olareg"
)
