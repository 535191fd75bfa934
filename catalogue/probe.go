package catalogue

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
)

// ProbeLabel marks the Deployment a Pod fixture is wrapped in; its value is the fixture's name.
const ProbeLabel = "bulwark.dev/probe"

// ProbeObjects returns the objects `bulwark verify --probe` sends for the control: its
// probe deny and admit fixtures. A Pod fixture of a rule Kyverno extends to Pod controllers
// (Autogen) is sent as a Deployment whose pod template is the fixture's pod: the API
// server's Pod Security admission refuses a violating Pod before any webhook sees it, so a
// Pod probe would prove Pod Security Admission, not the control's policy, while on a
// Deployment Pod Security admission only warns. The Deployment carries what the catalogue's
// controls on Deployments ask for (two replicas, the pod's labels, health probes on
// containers without them), so that it breaks no control its pod does not break.
func (c *Control) ProbeObjects() (deny, admit *unstructured.Unstructured, err error) {
	if c.ProbeFixtures == nil {
		return nil, nil, fmt.Errorf("control %s names no probe fixtures", c.ID)
	}
	read := func(name string) (*unstructured.Unstructured, error) {
		data, err := Fixture(c.ID, name)
		if err != nil {
			return nil, err
		}
		obj := map[string]any{}
		if err := yaml.Unmarshal(data, &obj); err != nil {
			return nil, fmt.Errorf("fixture %s/%s: %w", c.ID, name, err)
		}
		u := &unstructured.Unstructured{Object: obj}
		if c.Rule != nil && c.Rule.Autogen && u.GetAPIVersion() == "v1" && u.GetKind() == "Pod" {
			u = wrapPod(u)
		}
		return u, nil
	}
	if deny, err = read(c.ProbeFixtures.Deny); err != nil {
		return nil, nil, err
	}
	if admit, err = read(c.ProbeFixtures.Admit); err != nil {
		return nil, nil, err
	}
	return deny, admit, nil
}

// wrapPod puts a Pod into a Deployment's template.
func wrapPod(pod *unstructured.Unstructured) *unstructured.Unstructured {
	name := pod.GetName()
	spec, _, _ := unstructured.NestedMap(pod.Object, "spec")
	if spec == nil {
		spec = map[string]any{}
	}
	containers, _, _ := unstructured.NestedSlice(spec, "containers")
	for i, ct := range containers {
		m, _ := ct.(map[string]any)
		if m == nil {
			continue
		}
		if _, ok := m["livenessProbe"]; !ok {
			m["livenessProbe"] = map[string]any{"httpGet": map[string]any{"path": "/healthz", "port": int64(8080)}}
		}
		if _, ok := m["readinessProbe"]; !ok {
			m["readinessProbe"] = map[string]any{"httpGet": map[string]any{"path": "/ready", "port": int64(8080)}}
		}
		containers[i] = m
	}
	if containers != nil {
		spec["containers"] = containers
	}
	podLabels := map[string]any{ProbeLabel: name}
	for k, v := range pod.GetLabels() {
		podLabels[k] = v
	}
	tmplMeta := map[string]any{"labels": podLabels}
	if a := pod.GetAnnotations(); len(a) > 0 {
		ann := map[string]any{}
		for k, v := range a {
			ann[k] = v
		}
		tmplMeta["annotations"] = ann
	}
	d := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1",
		"kind":       "Deployment",
		"metadata":   map[string]any{"name": name, "namespace": pod.GetNamespace()},
		"spec": map[string]any{
			"replicas": int64(2),
			"selector": map[string]any{"matchLabels": map[string]any{ProbeLabel: name}},
			"template": map[string]any{"metadata": tmplMeta, "spec": spec},
		},
	}}
	if l := pod.GetLabels(); len(l) > 0 {
		d.SetLabels(l)
	}
	return d
}
