package main

import (
	"fmt"
	"io"
	"os"

	"bulwark.dev/bulwark/catalogue"
	"bulwark.dev/bulwark/internal/exitcode"
	"bulwark.dev/bulwark/profile"
)

// maxProfileBytes bounds what is read from stdin; files are bounded by the loader itself.
const maxProfileBytes = 1 << 20

// loadProfile reads a profile from a path or "-" (stdin) and validates it against the catalogue.
func loadProfile(path string, stdin io.Reader) (*profile.Profile, *catalogue.Catalogue, error) {
	if path == "" {
		return nil, nil, usageErrorf("a profile is required: -f PROFILE (or -f - for stdin)")
	}
	cat, err := catalogue.Load()
	if err != nil {
		return nil, nil, err
	}
	opts := profile.LoadOptions{KnownControls: cat.IDSet()}
	var p *profile.Profile
	if path == "-" {
		data, rerr := io.ReadAll(io.LimitReader(stdin, maxProfileBytes+1))
		if rerr != nil {
			return nil, nil, exitcode.AsBadInput(fmt.Errorf("reading profile from stdin: %w", rerr))
		}
		p, err = profile.LoadBytes("<stdin>", data, opts)
	} else {
		if _, serr := os.Stat(path); serr != nil {
			return nil, nil, exitcode.AsBadInput(fmt.Errorf("loading profile: %w", serr))
		}
		p, err = profile.Load(path, opts)
	}
	if err != nil {
		if _, ok := profile.AsErrorList(err); ok {
			return nil, nil, err
		}
		return nil, nil, exitcode.AsBadInput(err)
	}
	return p, cat, nil
}
