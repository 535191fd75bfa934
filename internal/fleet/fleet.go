// Package fleet is the fleet-size profile the benchmarks and the pinned digests share: a
// platform team's 1,000 namespaces, with a mesh and an ingress namespace so that every
// generator emits objects per namespace. bench/fleet.sh writes the same profile in shell.
package fleet

import (
	"fmt"
	"strings"
)

// Profile is the profile naming n namespaces team-0000, team-0001, ...
func Profile(n int) []byte {
	var sb strings.Builder
	sb.WriteString("apiVersion: bulwark.dev/v1alpha1\nkind: Profile\nmetadata: {name: big}\nspec:\n  framework: soc2\n  mesh: {provider: istio}\n  network: {ingressNamespaces: [ingress-nginx]}\n  namespaces:\n    include:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, "      - team-%04d\n", i)
	}
	return []byte(sb.String())
}
