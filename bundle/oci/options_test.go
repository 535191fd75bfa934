package oci

import (
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"bulwark.dev/bulwark/internal/exitcode"
)

// TestNewRefusesContradictions: options that cannot mean anything are bad input, refused in
// New, not discovered halfway through a push.
func TestNewRefusesContradictions(t *testing.T) {
	for name, opts := range map[string][]Option{
		"a password without a user":    {WithBasicAuth("", "secret-pw")},
		"a retry schedule of no steps": {WithRetryBackoff(remote.Backoff{})},
	} {
		c, err := New(opts...)
		if c != nil || exitcode.Of(err, 0) != exitcode.BadInput {
			t.Errorf("%s: New = %v, %v; want exit 2", name, c, err)
		}
		if err != nil && strings.Contains(err.Error(), "secret-pw") {
			t.Errorf("%s: the error shows the password: %v", name, err)
		}
	}
	if _, err := New(WithBasicAuth("ci", ""), WithInsecure(true)); err != nil {
		t.Errorf("a user without a password (a token helper's shape) is refused: %v", err)
	}
}
