// Package network realises NET-01..03: default-deny NetworkPolicies with the narrow
// allowances real clusters need. Namespaces named in the profile get static objects; for
// namespaces selected by label, a Kyverno GeneratingPolicy creates the same set in every
// matching namespace, now and later, and keeps it in sync.
package network
