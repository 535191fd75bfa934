package examples

import "embed"

// Profiles holds examples/*.yaml (profiles and GitOps manifests), by file name.
//
//go:embed *.yaml
var Profiles embed.FS
