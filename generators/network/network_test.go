package network

import (
	"testing"

	"bulwark.dev/bulwark/generators/internal/golden"
	"bulwark.dev/bulwark/templates"
)

func TestGolden(t *testing.T) {
	cat, err := templates.Load()
	if err != nil {
		t.Fatal(err)
	}
	for name, p := range golden.Examples(t, cat.IDSet()) {
		t.Run(name, func(t *testing.T) {
			objs, err := Generate(p, cat)
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, name, objs)
		})
	}
}
