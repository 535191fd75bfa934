package main

import (
	"io"

	"bulwark.dev/bulwark/catalogue"
	"bulwark.dev/bulwark/pipeline"
	"bulwark.dev/bulwark/profile"
)

// loadProfile reads a profile from a path or "-" (stdin) and validates it against the catalogue.
func loadProfile(path string, stdin io.Reader) (*profile.Profile, *catalogue.Catalogue, error) {
	if path == "" {
		return nil, nil, usageErrorf("a profile is required: -f PROFILE (or -f - for stdin)")
	}
	return pipeline.Load(path, stdin)
}
