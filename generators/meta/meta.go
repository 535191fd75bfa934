// Package meta holds what every generator shares: the generated-object envelope and the
// labels and annotations that trace an object to its controls.
package meta

import (
	"bytes"
	"encoding/json"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"
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

// Marshal renders a typed object as YAML with sorted keys, without status or the null
// creationTimestamp that typed objects carry.
func Marshal(obj any) ([]byte, error) {
	raw, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	// UseNumber keeps integers exact through the round trip.
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	delete(m, "status")
	if md, ok := m["metadata"].(map[string]any); ok {
		if ts, ok := md["creationTimestamp"]; ok && ts == nil {
			delete(md, "creationTimestamp")
		}
	}
	return yaml.Marshal(m)
}
