// Package scope decides which namespaces a profile governs and which of those are in its
// sensitive tier. The decision is written once, here, in the two forms Bulwark needs: CEL
// for the admission policies the generators emit, and Go for verify, which judges the
// namespaces a cluster has today. One table of cases drives both (scope_test.go), so the
// policies and the verifier cannot disagree about a namespace.
//
// The rules: an excluded namespace is never in scope; otherwise a namespace is in scope when
// it is named in include or its labels match the selector. An in-scope namespace is in the
// sensitive tier when it is named in sensitiveInclude or its labels match sensitive.
package scope
