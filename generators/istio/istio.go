package istio

import (
	"fmt"

	securityv1beta1 "istio.io/api/security/v1beta1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"bulwark.dev/bulwark/api"
	"bulwark.dev/bulwark/catalogue"
	"bulwark.dev/bulwark/generators/generated"
	"bulwark.dev/bulwark/profile"
)

// MeshWideName is the name Istio gives mesh-wide meaning to, in the root namespace.
const MeshWideName = "default"

// Generate emits the mesh-wide PeerAuthentication when the profile runs Istio.
//
// The object is a pointer to the client-go type throughout: its spec embeds protobuf
// state that must not be copied, and only through a pointer does encoding/json reach the
// spec's own JSON marshaller, which writes the mode by name (STRICT), not number.
func Generate(p *profile.Profile, _ *catalogue.Catalogue) ([]generated.Object, error) {
	m := p.Spec.Mesh
	if m.Provider != profile.MeshIstio || !p.ControlEnabled(controlMeshMTLS) {
		return nil, nil
	}
	// The loader admits only STRICT; a profile built another way must not get a weaker
	// mode silently upgraded, or a stronger claim than it made.
	if m.MTLS != "" && m.MTLS != profile.MTLSStrict {
		return nil, fmt.Errorf("spec.mesh.mtls %q: TLS-01 realises only STRICT mTLS", m.MTLS)
	}
	if m.RootNamespace == "" {
		return nil, fmt.Errorf("spec.mesh.rootNamespace is empty: the mesh-wide PeerAuthentication has nowhere to go (load the profile to default it)")
	}
	pa := &securityv1.PeerAuthentication{
		TypeMeta:   metav1.TypeMeta{APIVersion: "security.istio.io/v1", Kind: "PeerAuthentication"},
		ObjectMeta: metav1.ObjectMeta{Name: MeshWideName, Namespace: m.RootNamespace},
	}
	// No selector: a selector would narrow it to some workloads and it would stop being
	// the mesh-wide policy.
	pa.Spec.Mtls = &securityv1beta1.PeerAuthentication_MutualTLS{Mode: securityv1beta1.PeerAuthentication_MutualTLS_STRICT}
	return []generated.Object{{Dir: api.DirMesh, Object: pa, Controls: []string{controlMeshMTLS}}}, nil
}

// controlMeshMTLS is the control the mesh-wide STRICT PeerAuthentication realises.
const controlMeshMTLS = "TLS-01"

// Realised lists the controls this generator realises; a catalogue test holds it to the
// catalogue's realisedBy.
func Realised() []string { return []string{controlMeshMTLS} }

// NotRealised returns the reason this generator emits nothing for an enabled TLS-01.
func NotRealised(p *profile.Profile) map[string]string {
	if p.ControlEnabled(controlMeshMTLS) && p.Spec.Mesh.Provider != profile.MeshIstio {
		return map[string]string{controlMeshMTLS: "no mesh: spec.mesh.provider is not istio"}
	}
	return nil
}
