package generated

import (
	"encoding/json"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"bulwark.dev/bulwark/internal/canonyaml"
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

// Marshal renders a typed object as canonical YAML (internal/canonyaml: keys sorted, the
// bundle format's one form), without status or the null creationTimestamp that typed
// objects carry.
func Marshal(obj any) ([]byte, error) {
	raw, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	return canonyaml.FromJSON(raw, omitStatus, omitNullCreation)
}

var (
	omitStatus       = canonyaml.Omit{Path: []string{"status"}}
	omitNullCreation = canonyaml.Omit{Path: []string{"metadata", "creationTimestamp"}, IfNull: true}
)

// PolicyName names a control's policy: unique per profile, a valid DNS label.
func PolicyName(p *profile.Profile, controlID string) string {
	return p.Metadata.Name + "-" + strings.ToLower(controlID)
}
