package pipeline

import (
	"fmt"
	"io"
	"os"

	"bulwark.dev/bulwark/bundle"
	"bulwark.dev/bulwark/catalogue"
	"bulwark.dev/bulwark/generators"
	"bulwark.dev/bulwark/internal/exitcode"
	"bulwark.dev/bulwark/profile"
)

// DefaultVersion is the bundle version when none is given.
const DefaultVersion = generators.DefaultVersion

// maxStdinBytes bounds what is read from stdin; files are bounded by the profile loader.
const maxStdinBytes = 1 << 20

// Load reads a profile from a path, or from stdin when path is "-", and validates it against
// the catalogue. A profile's problems come back as a profile.ErrorList (exit 2).
func Load(path string, stdin io.Reader) (*profile.Profile, *catalogue.Catalogue, error) {
	if path == "-" {
		data, err := io.ReadAll(io.LimitReader(stdin, maxStdinBytes+1))
		if err != nil {
			return nil, nil, exitcode.AsBadInput(fmt.Errorf("reading profile from stdin: %w", err))
		}
		return LoadBytes("<stdin>", data)
	}
	cat, err := catalogue.Load()
	if err != nil {
		return nil, nil, err
	}
	if _, err := os.Stat(path); err != nil {
		return nil, nil, exitcode.AsBadInput(fmt.Errorf("loading profile: %w", err))
	}
	opts, err := loadOptions(cat)
	if err != nil {
		return nil, nil, err
	}
	p, err := profile.Load(path, opts)
	return p, cat, badInput(err)
}

// LoadBytes validates a profile held in memory; name is the file name its errors show.
func LoadBytes(name string, data []byte) (*profile.Profile, *catalogue.Catalogue, error) {
	cat, err := catalogue.Load()
	if err != nil {
		return nil, nil, err
	}
	opts, err := loadOptions(cat)
	if err != nil {
		return nil, nil, err
	}
	p, err := profile.LoadBytes(name, data, opts)
	return p, cat, badInput(err)
}

func badInput(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := profile.AsErrorList(err); ok {
		return err
	}
	return exitcode.AsBadInput(err)
}

// Build generates the bundle of a loaded profile at a version ("" is DefaultVersion).
func Build(p *profile.Profile, cat *catalogue.Catalogue, version string) (*bundle.Bundle, error) {
	return generators.Build(p, cat, version)
}

// BuildFile loads the profile at path (or "-" for stdin) and builds its bundle.
func BuildFile(path string, stdin io.Reader, version string) (*bundle.Bundle, error) {
	p, cat, err := Load(path, stdin)
	if err != nil {
		return nil, err
	}
	return Build(p, cat, version)
}

// BuildBytes loads a profile held in memory and builds its bundle.
func BuildBytes(name string, data []byte, version string) (*bundle.Bundle, error) {
	p, cat, err := LoadBytes(name, data)
	if err != nil {
		return nil, err
	}
	return Build(p, cat, version)
}
