package generated

import (
	"bytes"
	"encoding/json"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"bulwark.dev/bulwark/profile"
)

// KubeObject is a typed API object: Kyverno, Istio, cert-manager and k8s.io/api types all
// satisfy it through their embedded TypeMeta and ObjectMeta.
type KubeObject interface {
	runtime.Object
	metav1.Object
}

// Object is one generated Kubernetes object and the controls it realises.
type Object struct {
	// Dir is the bundle directory the object is written under (api.DirKyverno, ...).
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

// PolicyName names a control's policy: unique per profile, a valid DNS label.
func PolicyName(p *profile.Profile, controlID string) string {
	return p.Metadata.Name + "-" + strings.ToLower(controlID)
}
