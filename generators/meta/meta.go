// Package meta holds what every generator shares: the generated-object envelope and the
// labels and annotations that trace an object to its controls.
package meta

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Label and annotation keys carried by generated objects.
const (
	LabelManagedBy     = "app.kubernetes.io/managed-by"
	ManagedByValue     = "bulwark"
	LabelProfile       = "bulwark.dev/profile"
	LabelVersion       = "bulwark.dev/version"
	AnnotationControls = "bulwark.dev/controls"
	AnnotationTSC      = "bulwark.dev/tsc"
	AnnotationReason   = "bulwark.dev/reason"
	AnnotationTicket   = "bulwark.dev/ticket"
	AnnotationExpires  = "bulwark.dev/expires"
)

// Bundle directories, one per target.
const (
	DirKyverno = "kyverno"
	DirNetwork = "network"
	DirMesh    = "mesh"
	DirTLS     = "tls"
)

// KubeObject is a typed API object: Kyverno, Istio, cert-manager and k8s.io/api types all
// satisfy it through their embedded TypeMeta and ObjectMeta.
type KubeObject interface {
	runtime.Object
	metav1.Object
}

// Object is one generated Kubernetes object and the controls it realises.
type Object struct {
	// Dir is the bundle directory the object is written under (DirKyverno, ...).
	Dir string
	// Object is a typed API object with apiVersion and kind set, and status left empty.
	Object KubeObject
	// Controls are the control ids the object realises.
	Controls []string
}
