package profile

import (
	_ "embed"
	"fmt"
)

//go:embed starter-soc2.yaml
var starterSOC2 []byte

// Starter returns a commented starter profile for the framework; it validates as is.
func Starter(framework string) ([]byte, error) {
	switch framework {
	case "", "soc2":
		return starterSOC2, nil
	}
	return nil, fmt.Errorf("no starter profile for framework %q (allowed: soc2)", framework)
}
