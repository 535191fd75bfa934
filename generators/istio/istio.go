// Package istio realises TLS-01's mesh-wide STRICT mTLS as an Istio PeerAuthentication.
// The ValidatingPolicy that rejects weaker PeerAuthentications comes from the catalogue rule
// through the Kyverno generator.
package istio

import (
	securityv1beta1 "istio.io/api/security/v1beta1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"bulwark.dev/bulwark/generators/meta"
	"bulwark.dev/bulwark/profile"
	"bulwark.dev/bulwark/templates"
)

// Generate emits the mesh-wide PeerAuthentication when the profile runs Istio.
func Generate(p *profile.Profile, _ *templates.Catalogue) ([]meta.Object, error) {
	if p.Spec.Mesh.Provider != profile.MeshIstio || !p.ControlEnabled("TLS-01") {
		return nil, nil
	}
	// A PeerAuthentication named "default" in the root namespace is mesh-wide.
	pa := &securityv1.PeerAuthentication{
		TypeMeta:   metav1.TypeMeta{APIVersion: "security.istio.io/v1", Kind: "PeerAuthentication"},
		ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: p.Spec.Mesh.RootNamespace},
	}
	pa.Spec.Mtls = &securityv1beta1.PeerAuthentication_MutualTLS{Mode: securityv1beta1.PeerAuthentication_MutualTLS_STRICT}
	return []meta.Object{{Dir: meta.DirMesh, Object: pa, Controls: []string{"TLS-01"}}}, nil
}
