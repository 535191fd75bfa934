//go:build tools

// Package tools pins the Kyverno CLI, whose engine evaluates the generated policies, and the
// Kyverno controllers (admission, background, reports) that tests run as local processes
// against the test kube-apiserver; one module, one build, one cache.
package tools

import (
	_ "github.com/kyverno/kyverno/cmd/background-controller"
	_ "github.com/kyverno/kyverno/cmd/cli/kubectl-kyverno"
	_ "github.com/kyverno/kyverno/cmd/kyverno"
	_ "github.com/kyverno/kyverno/cmd/reports-controller"
)
