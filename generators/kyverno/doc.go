// Package kyverno realises catalogue controls as Kyverno CEL policies (policies.kyverno.io/v1):
// a ValidatingPolicy per rule-bearing control, MutatingPolicies that label in-scope namespaces
// for Pod Security Admission and mesh enrolment, an ImageValidatingPolicy for signatures, and
// a PolicyException per profile exception, and the RBAC Kyverno's background controller
// needs to label namespaces that already exist.
package kyverno
