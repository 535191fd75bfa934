// Package examples ships the example profiles inside the binary, so `bulwark demo` runs
// on a fresh machine with nothing but the binary.
package examples

import "embed"

// Profiles holds examples/*.yaml (profiles and GitOps manifests), by file name.
//
//go:embed *.yaml
var Profiles embed.FS
