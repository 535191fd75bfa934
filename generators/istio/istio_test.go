package istio

import (
	"testing"

	"bulwark.dev/bulwark/generators/internal/golden"
)

func TestGolden(t *testing.T) { golden.Run(t, Generate) }
