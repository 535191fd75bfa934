// Package istio realises TLS-01's mesh-wide STRICT mTLS as an Istio PeerAuthentication.
// The ValidatingPolicy that rejects weaker PeerAuthentications comes from the catalogue rule
// through the Kyverno generator.
//
// Only the mesh-wide object is emitted: a STRICT default in the root namespace already
// covers every namespace, and per-namespace copies would be more objects for the same
// guarantee. Namespaces that try to weaken it are TLS-01's ValidatingPolicy's business.
package istio
